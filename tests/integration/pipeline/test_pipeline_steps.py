"""Each step on known input with an exact expected output (batch DataFrames through the same functions
the streaming plan applies)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from streamwise.ingest.producer import EventProducer
from streamwise.pipeline import await_queries, steps
from streamwise.pipeline.plan import Pipeline
from streamwise.pipeline.spec import (
    DeduplicateStep,
    FilterStep,
    KafkaSource,
    PipelineSpec,
    SelectStep,
    SqlStep,
    WindowStep,
    WithColumnsStep,
)
from streamwise.sinks import DeltaSink

# Naive datetimes: Spark hands timestamps back in the driver's local time, and takes them the same way.
T0 = datetime(2026, 1, 1)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def events(spark):
    rows = [
        ("u1", "/a", at(1)),
        ("u1", "/a", at(4)),
        ("u2", "/b", at(6)),
        ("u1", "/b", at(30)),
        ("u2", "/a", at(31)),
        ("u1", "/a", at(33)),
        ("u2", "/a", at(50)),
    ]
    return spark.createDataFrame(rows, "user_id STRING, page STRING, event_time TIMESTAMP")


def rows(df, *cols: str) -> list[tuple]:
    return sorted(tuple(r[c] for c in cols) for r in df.collect())


def test_filter_select_with_columns_sql(events) -> None:
    filtered = steps.apply(events, FilterStep(type="filter", where="page = '/a' AND user_id = 'u1'"))
    assert rows(filtered, "event_time") == [(at(1),), (at(4),), (at(33),)]
    selected = steps.apply(events, SelectStep(type="select", columns={"who": "upper(user_id)", "p": "page"}))
    assert selected.columns == ["who", "p"] and ("U2", "/b") in rows(selected, "who", "p")
    widened = steps.apply(events, WithColumnsStep(type="with_columns", columns={"second": "second(event_time)"}))
    assert rows(widened, "second") == [(1,), (4,), (6,), (30,), (31,), (33,), (50,)]
    counted = steps.apply(events, SqlStep(type="sql", query="SELECT page, count(*) AS n FROM {input} GROUP BY page"))
    assert rows(counted, "page", "n") == [("/a", 5), ("/b", 2)]


def test_tumbling_and_sliding_windows(events) -> None:
    tumbling = steps.apply(
        events, WindowStep(type="window", duration="10 seconds", by=["page"], aggregates={"views": "count(*)"})
    )
    assert rows(tumbling, "window_start", "page", "views") == [
        (at(0), "/a", 2),
        (at(0), "/b", 1),
        (at(30), "/a", 2),
        (at(30), "/b", 1),
        (at(50), "/a", 1),
    ]
    sliding = steps.apply(
        events,
        WindowStep(
            type="window", kind="sliding", duration="10 seconds", slide="5 seconds", aggregates={"views": "count(*)"}
        ),
    )
    assert rows(sliding, "window_start", "window_end", "views") == [
        (at(-5), at(5), 2),
        (at(0), at(10), 3),
        (at(5), at(15), 1),
        (at(25), at(35), 3),
        (at(30), at(40), 3),
        (at(45), at(55), 1),
        (at(50), at(60), 1),
    ]


def test_session_window_boundaries(events) -> None:
    """Invariant: a session closes after `gap` of inactivity; an event exactly at start+gap starts a
    new one (u1: 1 s and 4 s together, 30 s and 33 s together; u2: 6 s, 31 s, 50 s each alone)."""
    sessions = steps.apply(
        events,
        WindowStep(
            type="window",
            kind="session",
            gap="5 seconds",
            by=["user_id"],
            aggregates={"views": "count(*)", "pages": "collect_set(page)"},
        ),
    )
    assert rows(sessions, "user_id", "window_start", "window_end", "views") == [
        ("u1", at(1), at(9), 2),
        ("u1", at(30), at(38), 2),
        ("u2", at(6), at(11), 1),
        ("u2", at(31), at(36), 1),
        ("u2", at(50), at(55), 1),
    ]


def test_deduplicate_keeps_first_of_each_key(spark) -> None:
    rows_in = [("e1", at(1)), ("e2", at(2)), ("e1", at(3)), ("e3", at(4)), ("e2", at(9))]
    df = spark.createDataFrame(rows_in, "event_id STRING, event_time TIMESTAMP")
    deduped = steps.apply(df, DeduplicateStep(type="deduplicate", keys=["event_id"]))
    assert sorted(r.event_id for r in deduped.collect()) == ["e1", "e2", "e3"]


def test_streaming_deduplicate_within_watermark(spark, settings, topic_name) -> None:
    """Setup: a pipeline built in Python (dedup on event_id, 10 s watermark) over a topic holding
    e1, e2, e1 (redelivered 2 s later), e3, e2 (redelivered 4 s later).
    Invariant: the Delta sink holds each event id exactly once, with its first event time."""
    from streamwise.platform.topics import create_topic

    create_topic(settings.kafka, topic_name, partitions=1)
    create_topic(settings.kafka, f"{topic_name}.dlq", partitions=1)
    base = int(T0.timestamp() * 1000)
    sent = [("e1", 1), ("e2", 2), ("e1", 3), ("e3", 4), ("e2", 6)]
    producer = EventProducer(settings.kafka, topic_name)
    producer.send_many(
        (None, json.dumps({"event_id": e, "event_time": base + s * 1000}).encode(), None) for e, s in sent
    )
    producer.flush()
    spec = PipelineSpec(
        name=topic_name,
        source=KafkaSource(topic=topic_name, schema="event_id STRING, event_time LONG", required=["event_id"]),
        steps=[DeduplicateStep(type="deduplicate", keys=["event_id"])],
        sinks=[DeltaSink(type="delta", path=f"{topic_name}/unique")],
    )
    plan = Pipeline(spec, settings)
    await_queries(plan.start(spark, once=True))
    out = spark.read.format("delta").load(str(plan.sink_path(spec.sinks[0])))
    assert rows(out, "event_id", "event_time") == [("e1", at(1)), ("e2", at(2)), ("e3", at(4))]
