"""A Kafka producer tuned for throughput without giving up safety: idempotent, acks=all, compressed.

Every delivery report is counted; failures are kept (with their reason) and raised at ``flush``,
never swallowed.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from streamwise.config import KafkaSettings
from streamwise.ingest.exceptions import DeliveryError

log = logging.getLogger(__name__)
_rdkafka_log = logging.getLogger("streamwise.librdkafka")

PRODUCER_DEFAULTS: dict[str, Any] = {
    "enable.idempotence": True,  # no duplicates or reordering on retry
    "acks": "all",
    "compression.type": "lz4",
    "linger.ms": 20,
    "batch.size": 512 * 1024,
    "queue.buffering.max.messages": 1_000_000,
    "queue.buffering.max.kbytes": 512 * 1024,
}


@dataclass
class DeliveryStats:
    """Counts of acknowledged and failed records, with the first failure reasons."""

    delivered: int = 0
    failed: int = 0
    reasons: Counter[str] = field(default_factory=Counter)


class EventProducer:
    """Produces keyed records to one topic and accounts for every one of them."""

    def __init__(self, kafka: KafkaSettings, topic: str, **overrides: Any) -> None:
        self.topic = topic
        self.stats = DeliveryStats()
        # librdkafka reports (e.g. retries while a fresh broker loads its coordinators) go to logging.
        self._producer = Producer(kafka.client_config(**{**PRODUCER_DEFAULTS, **overrides}), logger=_rdkafka_log)

    def _on_delivery(self, err: KafkaError | None, _msg: Message) -> None:
        if err is None:
            self.stats.delivered += 1
        else:
            self.stats.failed += 1
            self.stats.reasons[err.str()] += 1

    def send_many(self, records: Iterable[tuple[bytes | None, bytes, int | None]]) -> int:
        """Queue (key, value, timestamp_ms) records; waits for queue space instead of failing. Returns count."""
        produce, poll, count = self._producer.produce, self._producer.poll, 0
        for key, value, timestamp in records:
            while True:
                try:
                    if timestamp is None:
                        produce(self.topic, value, key, on_delivery=self._on_delivery)
                    else:
                        produce(self.topic, value, key, on_delivery=self._on_delivery, timestamp=timestamp)
                    break
                except BufferError:  # local queue full: let librdkafka send, then retry this record
                    poll(0.05)
            count += 1
        poll(0)
        return count

    def flush(self, timeout_s: float = 60.0) -> DeliveryStats:
        """Wait for every queued record to be acknowledged; raise DeliveryError if any failed."""
        remaining = self._producer.flush(timeout_s)
        if remaining:
            raise DeliveryError(
                f"{remaining} records to {self.topic} were still unacknowledged after {timeout_s:.0f}s",
                hint="is the broker up? check `streamwise kafka status`",
            )
        if self.stats.failed:
            reasons = ", ".join(f"{n}× {r}" for r, n in self.stats.reasons.most_common(3))
            raise DeliveryError(f"{self.stats.failed} records to {self.topic} failed: {reasons}")
        return self.stats
