"""The bridge from Spark's progress events to the rest of the world.

For every progress event of every query in the session, :class:`ProgressPublisher`
1. publishes the query's :class:`QueryMetrics` to the ``_streamwise_progress`` topic (key = query
   name), where ``status``, ``/metrics`` and the dashboard read them, from any process; and
2. commits the offsets the batch processed to a Kafka consumer group named after the query.
   Spark keeps its offsets in the checkpoint, so standard tools (``kafka-consumer-groups``, lag
   exporters) would otherwise show no lag at all for a Spark job.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from pyspark.sql.streaming import StreamingQueryListener

from streamwise.config import QUIET, KafkaSettings
from streamwise.monitor.metrics import QueryMetrics
from streamwise.platform.topics import COORDINATOR_BUSY, create_topic

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

PROGRESS_TOPIC = "_streamwise_progress"
_COMMIT_TRIES = 10
_COMMIT_WAIT_S = 0.3


class ProgressPublisher(StreamingQueryListener):
    """Publishes metrics and commits processed offsets for each query progress event."""

    def __init__(self, kafka: KafkaSettings, on_metrics: Callable[[QueryMetrics], None] | None = None) -> None:
        self.kafka = kafka
        self.on_metrics = on_metrics
        create_topic(kafka, PROGRESS_TOPIC, partitions=1, retention_ms=24 * 3600 * 1000, exist_ok=True)
        self._producer = Producer(kafka.client_config(**QUIET, **{"linger.ms": 50, "acks": "1"}))
        self._committers: dict[str, Consumer] = {}

    def onQueryStarted(self, event) -> None:
        log.info("query %s started (id %s)", event.name, event.id)

    def onQueryProgress(self, event) -> None:
        try:
            metrics = QueryMetrics.from_progress(json.loads(event.progress.json))
            self._producer.produce(PROGRESS_TOPIC, metrics.to_json(), metrics.query.encode())
            self._producer.poll(0)
            self.commit_offsets(metrics)
            if self.on_metrics:
                self.on_metrics(metrics)
        except Exception:  # a monitoring hiccup must never fail the query itself
            log.exception("could not publish progress of a query")

    def onQueryIdle(self, event) -> None:
        pass

    def onQueryTerminated(self, event) -> None:
        self._producer.flush(5)
        if event.exception:
            log.error("query %s failed: %s", event.id, event.exception.splitlines()[0])

    def commit_offsets(self, metrics: QueryMetrics) -> None:
        """Commit the batch's processed offsets to the consumer group named after the query."""
        if not metrics.partitions:
            return
        committer = self._committers.get(metrics.query)
        if committer is None:
            committer = Consumer(
                self.kafka.client_config(**QUIET, **{"group.id": metrics.query, "enable.auto.commit": False})
            )
            self._committers[metrics.query] = committer
        offsets = [TopicPartition(p.topic, p.partition, p.processed) for p in metrics.partitions]
        for attempt in range(1, _COMMIT_TRIES + 1):
            try:
                committer.commit(offsets=offsets, asynchronous=False)
                return
            except KafkaException as exc:
                # A new group's coordinator is still loading on the first commit: wait, don't warn.
                if exc.args[0].code() in COORDINATOR_BUSY and attempt < _COMMIT_TRIES:
                    time.sleep(_COMMIT_WAIT_S)
                    continue
                log.warning("could not commit offsets of %s to its consumer group: %s", metrics.query, exc)
                return

    def detach(self, spark: SparkSession, timeout_s: float = 10.0) -> None:
        """Stop listening once the events already posted are handled (the last batch's progress too),
        then close: a listener left attached when Python exits makes Spark log a py4j stack trace."""
        try:
            spark.sparkContext._jsc.sc().listenerBus().waitUntilEmpty(int(timeout_s * 1000))
        except Exception as exc:  # the bus did not drain in time: the last progress may be missing
            log.warning("progress listener: events still queued after %.0fs (%s)", timeout_s, str(exc).splitlines()[0])
        spark.streams.removeListener(self)
        self.close()

    def close(self) -> None:
        self._producer.flush(5)
        for committer in self._committers.values():
            committer.close()
