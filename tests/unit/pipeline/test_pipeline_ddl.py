"""A JSON source's Spark DDL read without a JVM: its top-level field names, for ``verify``. The same
schemas are checked against Spark's own parser in tests/integration/pipeline/test_pipeline_ddl_decoding.py."""

from __future__ import annotations

import json

import pytest
from cli_process import FIXTURES

from streamwise.pipeline import parse_pipeline
from streamwise.pipeline.ddl import field_names
from streamwise.verify import VerifyError, shape_of

CASES = json.loads((FIXTURES / "ddl_schemas.json").read_text())


@pytest.mark.parametrize(("ddl", "names"), CASES["valid"])
def test_top_level_names_as_spark_reads_them(ddl: str, names: list[str]) -> None:
    """Setup: schemas with commas inside DECIMAL(p,s), MAP<>, STRUCT<>, backticked names, COMMENT
    strings with escaped quotes and SQL comments; the legacy 'a: int' and 'struct<...>' forms.
    Invariant: exactly the top-level names Spark gives (tests/fixtures/ddl_schemas.json)."""
    assert field_names(ddl) == names


@pytest.mark.parametrize("ddl", CASES["invalid"])
def test_schemas_spark_rejects_are_rejected(ddl: str) -> None:
    """Setup: a trailing or leading comma, a field without a type, unclosed brackets, backticks,
    quotes and comments, and single types that are not a list of fields.
    Invariant: ValueError, never a made-up list of names."""
    with pytest.raises(ValueError, match=r"^schema "):
        field_names(ddl)


def test_verify_finds_the_event_id_only_at_the_top_level() -> None:
    """Setup: pass-through pipelines whose schemas have DECIMAL(10,2), MAP<STRING,INT> and STRUCT<...>
    fields: one with a backticked `event_id`; one with event_id only inside a STRUCT and in a COMMENT
    (splitting on commas took both for top-level fields, and refused the backticked one); one with an
    unclosed bracket.
    Invariant: the first is checked per event; the second is refused for its missing event_id; the
    third is refused as invalid DDL, naming the pipeline."""
    base = 'name: p\nsinks: [{type: delta, path: p/out}]\nsource: {topic: t, schema: "%s"}\n'
    schema = "amount DECIMAL(10,2), tags MAP<STRING,INT>, loc STRUCT<lat: DOUBLE, lon: DOUBLE>, `event_id` BIGINT, event_time LONG"
    assert shape_of(parse_pipeline(base % schema)).rule == "pass-through"
    nested = "id BIGINT COMMENT 'x, event_id y', loc STRUCT<lat: DOUBLE, event_id BIGINT>, event_time LONG"
    with pytest.raises(VerifyError, match="no event_id column"):
        shape_of(parse_pipeline(base % nested))
    with pytest.raises(
        VerifyError, match=r"^pipeline p: source.schema is not valid Spark DDL: schema .* 1 bracket\(s\) never closed"
    ):
        shape_of(parse_pipeline(base % "event_id BIGINT, amount DECIMAL(10,2, event_time LONG"))
