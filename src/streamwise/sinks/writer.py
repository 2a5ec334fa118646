"""The one entry point the pipeline plan calls: a ``foreachBatch`` function for a sink config."""

from __future__ import annotations

from streamwise.config import Settings
from streamwise.sinks._batch import SinkWriter
from streamwise.sinks.config import KafkaAlertsSink, PostgresSink, RedisSink, WebhookSink


def foreach_batch_writer(
    sink: PostgresSink | RedisSink | KafkaAlertsSink | WebhookSink, settings: Settings, query_name: str
) -> SinkWriter:
    """A ``(DataFrame, batch_id) -> None`` writer for ``writeStream.foreachBatch``, idempotent on
    (query_name, batch_id). ``query_name`` must be stable across restarts (it keys the markers).

    Example: ``df.writeStream.foreachBatch(foreach_batch_writer(sink, settings, "clicks_postgres_0"))``
    """
    if isinstance(sink, PostgresSink):
        from streamwise.sinks.postgres import PostgresWriter

        return PostgresWriter(sink, settings.postgres, query_name)
    if isinstance(sink, RedisSink):
        from streamwise.sinks.redis import RedisWriter

        return RedisWriter(sink, settings.redis, query_name)
    if isinstance(sink, KafkaAlertsSink):
        from streamwise.sinks.kafka_alerts import KafkaAlertsWriter

        return KafkaAlertsWriter(sink, settings.kafka, query_name)
    if isinstance(sink, WebhookSink):
        from streamwise.sinks.webhook import WebhookWriter

        return WebhookWriter(sink, settings.kafka, query_name)
    raise TypeError(f"no foreachBatch writer for sink {sink!r}")
