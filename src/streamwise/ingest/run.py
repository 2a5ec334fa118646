"""Produce a source's events (a scenario or a replayed file) into Kafka, paced, until a limit or a stop.

Each turn of the loop generates the events due one tick ahead in chunks, injects the disorder,
encodes them column-wise, queues them, and records the ground truth. The first Ctrl-C (or SIGTERM,
as ``streamwise down`` sends) stops the loop after the current chunk and flushes; a second Ctrl-C
stops at once.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pyarrow.compute as pc

from streamwise.config import KafkaSettings
from streamwise.ingest.disorder import Disorder
from streamwise.ingest.encoding import Encoder, Format
from streamwise.ingest.exceptions import IngestOptionError
from streamwise.ingest.framing import confluent_header
from streamwise.ingest.producer import DeliveryStats, EventProducer
from streamwise.ingest.scenario import EventBatch
from streamwise.ingest.truth import GroundTruthWriter
from streamwise.platform.topics import create_topic, partition_count
from streamwise.schemas.client import RegistryClient

TICK_S = 0.05
CHUNK = 16_384  # events per encode/produce step: large enough to amortise the per-call costs
_PROGRESS_EVERY_S = 0.1


class Pace(Protocol):
    """When events are due: :class:`~streamwise.ingest.disorder.RateProfile` or a replay's schedule."""

    @property
    def unlimited(self) -> bool: ...

    def due(self, t: float) -> float: ...

    def time_of(self, count: float) -> float: ...


class Source(Protocol):
    """Anything that hands out event batches: a scenario or a :class:`FileReplay`."""

    # Read-only (properties): a scenario declares key_field and stamp_event_time on its class.
    @property
    def schema(self) -> dict[str, Any]: ...

    @property
    def key_field(self) -> str | None: ...

    @property
    def stamp_event_time(self) -> bool: ...

    def batch(self, n: int, now_ms: int) -> EventBatch: ...


@dataclass(frozen=True)
class Progress:
    """Counts so far, for a progress display."""

    events: int
    records: int
    seconds: float
    in_flight: int

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class ProduceReport:
    """What a produce run achieved."""

    events: int  # generated or replayed
    records: int  # sent: the events plus injected duplicates
    value_bytes: int
    seconds: float  # from the first record queued to the last one acknowledged
    stats: DeliveryStats
    truth_dir: Path | None = None
    interrupted: bool = False

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    @property
    def records_per_s(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0

    @property
    def mb_per_s(self) -> float:
        return self.value_bytes / 1e6 / self.seconds if self.seconds > 0 else 0.0


def produce(
    producer: EventProducer,
    source: Source,
    *,
    pace: Pace,
    fmt: Format | str = Format.JSON,
    disorder: Disorder | None = None,
    count: int | None = None,
    duration_s: float | None = None,
    truth: GroundTruthWriter | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    stop: threading.Event | None = None,
    chunk: int = CHUNK,
    registry: RegistryClient | str | None = None,
) -> ProduceReport:
    """Send ``source``'s events as ``pace`` makes them due, until ``count`` events, ``duration_s``
    seconds, the end of a replayed file, or a stop (Ctrl-C, SIGTERM, ``stop.set()``).

    With ``registry`` (a schema registry client, or its URL) and Avro, the source's schema is registered under
    ``<topic>-value`` before the first record and every value is framed in the Confluent wire format
    (magic byte 0, schema id, body), as ``streamwise produce --format avro`` does; without it, Avro
    values are bare bodies. The producer is flushed in every case; DeliveryError is raised if any
    record failed.
    """
    _check_limits(source, disorder, count, duration_s)
    limit = float("inf") if count is None else count
    events = records = value_bytes = 0
    last_progress = 0.0
    start = time.monotonic()
    with _stop_on_signals(stop) as stopping:
        try:
            # Inside the try: a registry that refuses or does not answer still closes the ground truth.
            header = b""
            if registry is not None and Format(fmt) is Format.AVRO:
                header = confluent_header(registry, producer.topic, source.schema)  # once per run, not per record
            encoder = Encoder(source.schema, fmt, header=header)
            while not stopping.is_set() and events < limit and not getattr(source, "exhausted", False):
                elapsed = time.monotonic() - start
                if duration_s is not None and elapsed >= duration_s:
                    break
                horizon = elapsed + TICK_S if duration_s is None else min(elapsed + TICK_S, duration_s)
                n = int(min(chunk, limit - events, pace.due(horizon) - events))
                if n <= 0:  # nothing due: sleep until the next event is, a tick ahead
                    wake = start + pace.time_of(events + 1) - TICK_S
                    time.sleep(min(TICK_S, max(0.001, wake - time.monotonic())))
                    continue
                batch = source.batch(n, time.time_ns() // 1_000_000)
                if len(batch) == 0:
                    break
                events += len(batch)
                if disorder is not None:
                    batch = disorder.apply(batch)
                value_bytes += _send(producer, encoder, batch, stamp=source.stamp_event_time)
                if truth is not None:
                    truth.write(batch)
                records += len(batch)
                now = time.monotonic()
                if on_progress is not None and now - last_progress >= _PROGRESS_EVERY_S:
                    last_progress = now
                    on_progress(Progress(events, records, now - start, producer.in_flight))
                if not pace.unlimited and n < chunk:
                    # Everything due until the horizon is sent: wait for the next tick's events rather than
                    # waking every millisecond for the one or two that come due meanwhile (which cost a
                    # core at 2,000 events/s).
                    time.sleep(max(0.0, start + horizon - now))
        finally:
            interrupted = stopping.is_set()
            try:
                stats = producer.flush()
            finally:
                seconds = time.monotonic() - start
                truth_dir = _close_truth(truth, producer, events=events, interrupted=interrupted)
    if on_progress is not None:
        on_progress(Progress(events, records, seconds, 0))
    return ProduceReport(events, records, value_bytes, seconds, stats, truth_dir, interrupted)


def _check_limits(source: Source, disorder: Disorder | None, count: int | None, duration_s: float | None) -> None:
    """Refuse limits that cannot be met before anything is sent."""
    if count is not None and count < 0:
        raise IngestOptionError(f"--count must be 0 or more (got {count})")
    if duration_s is not None and duration_s < 0:
        raise IngestOptionError(f"--duration must be 0 or more (got {duration_s:g})")
    if disorder is not None and disorder.late_fraction and getattr(source, "time_field", "event_time") is None:
        raise IngestOptionError(
            "--late-fraction makes event times earlier, so it needs events with an event time",
            hint="with --from-file, name the column with --event-time COLUMN",
        )


def _send(producer: EventProducer, encoder: Encoder, batch: EventBatch, *, stamp: bool) -> int:
    """Encode and send one batch, its Kafka timestamps the event times when ``stamp``; returns the
    bytes of the values sent."""
    values = encoder.encode_array(batch.data)
    event_time_ms = batch.event_time_ms if stamp and batch.time_field else None
    times = None if event_time_ms is None else event_time_ms.tolist()
    producer.send(values.to_numpy(zero_copy_only=False).tolist(), batch.keys.tolist(), times)
    return int(pc.sum(pc.binary_length(values)).as_py() or 0)


def _close_truth(
    truth: GroundTruthWriter | None, producer: EventProducer, *, events: int, interrupted: bool
) -> Path | None:
    """Close the ground truth with the producer's final counts; its folder, when there is one."""
    if truth is None:
        return None
    stats = producer.stats
    # dead_lettered: rows of the truth too large for the topic, in its dead-letter topic instead.
    return truth.close(
        events=events,
        delivered=stats.delivered,
        failed=stats.failed,
        dead_lettered=stats.dead_lettered,
        interrupted=interrupted,
    )


@contextmanager
def _stop_on_signals(stop: threading.Event | None) -> Iterator[threading.Event]:
    """An event set by the first SIGINT/SIGTERM (a second SIGINT raises KeyboardInterrupt)."""
    flag = stop or threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield flag  # signal handlers can only be installed from the main thread
        return

    def handler(signum: int, _frame: Any) -> None:
        if flag.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        flag.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield flag
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def ensure_topic(kafka: KafkaSettings, topic: str, partitions: int | None) -> int:
    """Create ``topic`` if it is missing (ready once every partition has a leader); return its count.

    IngestOptionError when ``partitions`` is given and the existing topic has another count.
    """
    if partitions is not None and partitions < 1:
        raise IngestOptionError(f"--partitions must be 1 or more (got {partitions})")
    create_topic(kafka, topic, partitions=partitions or kafka.default_partitions, exist_ok=True)
    actual = partition_count(kafka, topic)
    if partitions is not None and actual != partitions:
        raise IngestOptionError(
            f"topic {topic} exists with {actual} partitions, not {partitions}",
            hint="omit --partitions, or produce to another --topic",
        )
    return actual
