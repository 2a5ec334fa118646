"""Spark DDL parsed by Spark: the JVM-free field names ``verify`` uses agree with Spark's parser, and a
JSON source with DECIMAL(p,s), MAP<…> and STRUCT<…> fields decodes end to end."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from cli_process import FIXTURES

from streamwise.pipeline import PipelineError, parse_pipeline
from streamwise.pipeline.ddl import field_names, spark_schema
from streamwise.testing import run_phases

CASES = json.loads((FIXTURES / "ddl_schemas.json").read_text())
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def test_field_names_agree_with_sparks_parser(spark) -> None:
    """Setup: every schema of tests/fixtures/ddl_schemas.json (nested types with commas, backticks,
    COMMENT strings with escaped quotes, SQL comments, legacy 'a: int' and 'struct<…>' forms), parsed
    by Spark (DataType.fromDDL in the session's JVM) and by ``field_names`` (no JVM).
    Invariant: for each valid schema both give exactly the fixture's names; every invalid one is
    refused by both (PipelineError from Spark's side, ValueError from ours)."""
    for ddl, names in CASES["valid"]:
        assert (spark_schema(ddl).fieldNames(), field_names(ddl)) == (names, names), ddl
    for ddl in CASES["invalid"]:
        with pytest.raises(PipelineError, match="source schema"):
            spark_schema(ddl)
        with pytest.raises(ValueError):
            field_names(ddl)


SPEC = """
name: {name}
source:
  topic: {name}
  schema: "event_id BIGINT, amount DECIMAL(10,2) COMMENT 'in EUR, 2 places', tags MAP<STRING,INT>,
           loc STRUCT<lat: DOUBLE, lon: DOUBLE>, `device-id` STRING, event_time LONG"
  required: [amount]
sinks:
  - type: delta
    path: "{name}/decoded"
"""


def as_dict(value: object) -> dict:
    """A map or struct value as pandas hands it back (dict, Row or list of pairs)."""
    return value.asDict() if hasattr(value, "asDict") else dict(value)  # type: ignore[call-overload]


def test_decimal_map_and_struct_fields_decode_end_to_end(spark, settings, topic_name) -> None:
    """Setup: a pass-through pipeline over a JSON topic whose schema has DECIMAL(10,2) (with a COMMENT
    holding a comma), MAP<STRING,INT>, STRUCT<lat, lon> and a backticked name; four records: two
    good ones, one without the required amount, one whose amount is not a number.
    Invariant: the Delta sink holds the first two with exactly the sent values (amount as a 2-place
    decimal, the map and the struct whole, the backticked field by its name); the other two are dead
    letters: 'missing or mistyped field 'amount'' and (a mistyped value fails the whole record)
    'not valid JSON for the schema'."""
    spec = parse_pipeline(SPEC.format(name=topic_name))
    events = [
        {
            "event_id": 1,
            "amount": 12.34,
            "tags": {"a": 1, "b": 2},
            "loc": {"lat": 52.5, "lon": 13.4},
            "device-id": "d1",
            "event_time": T0,
        },
        {"event_id": 2, "amount": 0.5, "tags": {}, "loc": {"lat": -1.25}, "device-id": None, "event_time": T0 + 1000},
        {"event_id": 3, "tags": {"c": 3}, "loc": {"lat": 0.0, "lon": 0.0}, "device-id": "d3", "event_time": T0 + 2000},
        {"event_id": 4, "amount": "lots", "tags": {}, "loc": {}, "device-id": "d4", "event_time": T0 + 3000},
    ]
    run = run_phases(spark, settings, spec, [events])

    rows = run.sinks[f"{topic_name}/decoded"].sort_values("event_id")
    assert {"event_id", "amount", "tags", "loc", "device-id", "event_time"} <= set(rows.columns), list(rows.columns)
    decoded = [
        (r["event_id"], r["amount"], as_dict(r["tags"]), as_dict(r["loc"]), r["device-id"]) for _, r in rows.iterrows()
    ]
    assert decoded == [
        (1, Decimal("12.34"), {"a": 1, "b": 2}, {"lat": 52.5, "lon": 13.4}, "d1"),
        (2, Decimal("0.50"), {}, {"lat": -1.25, "lon": None}, None),
    ]
    assert [(json.loads(value)["event_id"], headers["dlq.reason"]) for value, headers in run.dead_letters] == [
        (3, "missing or mistyped field 'amount'"),
        (4, "not valid JSON for the schema"),
    ]
