"""The alerts feed: the newest records of the alerts topic, read without creating anything."""

from __future__ import annotations

import json
from typing import Any

from confluent_kafka import Message
from pydantic import BaseModel

from streamwise.config import KafkaSettings
from streamwise.platform.exceptions import TopicError
from streamwise.platform.topics import list_topics, read_to_end

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
    """The newest ``last`` records over all partitions of ``topic`` (committed ones only: alerts
    are written by a transactional producer).

    A missing topic is not an error: the feed is empty, and nothing is created (the broker does not
    auto-create topics, and the reader never asks for one by name).
    """
    try:
        records = read_to_end(kafka, topic, tail=last, timeout_s=_READ_TIMEOUT_S)
        if not records and topic not in list_topics(kafka):  # asked only when there is nothing to show
            return AlertFeed(topic=topic, exists=False, items=[])
    except TopicError as exc:
        return AlertFeed(topic=topic, exists=True, items=[], error=exc.message)
    alerts = [_alert(topic, msg) for msg in records]
    alerts.sort(key=lambda a: (a.timestamp_ms, a.partition, a.offset), reverse=True)
    return AlertFeed(topic=topic, exists=True, items=alerts[:last])


def _alert(topic: str, msg: Message) -> Alert:
    partition, offset, key = msg.partition(), msg.offset(), msg.key()
    if partition is None or offset is None:  # a record read from a topic has both
        raise TopicError(f"a record read from {topic} has no partition or offset")
    return Alert(
        partition=partition,
        offset=offset,
        timestamp_ms=msg.timestamp()[1],
        key=key.decode(errors="replace") if key is not None else None,
        value=_decode(msg.value()),
    )


def _decode(raw: bytes | None) -> dict[str, Any]:
    """Alerts are JSON objects; anything else is shown as text rather than dropped."""
    if raw is None:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {"raw": raw.decode(errors="replace")}
    return value if isinstance(value, dict) else {"value": value}
