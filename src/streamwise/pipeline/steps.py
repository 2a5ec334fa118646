"""Steps: plain functions DataFrame -> DataFrame, all Spark SQL expressions executed in the JVM."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import functions as F

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

CORRUPT = "_corrupt_record"


def parse_json(raw: DataFrame, schema_ddl: str, *, required: list[str], time_field: str = "event_time") -> DataFrame:
    """Decode Kafka ``value`` bytes as JSON with ``schema_ddl``; keep the Kafka coordinates.

    ``time_field`` holds epoch milliseconds on the wire and becomes the ``event_time`` timestamp.
    Adds ``dead_letter_reason``: null for a good record, else why it cannot be used (see
    :func:`dead_letters` and :func:`valid`).
    """
    parsed = F.from_json(
        F.col("value").cast("string"),
        f"{schema_ddl}, {CORRUPT} STRING",
        {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT},
    )
    fields = [name.strip().split()[0] for name in schema_ddl.split(",")]
    decoded = raw.select("key", "value", "topic", "partition", "offset", "timestamp", parsed.alias("v"))
    return decoded.select(
        "key", "value", "topic", "partition", "offset",
        F.col("timestamp").alias("kafka_timestamp"),
        *[F.col(f"v.{name}").alias(name) for name in fields if name != time_field],
        F.timestamp_millis(F.col(f"v.{time_field}")).alias("event_time"),
        _reason(required, time_field).alias("dead_letter_reason"),
    )  # fmt: skip


def _reason(required: list[str], time_field: str) -> Column:
    reason = F.when(F.col("value").isNull(), F.lit("empty value"))
    reason = reason.when(F.col(f"v.{CORRUPT}").isNotNull(), F.lit("not valid JSON for the schema"))
    for name in [time_field, *required]:
        reason = reason.when(F.col(f"v.{name}").isNull(), F.lit(f"missing or mistyped field '{name}'"))
    return reason


def valid(parsed: DataFrame) -> DataFrame:
    """The records that decoded, without Kafka's raw bytes."""
    return parsed.where(F.col("dead_letter_reason").isNull()).drop("key", "value", "dead_letter_reason")


def dead_letters(parsed: DataFrame) -> DataFrame:
    """Records that did not decode, shaped for Kafka's sink: original key and bytes, the reason and the
    source coordinates in headers."""
    header = lambda name, col: F.struct(F.lit(name).alias("key"), col.cast("string").cast("binary").alias("value"))  # noqa: E731
    return parsed.where(F.col("dead_letter_reason").isNotNull()).select(
        "key",
        F.coalesce(F.col("value"), F.lit(b"").cast("binary")).alias("value"),
        F.array(
            header("dlq.reason", F.col("dead_letter_reason")),
            header("dlq.source.topic", F.col("topic")),
            header("dlq.source.partition", F.col("partition")),
            header("dlq.source.offset", F.col("offset")),
        ).alias("headers"),
    )


def tumbling_count(events: DataFrame, *, by: list[str], window: str, watermark: str, count_as: str) -> DataFrame:
    """Count events per ``by`` in tumbling event-time windows; late data beyond ``watermark`` is dropped
    by Spark, and a window is emitted once the watermark passes its end (append mode)."""
    counted = (
        events.withWatermark("event_time", watermark)
        .groupBy(F.window("event_time", window), *by)
        .agg(F.count(F.lit(1)).alias(count_as))
    )
    return counted.select(
        F.col("window.start").alias("window_start"), F.col("window.end").alias("window_end"), *by, count_as
    )
