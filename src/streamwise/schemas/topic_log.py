"""The registry's log in a compacted Kafka topic (``_schemas`` by default), one partition so that
replay order is write order."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from streamwise.config import QUIET, KafkaSettings
from streamwise.platform.topics import create_topic
from streamwise.schemas.exceptions import RegistryError, RegistryUnavailableError

# A partition whose leader is not (yet) serving it: transient right after the topic is created.
_NOT_READY = (KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE, KafkaError.UNKNOWN_TOPIC_OR_PART)


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

    def replay(self) -> Iterator[tuple[bytes, bytes | None]]:
        consumer = Consumer(kafka_consumer_config(self.kafka))
        try:
            _low, high = self._watermarks(consumer)
            if high <= 0:
                return
            consumer.assign([TopicPartition(self.topic, 0, OFFSET_BEGINNING)])
            deadline = time.monotonic() + self.timeout_s
            while True:
                msg = consumer.poll(0.5)
                if msg is None:
                    if time.monotonic() > deadline:
                        raise RegistryUnavailableError(
                            50002, f"reading {self.topic} did not reach offset {high} within {self.timeout_s:.0f}s"
                        )
                    continue
                error = msg.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        continue
                    raise RegistryError(50001, f"cannot read {self.topic}: {error.str()}")
                key, offset = msg.key(), msg.offset()
                if offset is None:  # a consumed record always has one
                    raise RegistryError(50001, f"a record read from {self.topic} has no offset")
                if key is not None:
                    yield key, msg.value()
                # Offsets of compacted-away records are gaps: stop at the last offset, not a count.
                if offset >= high - 1:
                    return
        finally:
            consumer.close()

    def _watermarks(self, consumer: Consumer) -> tuple[int, int]:
        """The partition's low and high offsets. A topic created a moment ago can have a leader in the
        metadata that does not serve it yet (a loaded machine): those errors are retried until the timeout."""
        partition = TopicPartition(self.topic, 0)
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                return consumer.get_watermark_offsets(partition, timeout=max(1.0, deadline - time.monotonic()))
            except KafkaException as exc:
                err = exc.args[0]
                if err.code() in _NOT_READY and time.monotonic() < deadline:
                    time.sleep(0.2)
                    continue
                raise RegistryUnavailableError(
                    50001,
                    f"cannot read {self.topic} on {self.kafka.bootstrap_servers}: {err.str()}",
                    hint="is Kafka running? try `streamwise kafka status`",
                ) from None

    def append(self, key: bytes, value: bytes | None) -> None:
        failures: list[str] = []

        def delivered(err: KafkaError | None, _msg: Message) -> None:
            if err is not None:
                failures.append(err.str())

        self._producer.produce(self.topic, value, key, partition=0, on_delivery=delivered)
        if self._producer.flush(self.timeout_s) or failures:
            reason = failures[0] if failures else f"not acknowledged within {self.timeout_s:.0f}s"
            raise RegistryError(50001, f"Error while writing to {self.topic}: {reason}")


def kafka_consumer_config(kafka: KafkaSettings) -> dict[str, object]:
    """A throw-away consumer: assigned partitions, nothing committed."""
    return kafka.client_config(
        **QUIET,
        **{
            "group.id": f"streamwise-registry-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        },
    )
