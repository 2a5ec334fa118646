"""Joins: with a second stream (time-bounded, both sides watermarked so state is bounded), with
history in Delta, or with reference rows in a database (re-read every micro-batch)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from streamwise.config import PostgresSettings, Settings
from streamwise.pipeline import decode
from streamwise.pipeline.exceptions import PipelineError
from streamwise.pipeline.spec import DeltaSide, JdbcSide, JoinStep, StreamSide
from streamwise.platform.storage import data_root
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
        return spark.read.format("delta").load(str(warehouse_path(right.path, data_root(settings))))
    if isinstance(right, JdbcSide):
        return spark.read.format("jdbc").options(**jdbc_options(right, settings)).load()
    raise TypeError(f"unknown join side {right!r}")


def jdbc_options(side: JdbcSide, settings: Settings, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Spark JDBC options: the platform's PostgreSQL as the sinks' role by default; any other URL
    only with the spec's own ``user`` and the password in its ``password_env`` variable."""
    postgres = settings.postgres
    if side.url is None or is_platform_postgres(side.url, postgres):
        return {"url": postgres.jdbc_url, "dbtable": side.table, **postgres.jdbc_properties()}
    env = os.environ if environ is None else environ
    where = f"jdbc join on {side.table!r} to {redact_jdbc_url(side.url)}"
    if side.user is None or side.password_env is None:
        raise PipelineError(
            f"{where}: the join names no credentials of its own, and the platform's are only for its own PostgreSQL",
            hint="set user and password_env (the environment variable holding the password) on the join's right side",
        )
    password = env.get(side.password_env)
    if not password:
        raise PipelineError(
            f"{where}: environment variable {side.password_env} (its password_env) is not set",
            hint=f"export {side.password_env} with the password of {side.user!r} before starting the pipeline",
        )
    return {
        "url": side.url,
        "dbtable": side.table,
        "driver": "org.postgresql.Driver",
        "user": side.user,
        "password": password,
    }


_JDBC_URL = re.compile(r"^jdbc:postgresql://(?P<host>\[[^\]]+\]|[^:/?]*)(?::(?P<port>\d+))?/(?P<db>[^?;]*)")
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


def is_platform_postgres(url: str, postgres: PostgresSettings) -> bool:
    """True when the JDBC ``url`` names the platform's own database (host, port and database;
    ``localhost`` and ``127.0.0.1`` are one host)."""
    match = _JDBC_URL.match(url)
    if match is None:
        return False
    host = match["host"].lower() or "localhost"
    same_host = host == postgres.host.lower() or (host in _LOOPBACK and postgres.host.lower() in _LOOPBACK)
    return same_host and int(match["port"] or 5432) == postgres.port and match["db"] == postgres.database


def redact_jdbc_url(url: str) -> str:
    """``url`` without its parameters (a JDBC URL may carry ``password=`` in them)."""
    return re.split(r"[?;]", url, maxsplit=1)[0]


def join(df: DataFrame, step: JoinStep, settings: Settings) -> DataFrame:
    """``df`` as ``l`` joined with the other side as ``r`` on ``step.on``; right columns renamed."""
    right = other_side(df, step, settings)
    keep = step.columns or right.columns
    joined = df.alias("l").join(right.alias("r"), F.expr(step.condition), step.how)
    if step.how in ("left_semi", "left_anti"):
        return joined
    return joined.select("l.*", *[F.col(f"r.`{name}`").alias(f"{step.prefix}{name}") for name in keep])
