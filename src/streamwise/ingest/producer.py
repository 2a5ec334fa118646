"""A Kafka producer tuned for throughput without giving up safety: idempotent, acks=all, compressed.

Every record is accounted for: librdkafka reports only failed deliveries to Python (a callback per
success would cost as much as producing), so after a complete ``flush`` everything queued and not
failed was acknowledged. Failures are kept (with their reason) and raised at ``flush``, never
swallowed.

A record larger than the topic takes (the broker's ``message.max.bytes``, or the topic's own
``max.message.bytes``) can never be written: it goes to the topic's dead-letter topic ``<topic>.dlq``
instead (the one a pipeline reading the topic writes to), the first 64 KiB of its value with headers
saying why and how large it was, is counted in :class:`DeliveryStats`, and the run goes on.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from operator import length_hint
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient, ConfigResource

from streamwise.config import QUIET, KafkaSettings
from streamwise.ingest.exceptions import DeliveryError
from streamwise.platform import dead_letters as dlq
from streamwise.platform.exceptions import TopicError
from streamwise.platform.topics import create_topic

log = logging.getLogger(__name__)
_rdkafka_log = logging.getLogger("streamwise.librdkafka")

PRODUCER_DEFAULTS: dict[str, Any] = {
    "enable.idempotence": True,  # no duplicates or reordering on retry
    "acks": "all",
    "compression.type": "lz4",
    # Large batches: fewer requests for the broker to handle on a shared machine; 50 ms is the
    # latency price (measured with `streamwise bench ingest`).
    "linger.ms": 50,
    "batch.size": 1024 * 1024,
    "batch.num.messages": 100_000,
    "queue.buffering.max.messages": 2_000_000,
    "queue.buffering.max.kbytes": 1024 * 1024,
    # The Java client's partitioner, so a key lands on the partition Kafka's own tools would pick.
    "partitioner": "murmur2_random",
    "delivery.report.only.error": True,
}
# librdkafka's own default for message.max.bytes: below the broker's (1,048,588), so a record too
# large for a topic with default settings is refused at produce(), before it is sent.
CLIENT_MAX_BYTES = 1_000_000
# What a dead letter keeps of a value too large to write: enough to see what it was, small enough
# for any topic (at most half the producer's limit, for a topic whose limit is lower still).
DEAD_LETTER_PREFIX = 64 * 1024


@dataclass
class DeliveryStats:
    """Counts of queued, acknowledged and failed records, with the most common failure reasons."""

    queued: int = 0  # records handed to the producer for its topic
    delivered: int = 0  # acknowledged by the topic
    failed: int = 0  # lost: neither in the topic nor in its dead-letter topic
    dead_lettered: int = 0  # too large for the topic: in <topic>.dlq instead, truncated (acknowledged there)
    reasons: Counter[str] = field(default_factory=Counter)


class EventProducer:
    """Produces keyed records to one topic and accounts for every one of them."""

    def __init__(self, kafka: KafkaSettings, topic: str, **overrides: Any) -> None:
        self.topic = topic
        self.dead_letter_topic = dlq.dlq_topic(topic)
        self.stats = DeliveryStats()
        self._kafka = kafka
        settings = {**PRODUCER_DEFAULTS, **overrides}
        self.max_bytes, self._limit_from = _record_limit(kafka, topic, settings)
        settings["message.max.bytes"] = self.max_bytes
        # A batch must fit the topic too: the broker refuses a whole batch over its limit.
        settings["batch.size"] = min(int(settings["batch.size"]), self.max_bytes)
        config = kafka.client_config(**settings)
        config["on_delivery"] = self._on_delivery
        # librdkafka reports (e.g. retries while a fresh broker loads its coordinators) go to logging.
        self._producer = Producer(config, logger=_rdkafka_log)
        self._refused: list[tuple[bytes | None, bytes, int, str]] = []  # refused by the broker, to dead-letter
        self._dlq_ready = False
        self._routed = 0  # records sent to the dead-letter topic instead of the topic
        self._dlq_failed = 0

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            return
        if msg.topic() == self.topic and err.code() == KafkaError.MSG_SIZE_TOO_LARGE:
            # Over a limit the broker holds (a topic's max.message.bytes changed since we started):
            # dead-lettered after this poll, as producing from inside the callback could block.
            value = msg.value() or b""
            stamp = msg.timestamp()[1]
            why = f"refused by the broker as over its limit ({err.str()}: was the topic's max.message.bytes lowered?)"
            self._refused.append((msg.key(), value, stamp if stamp > 0 else 0, why))
            return
        self.stats.failed += 1
        if msg.topic() == self.dead_letter_topic:
            self._dlq_failed += 1
            self.stats.reasons[f"dead letter to {self.dead_letter_topic}: {err.str()}"] += 1
        else:
            self.stats.reasons[err.str()] += 1

    @property
    def in_flight(self) -> int:
        """Records queued or sent but not yet acknowledged."""
        return len(self._producer)

    def send(
        self,
        values: Sequence[bytes],
        keys: Sequence[bytes | None] | None = None,
        timestamps: Sequence[int] | None = None,
    ) -> int:
        """Queue records (value, key, timestamp in ms) in order; waits for queue space instead of failing.

        The loop runs in C (``map`` over ``produce``): a Python loop body per record would cost a
        third of the producer's time. When the local queue is full, ``produce`` raises at some
        record; the iterators tell which, and sending resumes there after a poll. A record too large
        for the topic is refused the same way: it is dead-lettered, and sending resumes after it.
        """
        produce, n, start = self._producer.produce, len(values), 0
        while start < n:
            todo = values[start:] if start else values
            value_it = iter(todo)
            key_it = iter(keys[start:] if start else keys) if keys is not None else repeat(None)
            time_it = iter(timestamps[start:] if start else timestamps) if timestamps is not None else repeat(0)
            try:
                deque(
                    map(produce, repeat(self.topic), value_it, key_it, repeat(-1), repeat(None), repeat(None), time_it),
                    maxlen=0,
                )
                start = n
            except BufferError:  # local queue full: let librdkafka send, then retry from the failed record
                start += len(todo) - length_hint(value_it) - 1
                self._producer.poll(0.05)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.MSG_SIZE_TOO_LARGE:
                    raise
                # Too large for the topic, refused before it was queued: dead-letter it, go on after it.
                at = start + len(todo) - length_hint(value_it) - 1
                key = keys[at] if keys is not None else None
                stamp = timestamps[at] if timestamps is not None else 0
                self._dead_letter(
                    key, values[at], stamp, f"over the limit of {self.max_bytes:,} bytes ({self._limit_from})"
                )
                start = at + 1
        self.stats.queued += n
        self.poll(0)
        return n

    def _dead_letter(self, key: bytes | None, value: bytes, timestamp_ms: int, why: str) -> None:
        """Send a record the topic cannot take to its dead-letter topic: the first
        :data:`DEAD_LETTER_PREFIX` bytes of its value, and headers saying why and how large it was."""
        size = len(value) + len(key or b"")
        # The dead letter goes through this producer, so it must fit under the same limit.
        keep = min(DEAD_LETTER_PREFIX, self.max_bytes // 2)
        reason = (
            f"too large for topic {self.topic}: {size:,} bytes (value {len(value):,}, key {len(key or b''):,}), "
            f"{why}; never written to {self.topic}, and this dead letter holds "
            f"the first {min(len(value), keep):,} bytes of its value. Shrink or split the event, "
            "or raise the limit (the topic's max.message.bytes and the producer's message.max.bytes)"
        )
        log.warning("%s", reason)
        self._routed += 1
        if not self._dlq_ready:
            try:  # the broker creates no topics; a pipeline on the topic creates it the same way
                create_topic(self._kafka, self.dead_letter_topic, partitions=1, exist_ok=True)
            except TopicError as exc:
                self.stats.failed += 1
                self._dlq_failed += 1
                self.stats.reasons[f"{reason}; but its dead letter was lost: {exc}"] += 1
                return
            self._dlq_ready = True
        headers: list[tuple[str, str | bytes | None]] = [
            (dlq.REASON, reason.encode()),
            (dlq.SOURCE_TOPIC, self.topic.encode()),
            (dlq.ORIGINAL_SIZE, str(len(value)).encode()),
        ]
        key_kept = None if key is None else key[: self.max_bytes // 8]
        while True:
            try:
                self._producer.produce(
                    self.dead_letter_topic,
                    value[:keep],
                    key_kept,
                    headers=headers,
                    timestamp=timestamp_ms or 0,
                )
                return
            except BufferError:  # local queue full: let librdkafka send first
                self._producer.poll(0.05)

    def _dead_letter_refused(self) -> None:
        """Dead-letter the records the broker refused as too large, reported since the last poll."""
        while self._refused:
            key, value, stamp, why = self._refused.pop(0)
            self._dead_letter(key, value, stamp, why)

    def send_many(self, records: Iterable[tuple[bytes | None, bytes, int | None]]) -> int:
        """Queue (key, value, timestamp_ms or None) records. Returns the count."""
        rows = list(records)
        return self.send([v for _, v, _ in rows], [k for k, _, _ in rows], [t or 0 for _, _, t in rows])

    def poll(self, timeout_s: float = 0.0) -> None:
        """Serve delivery reports (failures) and let librdkafka make progress."""
        self._producer.poll(timeout_s)
        self._dead_letter_refused()

    def flush(self, timeout_s: float = 60.0) -> DeliveryStats:
        """Wait for every queued record to be acknowledged (by the topic, or as a dead letter by its
        dead-letter topic); raise DeliveryError if any failed."""
        deadline = time.monotonic() + timeout_s
        remaining = self._producer.flush(timeout_s)
        while self._refused:  # refused by the broker during the flush: their dead letters too
            self._dead_letter_refused()
            remaining = self._producer.flush(max(0.0, deadline - time.monotonic()))
        stats = self.stats
        stats.dead_lettered = self._routed - self._dlq_failed
        stats.delivered = stats.queued - self._routed - (stats.failed - self._dlq_failed) - remaining
        if remaining:
            raise DeliveryError(
                f"{remaining} records to {self.topic} were still unacknowledged after {timeout_s:.0f}s",
                hint="is the broker up? check `streamwise kafka status`",
            )
        if stats.failed:
            reasons = ", ".join(f"{n}× {r}" for r, n in stats.reasons.most_common(3))
            raise DeliveryError(f"{stats.failed} records to {self.topic} failed: {reasons}")
        if stats.dead_lettered:
            log.warning(
                "%d records too large for %s were sent to %s instead (see their dlq.reason header)",
                stats.dead_lettered,
                self.topic,
                self.dead_letter_topic,
            )
        return stats


def _record_limit(kafka: KafkaSettings, topic: str, settings: dict[str, Any]) -> tuple[int, str]:
    """The largest record the producer may send to ``topic``, and where that limit comes from: the
    producer's ``message.max.bytes``, or the topic's ``max.message.bytes`` when that is smaller (so a
    record over it is refused at ``produce`` and dead-lettered at once, and no batch of small records
    exceeds it)."""
    client = int(settings.get("message.max.bytes", CLIENT_MAX_BYTES))
    topic_limit = _topic_max_bytes(kafka, topic)
    if topic_limit is not None and topic_limit < client:
        return max(topic_limit, 1000), f"topic {topic}'s max.message.bytes"  # librdkafka's floor is 1000
    return client, "the producer's message.max.bytes"


def _topic_max_bytes(kafka: KafkaSettings, topic: str) -> int | None:
    """The topic's ``max.message.bytes`` (its own, or the broker's default), or None when it cannot be
    read (a topic not created yet: the broker's default then applies, above the producer's)."""
    admin = AdminClient(kafka.client_config(**QUIET))
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    try:
        entries = admin.describe_configs([resource], request_timeout=10)[resource].result()
        return int(entries["max.message.bytes"].value)
    except (KafkaException, KeyError, ValueError, TypeError):
        return None
