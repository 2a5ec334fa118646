"""Reads the metrics queries published (``_streamwise_progress``): latest per query, and recent history."""

from __future__ import annotations

from collections import defaultdict

from confluent_kafka import Consumer, KafkaException, TopicPartition

from streamwise.config import QUIET, KafkaSettings
from streamwise.monitor.listener import PROGRESS_TOPIC
from streamwise.monitor.metrics import QueryMetrics


def recent_metrics(kafka: KafkaSettings, *, last: int = 600) -> dict[str, list[QueryMetrics]]:
    """The last ``last`` progress records, grouped by query, oldest first. Empty if none was published."""
    consumer = Consumer(kafka.client_config(**QUIET, **{"group.id": "streamwise-status", "enable.auto.commit": False}))
    history: dict[str, list[QueryMetrics]] = defaultdict(list)
    try:
        try:
            low, high = consumer.get_watermark_offsets(TopicPartition(PROGRESS_TOPIC, 0), timeout=5)
        except KafkaException:
            return {}
        if high <= low:
            return {}
        consumer.assign([TopicPartition(PROGRESS_TOPIC, 0, max(low, high - last))])
        position = max(low, high - last)
        while position < high:
            batch = consumer.consume(min(500, high - position), timeout=5)  # a full 500 would wait out the timeout
            if not batch:
                break
            for msg in batch:
                if msg.error() is None:
                    metrics = QueryMetrics.from_json(msg.value())
                    history[metrics.query].append(metrics)
                position = msg.offset() + 1
    finally:
        consumer.close()
    return dict(history)


def latest_metrics(kafka: KafkaSettings) -> dict[str, QueryMetrics]:
    """The most recent metrics of each query that published any."""
    return {query: runs[-1] for query, runs in recent_metrics(kafka, last=200).items()}
