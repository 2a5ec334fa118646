"""Reads the metrics queries published (``_streamwise_progress``): latest per query, and recent history."""

from __future__ import annotations

from collections import defaultdict

from streamwise.config import KafkaSettings
from streamwise.monitor.listener import PROGRESS_TOPIC
from streamwise.monitor.metrics import QueryMetrics
from streamwise.platform.exceptions import TopicError
from streamwise.platform.topics import read_to_end


def recent_metrics(kafka: KafkaSettings, *, last: int = 600) -> dict[str, list[QueryMetrics]]:
    """The last ``last`` progress records, grouped by query, oldest first. Empty if none was
    published, or Kafka cannot be read (status and the dashboard show that on their own)."""
    try:
        records = read_to_end(kafka, PROGRESS_TOPIC, committed=False, tail=last, timeout_s=10)
    except TopicError:
        return {}
    history: dict[str, list[QueryMetrics]] = defaultdict(list)
    for msg in records:
        raw = msg.value()
        if raw is None:  # the pipelines publish every progress record with a value
            raise TopicError(f"a record of {PROGRESS_TOPIC} at offset {msg.offset()} has no value")
        metrics = QueryMetrics.from_json(raw)
        history[metrics.query].append(metrics)
    return dict(history)


def latest_metrics(kafka: KafkaSettings) -> dict[str, QueryMetrics]:
    """The most recent metrics of each query that published any."""
    return {query: runs[-1] for query, runs in recent_metrics(kafka, last=200).items()}
