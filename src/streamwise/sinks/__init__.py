"""Every sink a pipeline writes to: Delta, Kafka (plain and alerts), console, PostgreSQL, Redis, webhooks.

Each sink is a pydantic config (``type`` tells them apart in a pipeline spec) and a writer behind one
interface, :class:`SinkWriter`: a ``(DataFrame, batch_id)`` function the pipeline's single
``foreachBatch`` calls, idempotent on (writer id, batch id), so a micro-batch Spark replays after a
crash writes nothing twice. A sink that is down is retried with bounded backoff; then the batch
fails, and Spark replays it from the checkpoint when the query restarts. A single row a sink cannot
take (PostgreSQL, Redis, webhooks) goes with its reason to the sink's dead-letter topic ``<name>.dlq``,
exactly once, and the rest of the batch is written (:mod:`streamwise.sinks.dead_letters`). A webhook's
URL and credential headers never show in logs, errors or dead letters, and its targets on private
addresses are refused unless allowed; a Redis key template may not address streamwise's own keys.

Owns the sink configs and writers. May import platform and config; the pipeline, verify and
testing import it.
"""

from streamwise.sinks._batch import Batch, RowSinkWriter, SinkStatus, SinkWriter, sink_status
from streamwise.sinks._retry import RetryPolicy, call_with_retries
from streamwise.sinks.config import (
    SINK_TYPES,
    ConsoleSink,
    DeltaSink,
    KafkaAlertsSink,
    KafkaSink,
    PostgresSink,
    RedisSink,
    Sink,
    TopicSink,
    WebhookSink,
    sink_location,
    warehouse_path,
)
from streamwise.sinks.exceptions import SinkDataError, SinkError, SinkUnavailableError
from streamwise.sinks.writer import sink_writer

__all__ = [
    "SINK_TYPES",
    "Batch",
    "ConsoleSink",
    "DeltaSink",
    "KafkaAlertsSink",
    "KafkaSink",
    "PostgresSink",
    "RedisSink",
    "RetryPolicy",
    "RowSinkWriter",
    "Sink",
    "SinkDataError",
    "SinkError",
    "SinkStatus",
    "SinkUnavailableError",
    "SinkWriter",
    "TopicSink",
    "WebhookSink",
    "call_with_retries",
    "sink_location",
    "sink_status",
    "sink_writer",
    "warehouse_path",
]
