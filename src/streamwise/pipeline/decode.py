"""Decoding Kafka records for a pipeline: JSON values into columns, and which records are dead letters.

Every decoder (this one for JSON, :mod:`streamwise.pipeline.avro` for Confluent Avro) answers the same
shape: the Kafka coordinates under ``kafka_`` names, the event's fields, ``event_time`` and
``dead_letter_reason`` (null for a good record). :func:`valid` and :func:`dead_letters` then split it,
so a record that cannot be used keeps its bytes and its reason instead of failing the query.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from streamwise.pipeline import ddl
from streamwise.platform import dead_letters as dlq

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

CORRUPT = "_corrupt_record"
# Kafka's own columns, renamed so that an event field called value, key, topic or offset never clashes.
KAFKA_COLUMNS = ("kafka_key", "kafka_value", "kafka_topic", "kafka_partition", "kafka_offset", "kafka_timestamp")


def kafka_record(raw: DataFrame) -> DataFrame:
    """Spark's Kafka source columns under their ``kafka_`` names (see :data:`KAFKA_COLUMNS`)."""
    return raw.select(*[F.col(name.removeprefix("kafka_")).alias(name) for name in KAFKA_COLUMNS])


def parse_json(
    raw: DataFrame,
    schema_ddl: str,
    *,
    required: list[str],
    time_field: str = "event_time",
    require_key: bool = False,
) -> DataFrame:
    """Decode Kafka ``value`` bytes as JSON with ``schema_ddl`` (parsed by Spark, so any Spark DDL works:
    ``DECIMAL(10,2)``, ``MAP<…>``, ``STRUCT<…>``, backticked names, comments); keep the Kafka coordinates.

    ``time_field`` holds epoch milliseconds on the wire and becomes the ``event_time`` timestamp.
    Adds ``dead_letter_reason``: null for a good record, else why it cannot be used (see
    :func:`dead_letters` and :func:`valid`); with ``require_key`` a record without a key is one.
    """
    schema = ddl.spark_schema(schema_ddl)
    parsed = F.from_json(
        F.col("kafka_value").cast("string"),
        StructType([*schema.fields, StructField(CORRUPT, StringType())]),
        {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT},
    )
    decoded = kafka_record(raw).select(*KAFKA_COLUMNS, parsed.alias("v"))
    return decoded.select(
        *KAFKA_COLUMNS,
        *[_field(name).alias(name) for name in schema.fieldNames() if name != time_field],
        millis_to_timestamp(_field(time_field)).alias("event_time"),
        _reason(required, time_field, require_key).alias("dead_letter_reason"),
    )


# Spark keeps a timestamp as microseconds in a long: epoch milliseconds beyond this overflow it.
MAX_EPOCH_MS = 9_223_372_036_854_775


def millis_to_timestamp(ms: Column) -> Column:
    """Epoch milliseconds as a timestamp, null where Spark's timestamp cannot hold them (instead of
    an overflow error that would fail the query on every retry of the batch)."""
    return F.when(ms.between(-MAX_EPOCH_MS, MAX_EPOCH_MS), F.timestamp_millis(ms))


def check_event_time(parsed: DataFrame, max_future_ms: int) -> DataFrame:
    """Make a dead letter of a decoded record whose event time would corrupt the watermark: one
    Spark cannot hold, one before 1970, or one more than ``max_future_ms`` after the record's Kafka
    timestamp. A single such record would move the watermark (the newest event time seen) far
    ahead and every on-time record after it would be dropped as late. The Kafka timestamp is the
    clock, not the driver's: a batch read again later must classify its records the same way."""
    event_ms, kafka_ms = F.unix_millis(F.col("event_time")), F.unix_millis(F.col("kafka_timestamp"))
    reason = F.when(F.col("dead_letter_reason").isNotNull(), F.col("dead_letter_reason"))
    reason = reason.when(
        F.col("event_time").isNull(), F.lit(f"event time out of range: beyond ±{MAX_EPOCH_MS} epoch milliseconds")
    )
    reason = reason.when(
        event_ms < 0,
        F.concat(
            F.lit("event time "),
            event_ms.cast("string"),
            F.lit(" ms is before 1970-01-01 (negative epoch milliseconds)"),
        ),
    )
    reason = reason.when(
        event_ms > kafka_ms + F.lit(max_future_ms),
        F.concat(
            F.lit("event time "),
            F.date_format("event_time", "yyyy-MM-dd'T'HH:mm:ss.SSSX"),
            F.lit(" is "),
            ((event_ms - kafka_ms) / 1000).cast("long").cast("string"),
            F.lit(f" s after its Kafka timestamp, more than event_time.max_future ({max_future_ms // 1000} s)"),
        ),
    )
    return parsed.withColumn("dead_letter_reason", reason)


def _field(name: str) -> Column:
    """A decoded field by its exact name (which may hold dots or spaces)."""
    return F.col("v").getField(name)


TOMBSTONE = "tombstone: null value (a delete marker; this pipeline reads events)"
NULL_KEY = (
    "null key: the source has require_key: true and this record has none; "
    "produce it with a key (the entity it is about), or set require_key: false"
)


def value_reason(expected: str) -> Column:
    """The first reasons of every decoder, about the record's value before its format: a tombstone
    (null value: a delete marker) and an empty value (0 bytes: a producer sent nothing). ``expected``
    names what a value should hold. A chain of ``when``: each decoder adds its own reasons after these,
    and :func:`key_reason` last."""
    value = F.col("kafka_value")
    reason = F.when(value.isNull(), F.lit(TOMBSTONE))
    return reason.when(F.length(value) == 0, F.lit(f"empty value: 0 bytes where {expected} was expected"))


def key_reason(reason: Column, *, require_key: bool) -> Column:
    """``reason``, then with ``require_key`` a record without a key. Last, after the value's reasons:
    a record whose value is unusable is told so first, as that is what its producer must fix first."""
    return reason.when(F.col("kafka_key").isNull(), F.lit(NULL_KEY)) if require_key else reason


def _reason(required: list[str], time_field: str, require_key: bool) -> Column:
    reason = value_reason("a JSON event")
    reason = reason.when(_field(CORRUPT).isNotNull(), F.lit("not valid JSON for the schema"))
    for name in [time_field, *required]:
        reason = reason.when(_field(name).isNull(), F.lit(f"missing or mistyped field '{name}'"))
    return key_reason(reason, require_key=require_key)


def valid(parsed: DataFrame) -> DataFrame:
    """The records that decoded, without Kafka's raw bytes (their coordinates stay, for lineage)."""
    return parsed.where(F.col("dead_letter_reason").isNull()).drop("kafka_key", "kafka_value", "dead_letter_reason")


def dead_letters(parsed: DataFrame) -> DataFrame:
    """Records that did not decode, shaped for Kafka's sink: original key and bytes, the reason and the
    source coordinates in headers."""
    key, value, headers = dead_letter_columns()
    return parsed.where(F.col("dead_letter_reason").isNotNull()).select(
        key.alias("key"), value.alias("value"), headers.alias("headers")
    )


def dead_letter_columns() -> tuple[Column, Column, Column]:
    """A decoded record's dead letter as Kafka's sink takes it: its original key and bytes, and
    headers with the reason and the source coordinates."""
    header = lambda name, col: F.struct(F.lit(name).alias("key"), col.cast("string").cast("binary").alias("value"))
    headers = F.array(
        header(dlq.REASON, F.col("dead_letter_reason")),
        header(dlq.SOURCE_TOPIC, F.col("kafka_topic")),
        header(dlq.SOURCE_PARTITION, F.col("kafka_partition")),
        header(dlq.SOURCE_OFFSET, F.col("kafka_offset")),
    )
    return F.col("kafka_key"), F.coalesce(F.col("kafka_value"), F.lit(b"").cast("binary")), headers
