"""Settling in a query that keeps running: dead letters and late rows reach their topic and ledger
batch by batch, not only when the query stops (a live pipeline may run for weeks, and Spark forgets
a batch's offsets 100 batches later)."""

from __future__ import annotations

import json

from windowed_pipeline import SPEC, T0

from streamwise.config import Settings
from streamwise.pipeline import await_queries, parse_pipeline
from streamwise.pipeline.plan import Pipeline
from streamwise.platform.topics import create_topic
from streamwise.testing import produce_events, read_topic, wait_for


def test_a_running_query_settles_each_batch_as_it_goes(spark, settings: Settings, topic_name: str) -> None:
    """Setup: a windowed pipeline on a 1 s processing-time trigger, left running; one bad record,
    then an event that moves the watermark to 50 s, a record whose window ends at 10 s, and one more
    on-time event (the stream goes on).
    Invariant: while the query still runs, the bad record is in the DLQ with its reason, the late
    record is in the ledger, and the settled marker has reached a batch after both."""
    spec = parse_pipeline(SPEC.format(name=topic_name))
    create_topic(settings.kafka, topic_name, partitions=1)
    plan = Pipeline(spec, settings)
    (query,) = plan.start(spark)
    try:
        produce_events(settings, topic_name, [b"not json", {"page": "/a", "event_time": T0}])
        produce_events(settings, topic_name, [{"page": "/a", "event_time": T0 + 60_000}])
        # Spark judges a batch's rows against the previous batch's watermark: wait until a batch
        # ran with the watermark at 50 s, so the next record's window [0 s, 10 s) is behind it.
        wait_for(lambda: _watermark(query) == "2026-01-01T00:00:50.000Z", bound_s=300, what="the watermark at 50 s")
        produce_events(settings, topic_name, [{"page": "/late", "event_time": T0 + 1_000}])
        # A batch is settled by the next one (its progress, with the rows it dropped, is known by
        # then): the stream goes on with an on-time event once the late one has been dropped.
        wait_for(lambda: _dropped(query), bound_s=300, what="the late record dropped by the watermark")
        produce_events(settings, topic_name, [{"page": "/a", "event_time": T0 + 61_000}])
        letters = wait_for(lambda: read_topic(settings, plan.dlq_topic), bound_s=300, what="the dead letter")
        late = wait_for(lambda: _ledger_pages(spark, plan), bound_s=300, what="the ledgered record")
        assert query.isActive
    finally:
        query.stop()
    assert [(value, headers["dlq.reason"]) for value, headers in letters] == [
        (b"not json", "not valid JSON for the schema")
    ]
    assert late == ["/late"]
    marker = json.loads(plan.layout.settled_marker.read_text())
    assert marker["batch"] >= 2


def _ledger_pages(spark, plan: Pipeline) -> list[str] | None:
    # Delta makes _delta_log before it writes the table's first commit into it: until that commit
    # the table does not exist (DELTA_TABLE_NOT_FOUND), so wait for the commit, not the folder.
    if not any((plan.late_records_path / "_delta_log").glob("*.json")):
        return None
    return sorted(row.page for row in spark.read.format("delta").load(str(plan.late_records_path)).collect()) or None


def _watermark(query) -> str | None:
    progress = query.lastProgress
    return progress["eventTime"].get("watermark") if progress else None


def _dropped(query) -> bool:
    return any(op["numRowsDroppedByWatermark"] for p in query.recentProgress for op in p["stateOperators"])


def test_a_batch_the_checkpoint_forgot_is_skipped_with_a_warning(
    spark, settings: Settings, topic_name: str, caplog
) -> None:
    """Setup: two runs settle batches 0 (with a bad record) and 1; then the marker is moved back
    before batch 0 and its offsets file deleted, as Spark does 100 batches later, and the pipeline
    runs again on new events.
    Invariant: the run completes, the warning names batch 0, and the marker moves past it."""
    spec = parse_pipeline(SPEC.format(name=topic_name))
    create_topic(settings.kafka, topic_name, partitions=1)
    produce_events(settings, topic_name, [b"not json", {"page": "/a", "event_time": T0}])
    plan = Pipeline(spec, settings)
    await_queries(plan.start(spark, once=True))
    produce_events(settings, topic_name, [{"page": "/a", "event_time": T0 + 500}])
    await_queries(plan.start(spark, once=True))  # batch 1: Spark restarts from its offsets
    marker = json.loads(plan.layout.settled_marker.read_text())
    plan.layout.settled_marker.write_text(json.dumps({**marker, "batch": -1}))
    (plan.layout.main_checkpoint / "offsets" / "0").unlink()

    produce_events(settings, topic_name, [{"page": "/a", "event_time": T0 + 1_000}])
    with caplog.at_level("WARNING", logger="streamwise.pipeline.settle"):
        await_queries(Pipeline(spec, settings).start(spark, once=True))
    assert any("batch 0 can no longer be settled" in r.getMessage() for r in caplog.records), caplog.text
    assert json.loads(plan.layout.settled_marker.read_text())["batch"] >= 1
