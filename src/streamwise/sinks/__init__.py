"""Sinks written through ``foreachBatch``: PostgreSQL, Redis, Kafka alerts, webhooks.

Each sink is a pydantic config (``type`` tells them apart in a pipeline spec) and a writer that is
idempotent on (query name, batch id): a micro-batch Spark replays after a crash writes nothing twice.
A sink that is down is retried with bounded backoff; then the batch fails, and Spark replays it from
the checkpoint when the query restarts.
"""

from streamwise.sinks._batch import Batch, SinkStatus, SinkWriter, sink_status
from streamwise.sinks._retry import RetryPolicy, call_with_retries
from streamwise.sinks.config import (
    SINK_TYPES,
    ForeachBatchSink,
    KafkaAlertsSink,
    PostgresSink,
    RedisSink,
    WebhookSink,
)
from streamwise.sinks.exceptions import SinkDataError, SinkError, SinkUnavailableError
from streamwise.sinks.writer import foreach_batch_writer

__all__ = [
    "SINK_TYPES",
    "Batch",
    "ForeachBatchSink",
    "KafkaAlertsSink",
    "PostgresSink",
    "RedisSink",
    "RetryPolicy",
    "SinkDataError",
    "SinkError",
    "SinkStatus",
    "SinkUnavailableError",
    "SinkWriter",
    "WebhookSink",
    "call_with_retries",
    "foreach_batch_writer",
    "sink_status",
]
