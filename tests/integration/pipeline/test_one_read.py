"""One pipeline, one read: a pipeline with three sinks reads its topic once, and its sinks hold the
same windows; only a batch with dead letters is read again, to write them."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from streamwise.config import Settings
from streamwise.ingest.producer import EventProducer
from streamwise.pipeline import await_queries
from streamwise.pipeline.layout import PipelineLayout
from streamwise.pipeline.plan import Pipeline
from streamwise.pipeline.spec import EventTime, KafkaSource, PipelineSpec, WindowStep
from streamwise.platform.topics import create_topic
from streamwise.verify import readers

T0_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
EVENTS = 3_000
PER_BATCH = 700
BAD = 5  # records that are not JSON: dead letters


def test_three_sinks_cost_one_main_read_and_hold_the_same_windows(
    spark,
    settings: Settings,
    services,
    topic_name: str,
) -> None:
    """Setup: 3,000 clickstream-like events (one per 10 ms of event time, pages /p0../p4 in turn) and
    5 records that are not JSON, on 2 partitions; a pipeline counting views per page in 1-second
    windows (watermark 1 s) writes to Delta, PostgreSQL (keyed by window and page) and a Kafka topic;
    700 offsets per batch, run to completion with availableNow.
    Invariants: the pipeline starts exactly one query; over its progress events it read every record
    once (not once per sink); the 5 bad records are in the dead-letter topic, once each; the
    three sinks hold exactly the same (window, page, views) rows, equal to a pandas count of the
    windows the final watermark closed."""
    create_topic(settings.kafka, topic_name, partitions=2)
    create_topic(settings.kafka, f"{topic_name}.dlq", partitions=1)
    events = [{"page": f"/p{i % 5}", "event_time": T0_MS + i * 10} for i in range(EVENTS)]
    producer = EventProducer(settings.kafka, topic_name)
    producer.send_many(
        [(str(i).encode(), json.dumps(e).encode(), None) for i, e in enumerate(events)]
        + [(b"bad", b"{not json", None)] * BAD
    )
    producer.flush()
    records = EVENTS + BAD

    name = f"one_read_{topic_name}"
    spec = PipelineSpec(
        name=name,
        source=KafkaSource(topic=topic_name, schema="page STRING, event_time LONG", max_offsets_per_trigger=PER_BATCH),
        event_time=EventTime(watermark="1 second"),
        steps=[WindowStep(type="window", duration="1 second", by=["page"], aggregates={"views": "count(*)"})],
        sinks=[
            {"type": "delta", "path": f"{name}/views"},
            {"type": "postgres", "table": name, "key": ["window_start", "page"]},
            {"type": "kafka", "topic": f"{name}_views", "key": "page"},
        ],
    )
    plan = Pipeline(spec, settings)
    queries = plan.start(spark, once=True)
    await_queries(queries)

    layout = PipelineLayout(name, settings.state)
    assert [q.name for q in queries] == [layout.main_query]
    assert sum(p["numInputRows"] for p in queries[0].recentProgress) == records
    assert len(readers.topic_records(settings.kafka, f"{topic_name}.dlq")) == BAD

    frame = pd.DataFrame(events)
    frame["window_start"] = frame["event_time"] // 1000 * 1000
    final_watermark = frame["event_time"].max() - 1000
    closed = frame[frame["window_start"] + 1000 <= final_watermark]
    expected = sorted((int(w), p, int(n)) for (w, p), n in closed.groupby(["window_start", "page"]).size().items())

    columns = ["window_start", "page", "views"]
    delta = readers.delta_rows(plan.sink_path(spec.sinks[0]), columns)
    postgres = readers.postgres_rows(settings.postgres, name, columns)
    kafka = readers.json_rows(readers.topic_records(settings.kafka, f"{name}_views"), columns)
    assert rows(delta) == rows(postgres) == rows(kafka) == expected


def rows(frame: pd.DataFrame) -> list[tuple[int, str, int]]:
    """(window start in epoch ms, page, views), sorted."""
    times = pd.to_datetime(frame["window_start"], utc=True, format="ISO8601")
    starts = (times - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)
    return sorted(zip(starts.astype(int), frame["page"].astype(str), frame["views"].astype(int), strict=True))


def test_a_missing_source_topic_is_one_clear_error_and_the_dead_letter_topic_is_made(
    spark, settings: Settings, topic_name: str
) -> None:
    """Setup: a pipeline on a topic that does not exist; then the same topic created without its
    dead-letter topic, and the pipeline run once.
    Invariant: the first start raises PipelineError naming the topic and how to create it, and starts
    no query; the second creates ``<topic>.dlq`` (one partition) before the first dead letter needs it."""
    from streamwise.pipeline import PipelineError
    from streamwise.platform.topics import partition_count

    spec = PipelineSpec(
        name=f"missing_{topic_name}",
        source=KafkaSource(topic=topic_name, schema="page STRING, event_time LONG"),
        sinks=[{"type": "console"}],
    )
    with pytest.raises(PipelineError, match=f"reads topic '{topic_name}', which does not exist") as caught:
        Pipeline(spec, settings).start(spark, once=True)
    assert f"streamwise topics create {topic_name}" in caught.value.hint
    assert not [q for q in spark.streams.active if q.name.startswith(spec.name)]

    create_topic(settings.kafka, topic_name, partitions=1)
    await_queries(Pipeline(spec, settings).start(spark, once=True))
    assert partition_count(settings.kafka, f"{topic_name}.dlq") == 1
