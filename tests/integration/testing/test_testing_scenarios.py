"""streamwise.testing's scripted scenarios, used the way a user would test their own pipeline."""

from __future__ import annotations

import pytest
from pyspark.errors import AnalysisException

from streamwise.pipeline import parse_pipeline
from streamwise.pipeline.plan import Pipeline
from streamwise.testing import run_phases, sink_rows

SPEC = """
name: {name}
source:
  topic: {name}
  schema: "order_id STRING, amount DOUBLE, event_time LONG"
  required: [order_id, amount]
event_time:
  watermark: 10 seconds
steps:
  - type: deduplicate
    keys: [order_id]
  - type: window
    duration: 1 minute
    aggregates:
      orders: count(*)
      revenue: round(sum(amount), 2)
sinks:
  - type: delta
    path: "{name}/revenue"
"""
T0 = 1_767_225_600_000


def order(order_id: str, amount: float, second: int) -> dict:
    return {"order_id": order_id, "amount": amount, "event_time": T0 + second * 1000}


def test_duplicate_late_and_bad_records_across_a_restart(spark, settings, topic_name) -> None:
    """Setup: phase 1 has a redelivered order and a malformed record; after a restart, phase 2 has an
    order at 5 s while the watermark stands at 65 s (75 s - 10 s), and events that close the minutes.
    Invariant: revenue per minute counts each order once, the late order is in the ledger with
    lateness 60 s, and the malformed record is a dead letter."""
    spec = parse_pipeline(SPEC.format(name=topic_name))
    phase_1 = [order("o1", 10.0, 5), order("o2", 20.5, 30), order("o1", 10.0, 31), b"not json", order("o3", 5.25, 75)]
    phase_2 = [order("o4", 99.0, 5), order("o5", 1.0, 80), order("o6", 2.0, 130)]
    run = run_phases(spark, settings, spec, [phase_1, phase_2], key="order_id")

    revenue = run.sinks[f"{topic_name}/revenue"].sort_values("window_start")
    assert revenue[["orders", "revenue"]].values.tolist() == [[2, 30.5], [2, 6.25]]
    assert run.late_records[["order_id", "lateness_ms"]].values.tolist() == [["o4", 60_000]]
    assert [(value, headers["dlq.reason"]) for value, headers in run.dead_letters] == [
        (b"not json", "not valid JSON for the schema")
    ]


EVERY_SINK = """
name: {name}
source:
  topic: {name}
  schema: "order_id STRING, amount DOUBLE, event_time LONG"
  required: [order_id, amount]
steps:
  - type: with_columns
    columns:
      big: amount >= 10
sinks:
  - type: delta
    path: "{name}/orders"
  - type: postgres
    table: {name}
    key: [order_id]
  - type: redis
    key: "{name}:{{order_id}}"
    fields: [amount]
  - type: redis
    structure: sorted_set
    key: "{name}:top"
    member: order_id
    score: amount
  - type: kafka_alerts
    topic: {name}_alerts
    key: order_id
  - type: console
"""


def test_run_phases_reads_back_every_sink_by_where_it_writes(spark, settings, services, topic_name) -> None:
    """Setup: three orders through a stateless pipeline into Delta, PostgreSQL, a Redis hash per
    order, a Redis sorted set, Kafka alerts and the console. Invariant: `run.sinks` holds each of the
    first five by its location with exactly the orders sent (the console keeps nothing to read);
    a location no sink writes to is a KeyError naming those there are."""
    spec = parse_pipeline(EVERY_SINK.format(name=topic_name))
    orders = [order("o1", 10.0, 1), order("o2", 2.5, 2), order("o3", 40.0, 3)]
    run = run_phases(spark, settings, spec, [orders], key="order_id")

    expected = {(o["order_id"], o["amount"], o["amount"] >= 10) for o in orders}
    assert set(run.sinks) == {
        f"{topic_name}/orders",
        topic_name,
        f"{topic_name}:{{order_id}}",
        f"{topic_name}:top",
        f"{topic_name}_alerts",
    }
    for location in (f"{topic_name}/orders", topic_name, f"{topic_name}_alerts"):
        rows = run.sinks[location]
        assert set(zip(rows["order_id"], rows["amount"], rows["big"], strict=True)) == expected, location
    hashes = run.sinks[f"{topic_name}:{{order_id}}"]
    assert sorted(zip(hashes["order_id"], hashes["amount"].astype(float), strict=True)) == [
        ("o1", 10.0),
        ("o2", 2.5),
        ("o3", 40.0),
    ]
    top = run.sinks[f"{topic_name}:top"]
    assert list(zip(top["member"], top["score"], strict=True)) == [("o3", 40.0), ("o1", 10.0), ("o2", 2.5)]
    with pytest.raises(KeyError, match=f"no sink writes to '{topic_name}/order'; this pipeline's sinks write to: "):
        run.sinks[f"{topic_name}/order"]


def test_a_folder_that_is_not_a_delta_table_is_an_error(spark, settings, topic_name) -> None:
    """Setup: a Delta sink's folder holds a stray file and no Delta log. Invariant: reading it back
    fails with Spark's reason instead of answering an empty table."""
    spec = parse_pipeline(SPEC.format(name=topic_name))
    plan = Pipeline(spec, settings)
    folder = plan.sink_path(spec.sinks[0])
    folder.mkdir(parents=True)
    (folder / "stray.txt").write_text("not a table")
    with pytest.raises(AnalysisException, match="DELTA_TABLE_NOT_FOUND|DELTA_MISSING_DELTA_TABLE"):
        sink_rows(spark, plan, spec.sinks[0])
