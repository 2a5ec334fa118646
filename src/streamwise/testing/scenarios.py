"""Scripted runs of a pipeline for tests: produce events, run the pipeline to completion
(``availableNow``), return what every sink, the late-data ledger and the dead-letter topic hold.

``run_phases`` runs one phase after another on the same checkpoint, i.e. a restart between phases,
which is how out-of-order, late, duplicate and crash-restart scenarios are written::

    run = run_phases(spark, settings, spec, [phase_1_events, phase_2_events])
    assert run.sinks["clicks/views"] ...    # a sink's rows, by where its spec says it writes
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import pandas as pd

from streamwise.config import Settings
from streamwise.ingest.producer import EventProducer
from streamwise.pipeline.plan import Pipeline
from streamwise.pipeline.runner import await_queries
from streamwise.pipeline.spec import PipelineSpec
from streamwise.platform.storage import Location
from streamwise.platform.topics import create_topic
from streamwise.sinks import DeltaSink, Sink, sink_location
from streamwise.verify import readers

T = TypeVar("T")

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

Event = dict[str, Any] | bytes  # a JSON-able record, or raw bytes (to test dead letters)


class SinkRows(dict[str, pd.DataFrame]):
    """Each sink's rows by where it writes (a Delta path, a PostgreSQL table, a Redis key template,
    a Kafka topic). A location that is none of the pipeline's sinks is an error that lists them,
    never an empty frame."""

    def __missing__(self, location: str) -> pd.DataFrame:
        raise KeyError(
            f"no sink writes to {location!r}; this pipeline's sinks write to: {', '.join(self) or 'nothing'}"
        )


@dataclass
class PipelineRun:
    """What a scripted run left behind."""

    sinks: SinkRows = field(default_factory=SinkRows)
    late_records: pd.DataFrame = field(default_factory=pd.DataFrame)
    dead_letters: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)  # (value, headers)


def produce_events(settings: Settings, topic: str, events: Iterable[Event], *, key: str | None = None) -> int:
    """Send events (dicts as JSON, bytes as they are), keyed by ``event[key]`` when given."""
    producer = EventProducer(settings.kafka, topic)
    records: list[tuple[bytes | None, bytes, int | None]] = []  # key, value, timestamp_ms
    for event in events:
        if isinstance(event, bytes):
            records.append((None, event, None))
        else:
            k = str(event[key]).encode() if key and key in event else None
            records.append((k, json.dumps(event).encode(), None))
    producer.send_many(records)
    return producer.flush().delivered


def wait_for(condition: Callable[[], T | None], *, bound_s: float, what: str = "the condition") -> T:
    """Poll ``condition`` each second until it returns something truthy, and return that. The bound
    is a safety net for a test that would otherwise hang, not a timing: a busy machine only waits
    longer."""
    deadline = time.monotonic() + bound_s
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(1)
    raise AssertionError(f"no sign of {what} after {bound_s:.0f} s")


def run_phases(
    spark: SparkSession,
    settings: Settings,
    spec: PipelineSpec,
    phases: Sequence[Iterable[Event]],
    *,
    key: str | None = None,
    partitions: int = 1,
) -> PipelineRun:
    """Create the topic, then per phase: produce its events and run the pipeline until caught up (its
    start creates the dead-letter topic)."""
    topic = spec.source.topic
    create_topic(settings.kafka, topic, partitions=partitions, exist_ok=True)
    plan = Pipeline(spec, settings)
    for events in phases:
        produce_events(settings, topic, events, key=key)
        await_queries(plan.start(spark, once=True))
    return collect(spark, plan)


def collect(spark: SparkSession, plan: Pipeline) -> PipelineRun:
    """Read back every sink that keeps what it was given (all but the console and webhooks, whose
    receivers are the test's own), the ledger and the dead-letter topic of ``plan``."""
    run = PipelineRun()
    for sink in plan.spec.sinks:
        rows = sink_rows(spark, plan, sink)
        if rows is not None:
            run.sinks[sink_location(sink)] = rows
    if plan.spec.drops_late_data and plan.spec.late_records.enabled:
        run.late_records = _delta(spark, plan.late_records_path)
    run.dead_letters = read_topic(plan.settings, plan.dlq_topic)
    return run


def sink_rows(spark: SparkSession, plan: Pipeline, sink: Sink) -> pd.DataFrame | None:
    """Everything ``sink`` holds now, read with the store's own client (Delta through Spark, so
    its types are the pipeline's); None for a sink that keeps nothing to read back."""
    if isinstance(sink, DeltaSink):
        return _delta(spark, plan.sink_path(sink))
    return readers.sink_rows(plan.settings, sink)


def read_topic(settings: Settings, topic: str) -> list[tuple[bytes, dict[str, str]]]:
    """Every committed record now in ``topic``, all partitions: (value, headers), in offset order per
    partition (:func:`streamwise.verify.readers.topic_records`: a clear error when the end cannot be
    reached)."""
    records = readers.topic_records(settings.kafka, topic)
    return [(msg.value(), {k: v.decode() for k, v in (msg.headers() or [])}) for msg in records]


def _delta(spark: SparkSession, path: Location) -> pd.DataFrame:
    """The Delta table's rows; an empty frame only when the sink has written nothing yet (no
    folder: e.g. no window closed). A folder that is not a Delta table fails with Spark's reason."""
    if not path.exists():
        return pd.DataFrame()
    return spark.read.format("delta").load(str(path)).toPandas()
