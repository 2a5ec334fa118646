"""The registry's log in a compacted Kafka topic (``_schemas`` by default), one partition so that
replay order is write order."""

from __future__ import annotations

from collections.abc import Iterator

from confluent_kafka import KafkaError, Message, Producer

from streamwise.config import QUIET, KafkaSettings
from streamwise.platform.exceptions import TopicError
from streamwise.platform.topics import create_topic, read_to_end
from streamwise.schemas.exceptions import RegistryError, RegistryUnavailableError
from streamwise.schemas.store import LogRecord


class KafkaSchemaLog:
    """Appends each change synchronously (acks=all, idempotent) and replays the topic from offset 0."""

    def __init__(self, kafka: KafkaSettings, topic: str, *, timeout_s: float = 30.0) -> None:
        self.kafka = kafka
        self.topic = topic
        self.timeout_s = timeout_s
        # Compaction keeps the newest record of each key: the current state, never the whole history.
        create_topic(kafka, topic, partitions=1, cleanup_policy="compact", exist_ok=True)
        self._producer = Producer(
            kafka.client_config(**QUIET, **{"acks": "all", "enable.idempotence": True, "linger.ms": 0})
        )

    def replay(self) -> Iterator[LogRecord]:
        """Every record of the topic from offset 0 to its end now, in write order, with its offset
        (the store names it when it skips a record it cannot read)."""
        try:
            records = read_to_end(self.kafka, self.topic, timeout_s=self.timeout_s)
        except TopicError as exc:
            raise RegistryUnavailableError(50002, exc.message, hint=exc.hint) from None
        for msg in records:
            yield msg.offset() or 0, msg.key(), msg.value()

    def append(self, key: bytes, value: bytes | None) -> None:
        failures: list[str] = []

        def delivered(err: KafkaError | None, _msg: Message) -> None:
            if err is not None:
                failures.append(err.str())

        self._producer.produce(self.topic, value, key, partition=0, on_delivery=delivered)
        if self._producer.flush(self.timeout_s) or failures:
            reason = failures[0] if failures else f"not acknowledged within {self.timeout_s:.0f}s"
            raise RegistryError(50001, f"Error while writing to {self.topic}: {reason}")
