"""streamwise.testing's scripted scenarios, used the way a user would test their own pipeline."""

from __future__ import annotations

from streamwise.pipeline import parse_pipeline
from streamwise.testing import run_phases

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
