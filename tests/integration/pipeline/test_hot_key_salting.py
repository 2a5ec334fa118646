"""Hot keys: a window step with ``salt`` (two chained aggregations) and a source read with
``min_partitions`` give exactly the rows of the plain pipeline and of pandas, on a topic where one
user sends half the events."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pandas as pd
import pytest

from streamwise.config import Settings
from streamwise.ingest.producer import EventProducer
from streamwise.ingest.scenario import create
from streamwise.pipeline import await_queries, parse_pipeline
from streamwise.pipeline.plan import Pipeline
from streamwise.pipeline.spec import RepartitionStep
from streamwise.platform.topics import create_topic
from streamwise.testing import run_batch

T0 = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000)
EVENTS = 12_000
STEP_MS = 5  # event i happens at T0 + 5 ms * i: 60 s of events, six 10 s windows
WINDOW_MS, WATERMARK_MS = 10_000, 2_000
AGGREGATES = {
    "views": "count(*)",
    "page_sum": "sum(page_no)",
    "first_page": "min(page_no)",
    "last_page": "max(page)",
    "mean_page": "avg(page_no)",
}

SPEC = """\
name: {name}
source:
  topic: {topic}
  schema: "user_id STRING, page STRING, event_time LONG"
{source_extra}
event_time:
  watermark: 2 seconds
steps:
  - type: with_columns
    columns:
      page_no: "CAST(substring(page, 7) AS INT)"
  - type: window
    duration: 10 seconds
    by: [user_id]
{salt}
    aggregates: {aggregates}
sinks:
  - type: delta
    path: {topic}/{table}
"""


def spec_for(topic: str, name: str, *, salt: int | None = None, min_partitions: int | None = None) -> Pipeline:
    text = SPEC.format(
        name=f"{name}_{topic}",  # names the checkpoint: one per test run
        topic=topic,
        source_extra=f"  min_partitions: {min_partitions}" if min_partitions else "",
        salt=f"    salt: {salt}" if salt else "",
        aggregates=json.dumps(AGGREGATES),
        table=name,
    )
    return parse_pipeline(text)


@pytest.fixture
def skewed_events(settings: Settings, topic_name: str) -> pd.DataFrame:
    """The clickstream generator with half its views by u0, in 3 partitions keyed by user, event
    times 5 ms apart; then one event 30 s later that closes every window of the run."""
    create_topic(settings.kafka, topic_name, partitions=3)
    create_topic(settings.kafka, f"{topic_name}.dlq", partitions=1)
    batch = create("clickstream", seed=11, hot_key_share=0.5).batch(EVENTS, T0)
    frame = pd.DataFrame(
        {
            "user_id": batch.data.column("user_id").to_pylist(),
            "page": batch.data.column("page").to_pylist(),
            "event_time": [T0 + STEP_MS * i for i in range(EVENTS)],
        }
    )
    closing = {"user_id": "u1", "page": "/page/0", "event_time": T0 + STEP_MS * EVENTS + 30_000}
    frame = pd.concat([frame, pd.DataFrame([closing])], ignore_index=True)
    producer = EventProducer(settings.kafka, topic_name)
    records = frame.to_dict("records")
    # Kafka timestamps are the send time: records stamped months ago would fall to the topic's retention.
    producer.send([json.dumps(r).encode() for r in records], [r["user_id"].encode() for r in records])
    producer.flush()
    return frame


def expected_windows(frame: pd.DataFrame) -> pd.DataFrame:
    """pandas over the same input: 10 s tumbling windows per user that the final watermark (the
    latest event time - 2 s) has closed; no event is behind the watermark (event times only grow)."""
    frame = frame.assign(
        window_start=frame.event_time // WINDOW_MS * WINDOW_MS, page_no=frame.page.str[6:].astype("int64")
    )
    closed = frame[frame.window_start + WINDOW_MS <= frame.event_time.max() - WATERMARK_MS]
    grouped = closed.groupby(["window_start", "user_id"])
    out = pd.DataFrame(
        {
            "views": grouped.size(),
            "page_sum": grouped.page_no.sum(),
            "first_page": grouped.page_no.min(),
            "last_page": grouped.page.max(),
            "mean_page": grouped.page_no.sum() / grouped.size(),
        }
    ).reset_index()
    return out.sort_values(["window_start", "user_id"]).reset_index(drop=True)


def delta_rows(spark, pipeline: Pipeline) -> pd.DataFrame:
    frame = spark.read.format("delta").load(str(pipeline.sink_path(pipeline.spec.sinks[0]))).toPandas()
    frame["window_start"] = pd.to_datetime(frame["window_start"], utc=True).astype("int64") // 1_000_000
    columns = ["window_start", "user_id", *AGGREGATES]
    return frame[columns].sort_values(["window_start", "user_id"]).reset_index(drop=True)


def test_salted_window_and_split_partitions_give_the_plain_rows(
    spark, settings: Settings, topic_name: str, skewed_events: pd.DataFrame
) -> None:
    """Setup: 12,001 clickstream views, half of them by u0, in 3 partitions; the same windowed
    pipeline (count, sum, min, max, avg per user and 10 s window) runs with availableNow twice on
    the topic, at the same time: plain, and with ``salt: 4`` on the window and ``min_partitions: 6``
    on the source (u0's partition read by several tasks, its rows aggregated in 4 buckets first).
    Invariant: both write exactly the rows pandas computes over the same events, with the same
    column types; u0's windows hold about half the views."""
    plain = Pipeline(spec_for(topic_name, "plain"), settings)
    salted = Pipeline(spec_for(topic_name, "salted", salt=4, min_partitions=6), settings)
    await_queries([q for p in (plain, salted) for q in p.start(spark, once=True)])

    expected = expected_windows(skewed_events)
    assert len(expected.window_start.unique()) == 6
    for pipeline in (plain, salted):
        pd.testing.assert_frame_equal(delta_rows(spark, pipeline), expected, check_dtype=False, obj=pipeline.spec.name)
    schemas = [spark.read.format("delta").load(str(p.sink_path(p.spec.sinks[0]))).schema for p in (plain, salted)]
    assert schemas[0] == schemas[1]
    hot = expected[expected.user_id == "u0"].views.sum()
    assert 0.45 < hot / expected.views.sum() < 0.55


def test_repartitioned_and_salted_batch_gives_the_pandas_rows(spark, topic_name: str) -> None:
    """Setup: 3,000 of the skewed views run as one batch (no broker: ``run_batch``) through a
    ``repartition`` step (3 tasks, by user_id split over 4 salt buckets) and the salted window.
    Invariant: a batch has no watermark, so every window is emitted: exactly pandas' rows over all
    of them, with the salt column gone."""
    batch = create("clickstream", seed=5, hot_key_share=0.5).batch(3_000, T0)
    frame = pd.DataFrame(
        {
            "user_id": batch.data.column("user_id").to_pylist(),
            "page": batch.data.column("page").to_pylist(),
            "event_time": [T0 + 20 * i for i in range(3_000)],
        }
    )
    spec = spec_for(topic_name, "batch", salt=4)
    spec = spec.model_copy(
        update={
            "steps": [
                RepartitionStep(type="repartition", partitions=3, by=["user_id"], salt=4),
                *spec.steps,
            ]
        }
    )
    out = run_batch(spark, spec, frame.to_dict("records")).rows
    assert list(out.columns) == ["window_start", "window_end", "user_id", *AGGREGATES]
    out["window_start"] = pd.to_datetime(out["window_start"], utc=True).astype("int64") // 1_000_000
    got = out[["window_start", "user_id", *AGGREGATES]].sort_values(["window_start", "user_id"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, _all_windows(frame), check_dtype=False)


def _all_windows(frame: pd.DataFrame) -> pd.DataFrame:
    """pandas' rows for every window of ``frame`` (a batch closes them all): the model's, with one
    event far enough ahead to close every window, and that event's own window left out."""
    later = pd.DataFrame([{"user_id": "_", "page": "/page/0", "event_time": frame.event_time.max() + 3 * WINDOW_MS}])
    rows = expected_windows(pd.concat([frame, later], ignore_index=True))
    return rows[rows.user_id != "_"].reset_index(drop=True)
