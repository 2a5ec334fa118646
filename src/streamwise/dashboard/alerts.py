"""The alerts feed: the newest records of the alerts topic, read without creating anything."""

from __future__ import annotations

import json
import time
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from pydantic import BaseModel

from streamwise.config import QUIET, KafkaSettings

_READ_TIMEOUT_S = 3.0


class Alert(BaseModel):
    """One alert record: where it sits in Kafka and its decoded JSON value."""

    partition: int
    offset: int
    timestamp_ms: int
    key: str | None
    value: dict[str, Any]


class AlertFeed(BaseModel):
    """The newest alerts, newest first; ``exists`` is False while nobody has created the topic."""

    topic: str
    exists: bool
    items: list[Alert]
    error: str | None = None


def read_alerts(kafka: KafkaSettings, topic: str, *, last: int) -> AlertFeed:
    """The newest ``last`` records over all partitions of ``topic`` (committed ones only).

    A missing topic is not an error: the feed is empty, and nothing is created (the broker does not
    auto-create topics, and a consumer that only assigns partitions never asks it to).
    """
    consumer = Consumer(kafka.client_config(**QUIET, **{
        "group.id": "streamwise-dashboard",
        "enable.auto.commit": False,
        # Alerts are written by a transactional producer: show only what was committed.
        "isolation.level": "read_committed",
        "enable.partition.eof": True,
        "fetch.wait.max.ms": 50,  # reading to the end: don't let the broker hold a fetch for more data
    }))  # fmt: skip
    try:
        meta = consumer.list_topics(timeout=_READ_TIMEOUT_S).topics.get(topic)
        if meta is None or meta.error is not None:
            return AlertFeed(topic=topic, exists=False, items=[])
        alerts = _read_tail(consumer, topic, sorted(meta.partitions), last)
    except KafkaException as exc:
        return AlertFeed(topic=topic, exists=True, items=[], error=f"cannot read {topic}: {exc.args[0].str()}")
    finally:
        consumer.close()
    alerts.sort(key=lambda a: (a.timestamp_ms, a.partition, a.offset), reverse=True)
    return AlertFeed(topic=topic, exists=True, items=alerts[:last])


def _read_tail(consumer: Consumer, topic: str, partitions: list[int], last: int) -> list[Alert]:
    """Up to ``last`` records from the end of each partition (the caller keeps the newest overall)."""
    assignment = []
    for p in partitions:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=_READ_TIMEOUT_S)
        if high > low:
            assignment.append(TopicPartition(topic, p, max(low, high - last)))
    if not assignment:
        return []
    consumer.assign(assignment)
    pending = {tp.partition for tp in assignment}
    alerts: list[Alert] = []
    deadline = time.monotonic() + _READ_TIMEOUT_S
    # Partition EOF, not the high watermark, ends the read: transaction markers take offsets too.
    while pending and time.monotonic() < deadline:
        for msg in consumer.consume(500, timeout=0.05):  # short: consume() waits its timeout for a full batch
            err, partition, offset = msg.error(), msg.partition(), msg.offset()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF and partition is not None:
                    pending.discard(partition)
                continue
            if partition is None or offset is None:
                continue
            key = msg.key()
            alerts.append(Alert(
                partition=partition,
                offset=offset,
                timestamp_ms=msg.timestamp()[1],
                key=key.decode(errors="replace") if key is not None else None,
                value=_decode(msg.value()),
            ))  # fmt: skip
    return alerts


def _decode(raw: bytes | None) -> dict[str, Any]:
    """Alerts are JSON objects; anything else is shown as text rather than dropped."""
    if raw is None:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {"raw": raw.decode(errors="replace")}
    return value if isinstance(value, dict) else {"value": value}
