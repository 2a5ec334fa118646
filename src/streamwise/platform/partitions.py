"""How many partitions a topic needs: one partition's throughput measured on this machine's Kafka,
cached in the state folder, and the arithmetic ``streamwise topics plan`` prints.

A partition is read by one Spark task and written through one leader, so a topic's throughput is
its partitions times one partition's, and its read parallelism is its partition count. The
suggestion is therefore the larger of the partitions the offered rate needs (with headroom for
spikes) and the consumer's parallelism, rounded up to a multiple of that parallelism so that every
task reads the same number of partitions.
"""

from __future__ import annotations

import json
import math
import os
import platform
import random
import re
import time
import uuid
from collections import deque
from dataclasses import asdict, dataclass
from itertools import repeat
from operator import length_hint
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from streamwise.config import QUIET, KafkaSettings
from streamwise.platform.exceptions import TopicError
from streamwise.platform.topics import create_topic, delete_topic

DEFAULT_HEADROOM = 2.0  # a spike to twice the offered rate is absorbed without lag
DEFAULT_RECORD_BYTES = 100  # about a clickstream event in JSON (104 bytes on average)
MEASURE_SECONDS = 3.0
_CHUNK = 10_000
_READ_TIMEOUT_S = 60.0
_MAX_RECORDS = 1_000_000  # a fast broker reaches this in ~2 s; reading them back takes a Python client ~6 s
_CACHE = "topics/partition_throughput.json"


@dataclass(frozen=True)
class PartitionThroughput:
    """One partition's throughput, produced and consumed, measured on ``machine`` at ``measured_at``."""

    record_bytes: int
    records: int
    produce_events_per_s: float
    consume_events_per_s: float
    bootstrap_servers: str
    machine: str
    cpus: int
    measured_at: str  # UTC, ISO 8601

    @property
    def produce_mb_per_s(self) -> float:
        return self.produce_events_per_s * self.record_bytes / 1e6

    @property
    def consume_mb_per_s(self) -> float:
        return self.consume_events_per_s * self.record_bytes / 1e6

    @property
    def events_per_s(self) -> float:
        """What one partition sustains: the slower of writing and reading it."""
        return min(self.produce_events_per_s, self.consume_events_per_s)

    @property
    def bound_by(self) -> str:
        return "produce" if self.produce_events_per_s <= self.consume_events_per_s else "consume"


@dataclass(frozen=True)
class PartitionPlan:
    """The suggested partition count and the arithmetic behind it, one reason per line."""

    rate: float
    headroom: float
    per_partition_events_per_s: float
    for_rate: int  # partitions the rate with headroom needs
    parallelism: int  # Spark tasks reading the topic at once (one per partition)
    suggested: int
    reasons: list[str]


def plan_partitions(
    rate: float, throughput: PartitionThroughput, *, parallelism: int, headroom: float = DEFAULT_HEADROOM
) -> PartitionPlan:
    """Partitions for ``rate`` events/s: enough for ``rate × headroom`` at one partition's measured
    throughput, at least ``parallelism`` (Spark reads one task per partition: fewer leaves cores
    idle), rounded up to a multiple of ``parallelism`` (each task then reads as many partitions)."""
    if rate <= 0 or headroom < 1 or parallelism < 1:
        raise TopicError(
            f"cannot plan partitions for rate {rate:g}/s, headroom {headroom:g}, parallelism {parallelism}",
            hint="the rate must be above 0, the headroom at least 1 and the parallelism at least 1",
        )
    per_partition = throughput.events_per_s
    target = rate * headroom
    for_rate = max(1, math.ceil(target / per_partition))
    suggested = math.ceil(max(for_rate, parallelism) / parallelism) * parallelism
    reasons = [
        f"{rate:,.0f} events/s × {headroom:g} headroom for spikes = {target:,.0f} events/s to carry",
        f"one partition carries {per_partition:,.0f} events/s here (its {throughput.bound_by} rate, the slower "
        f"side, at {throughput.record_bytes} bytes a record) → {for_rate} partition(s) for the rate",
        f"Spark reads one task per partition and {parallelism} at once → at least {parallelism}, and a multiple "
        f"of {parallelism} so each task reads as many partitions → {suggested}",
    ]
    return PartitionPlan(rate, headroom, per_partition, for_rate, parallelism, suggested, reasons)


def spark_parallelism(master: str) -> int | None:
    """Tasks Spark runs at once on a ``local`` master (``local[4]`` → 4, ``local[*]`` → the CPUs);
    None for a cluster master, whose executors' cores only the user knows."""
    if master == "local":
        return 1
    match = re.fullmatch(r"local\[(\*|\d+)(?:,\s*\d+)?\]", master.strip())
    if match is None:
        return None
    return (os.cpu_count() or 1) if match.group(1) == "*" else int(match.group(1))


def cache_file(state: Path) -> Path:
    return state / _CACHE


def cached_throughput(state: Path, kafka: KafkaSettings, record_bytes: int) -> PartitionThroughput | None:
    """The last measurement on this machine against these brokers at this record size, if any."""
    for entry in _read_cache(state):
        if (entry.machine, entry.bootstrap_servers, entry.record_bytes) == (
            platform.node(),
            kafka.bootstrap,
            record_bytes,
        ):
            return entry
    return None


def save_throughput(state: Path, measured: PartitionThroughput) -> Path:
    """Keep ``measured`` in the cache, replacing the entry it supersedes; return the file."""
    key = (measured.machine, measured.bootstrap_servers, measured.record_bytes)
    entries = [e for e in _read_cache(state) if (e.machine, e.bootstrap_servers, e.record_bytes) != key]
    path = cache_file(state)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([asdict(e) for e in [*entries, measured]], indent=2) + "\n")
    return path


def _read_cache(state: Path) -> list[PartitionThroughput]:
    try:
        return [PartitionThroughput(**entry) for entry in json.loads(cache_file(state).read_text())]
    except (OSError, ValueError, TypeError):
        return []  # none yet, or written by another version: measure again


def measure_partition_throughput(
    kafka: KafkaSettings,
    producer_config: dict[str, Any],
    *,
    record_bytes: int = DEFAULT_RECORD_BYTES,
    seconds: float = MEASURE_SECONDS,
) -> PartitionThroughput:
    """Produce to a fresh one-partition topic for ``seconds`` (1,000,000 records at most) with
    ``producer_config`` (the project's producer settings) until every record is acknowledged, then
    read them all back with a librdkafka consumer in this process; events/s of each side. Spark's
    executors read with Kafka's Java client, which is no slower: the consume figure is a floor. Values are random capital letters (as Kafka's ProducerPerformance sends),
    which lz4 compresses about as well as JSON events. The topic is deleted afterwards."""
    topic = f"streamwise.partition-plan.{uuid.uuid4().hex[:8]}"
    create_topic(kafka, topic, partitions=1)
    try:
        records, produce_s = _produce_for(kafka, topic, producer_config, record_bytes, seconds)
        consume_s = _consume_all(kafka, topic, records)
    finally:
        delete_topic(kafka, topic)
    return PartitionThroughput(
        record_bytes=record_bytes,
        records=records,
        produce_events_per_s=records / produce_s,
        consume_events_per_s=records / consume_s,
        bootstrap_servers=kafka.bootstrap,
        machine=platform.node(),
        cpus=os.cpu_count() or 1,
        measured_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )


def _produce_for(
    kafka: KafkaSettings, topic: str, config: dict[str, Any], record_bytes: int, seconds: float
) -> tuple[int, float]:
    """Records sent in ``seconds`` and the seconds until the last one was acknowledged."""
    rng = random.Random(7)
    values = [bytes(rng.choices(range(65, 91), k=record_bytes)) for _ in range(1024)]
    failed: list[str] = []

    def on_delivery(err: KafkaError | None, _msg: Any) -> None:
        if err is not None:
            failed.append(err.str())

    producer = Producer(kafka.client_config(**QUIET, **config, on_delivery=on_delivery))
    chunk = [values[i % len(values)] for i in range(_CHUNK)]
    sent, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds and sent < _MAX_RECORDS:
        todo = chunk
        while todo:
            pending = iter(todo)
            try:  # the loop in C, as the project's producer sends
                deque(map(producer.produce, repeat(topic), pending), maxlen=0)
                todo = []
            except BufferError:  # local queue full at one record: let librdkafka send, resume at that record
                todo = todo[len(todo) - length_hint(pending) - 1 :]
                producer.poll(0.05)
        sent += _CHUNK
        producer.poll(0)
    left = producer.flush(60)
    elapsed = time.perf_counter() - start
    if left or failed:
        raise TopicError(
            f"measuring {topic}: {left} records unacknowledged, {len(failed)} failed ({', '.join(failed[:2])})",
            hint="is the broker healthy? try `streamwise kafka status`",
        )
    return sent, elapsed


def _consume_all(kafka: KafkaSettings, topic: str, records: int) -> float:
    """Seconds to read ``records`` records of ``topic`` from its start."""
    consumer = Consumer(
        kafka.client_config(
            **QUIET, **{"group.id": f"streamwise-plan-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False}
        )
    )
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        seen, start = 0, time.perf_counter()
        deadline = start + _READ_TIMEOUT_S
        while seen < records:
            batch = consumer.consume(_CHUNK, timeout=0.5)
            seen += sum(1 for msg in batch if msg.error() is None)
            if time.perf_counter() > deadline:
                raise TopicError(f"measuring {topic}: read {seen:,} of {records:,} records in {_READ_TIMEOUT_S:.0f} s")
        return time.perf_counter() - start
    except KafkaException as exc:
        raise TopicError(f"measuring {topic}: cannot read it back: {exc.args[0].str()}") from None
    finally:
        consumer.close()
