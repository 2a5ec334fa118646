"""Follows ``_streamwise_progress`` with one long-lived consumer, for a server that refreshes every second or two.

Re-reading the last N records on every push (as ``monitor.store.recent_metrics`` does for one-off views)
would cost a consumer, a metadata round trip and N records each time; the tail keeps the newest N
records and, on each read, fetches only what was published since.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from confluent_kafka import Consumer, KafkaException, TopicPartition

from streamwise.config import QUIET, KafkaSettings
from streamwise.monitor.listener import PROGRESS_TOPIC
from streamwise.monitor.metrics import QueryMetrics

_TIMEOUT_S = 2.0


class ProgressTail:
    """The newest ``history`` progress records (all queries), refreshed by :meth:`read`."""

    def __init__(self, kafka: KafkaSettings, history: int) -> None:
        self.kafka = kafka
        self.records: deque[QueryMetrics] = deque(maxlen=history)
        self._consumer: Consumer | None = None
        self._next: int | None = None  # offset of the next record to fetch
        self._lock = threading.Lock()

    def read(self) -> dict[str, list[QueryMetrics]]:
        """Fetch what was published since the last read; the records by query, oldest first."""
        with self._lock:
            try:
                self._catch_up()
            except KafkaException:
                pass  # the topic is not there (yet): nothing published; keep what we have
            grouped: dict[str, list[QueryMetrics]] = {}
            for m in self.records:
                grouped.setdefault(m.query, []).append(m)
            return grouped

    def close(self) -> None:
        with self._lock:
            if self._consumer is not None:
                self._consumer.close()
                self._consumer = None

    def _catch_up(self) -> None:
        if self._consumer is None:
            self._consumer = Consumer(
                self.kafka.client_config(
                    **QUIET,
                    **{
                        "group.id": "streamwise-dashboard",
                        "enable.auto.commit": False,
                        "fetch.wait.max.ms": 50,
                    },
                )
            )
        consumer = self._consumer
        partition = TopicPartition(PROGRESS_TOPIC, 0)
        low, high = consumer.get_watermark_offsets(partition, timeout=_TIMEOUT_S, cached=False)
        if self._next is None or not low <= self._next <= high:
            # First read, or the topic was purged or recreated: start over from its newest records.
            self.records.clear()
            self._next = max(low, high - (self.records.maxlen or 0))
            consumer.assign([TopicPartition(PROGRESS_TOPIC, 0, self._next)])
        deadline = time.monotonic() + _TIMEOUT_S
        while self._next < high and time.monotonic() < deadline:
            # Ask for exactly what is missing: consume() otherwise waits its whole timeout for a full batch.
            for msg in consumer.consume(min(500, high - self._next), timeout=0.5):
                offset, value = msg.offset(), msg.value()
                if msg.error() is not None or offset is None:
                    continue
                self._next = offset + 1
                try:
                    self.records.append(QueryMetrics.from_json(value or b""))
                except (ValueError, TypeError, KeyError):
                    pass  # a record some other tool wrote to the topic: not ours to show
