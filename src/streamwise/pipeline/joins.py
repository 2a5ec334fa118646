"""Joins: with a second stream (time-bounded, both sides watermarked so state is bounded), with
history in Delta, or with reference rows in a database (re-read every micro-batch)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from streamwise.config import Settings
from streamwise.pipeline import decode
from streamwise.pipeline.spec import DeltaSide, JdbcSide, JoinStep, StreamSide
from streamwise.sinks import warehouse_path

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def other_side(df: DataFrame, step: JoinStep, settings: Settings) -> DataFrame:
    """The right-hand DataFrame of ``step``."""
    spark = df.sparkSession
    right = step.right
    if isinstance(right, StreamSide):
        reader = spark.readStream.format("kafka").options(**settings.kafka.spark_options())
        raw = reader.option("subscribe", right.topic).option("startingOffsets", right.starting_offsets).load()
        parsed = decode.valid(decode.parse_json(raw, right.schema_ddl, required=right.required))
        return parsed.withWatermark("event_time", right.watermark)
    if isinstance(right, DeltaSide):
        return spark.read.format("delta").load(str(warehouse_path(right.path, settings.state)))
    if isinstance(right, JdbcSide):
        return spark.read.format("jdbc").options(**jdbc_options(right, settings)).load()
    raise TypeError(f"unknown join side {right!r}")


def jdbc_options(side: JdbcSide, settings: Settings) -> dict[str, str]:
    """Spark JDBC options; the URL and credentials default to the platform's PostgreSQL."""
    postgres = settings.postgres
    return {
        "url": side.url or postgres.jdbc_url,
        "dbtable": side.table,
        "driver": "org.postgresql.Driver",
        "user": side.user or postgres.user,
        "password": side.password or postgres.password.get_secret_value(),
    }


def join(df: DataFrame, step: JoinStep, settings: Settings) -> DataFrame:
    """``df`` as ``l`` joined with the other side as ``r`` on ``step.on``; right columns renamed."""
    right = other_side(df, step, settings)
    keep = step.columns or right.columns
    joined = df.alias("l").join(right.alias("r"), F.expr(step.condition), step.how)
    if step.how in ("left_semi", "left_anti"):
        return joined
    return joined.select("l.*", *[F.col(f"r.`{name}`").alias(f"{step.prefix}{name}") for name in keep])
