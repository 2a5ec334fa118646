"""The one entry point the pipeline plan calls: the writer of a sink config."""

from __future__ import annotations

from streamwise.config import Settings
from streamwise.platform.storage import data_root
from streamwise.sinks._batch import SinkWriter
from streamwise.sinks.config import (
    ConsoleSink,
    DeltaSink,
    KafkaAlertsSink,
    KafkaSink,
    PostgresSink,
    RedisSink,
    Sink,
    WebhookSink,
    warehouse_path,
)
from streamwise.sinks.console import ConsoleWriter
from streamwise.sinks.delta import DeltaWriter
from streamwise.sinks.kafka import TopicWriter
from streamwise.sinks.postgres import PostgresWriter
from streamwise.sinks.redis import RedisWriter
from streamwise.sinks.webhook import WebhookWriter


def sink_writer(sink: Sink, settings: Settings, writer_id: str) -> SinkWriter:
    """A ``(DataFrame, batch_id) -> None`` writer for ``writeStream.foreachBatch``, idempotent on
    (writer_id, batch_id). ``writer_id`` must be stable across restarts of one checkpoint (it keys the
    markers) and differ between checkpoints (see :class:`streamwise.pipeline.layout.PipelineLayout`).

    Example: ``df.writeStream.foreachBatch(sink_writer(sink, settings, "clicks.0.postgres@5f3c9a1e"))``
    """
    if isinstance(sink, DeltaSink):
        return DeltaWriter(sink, warehouse_path(sink.path, data_root(settings)), writer_id)
    if isinstance(sink, ConsoleSink):
        return ConsoleWriter(sink, writer_id)
    if isinstance(sink, PostgresSink):
        return PostgresWriter(sink, settings.postgres, writer_id, settings.kafka)
    if isinstance(sink, RedisSink):
        return RedisWriter(sink, settings.redis, writer_id, settings.kafka)
    if isinstance(sink, KafkaSink | KafkaAlertsSink):
        return TopicWriter(sink, settings.kafka, writer_id)
    if isinstance(sink, WebhookSink):
        return WebhookWriter(sink, settings.kafka, writer_id)
    raise TypeError(f"no writer for sink {sink!r}")
