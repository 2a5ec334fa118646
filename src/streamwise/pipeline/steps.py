"""Steps: plain functions DataFrame -> DataFrame, all Spark SQL expressions executed in the JVM."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as F

from streamwise.pipeline.anomaly import detect_anomalies
from streamwise.pipeline.exceptions import PipelineError
from streamwise.pipeline.joins import join
from streamwise.pipeline.ml import score
from streamwise.pipeline.spec import (
    AnomalyStep,
    DeduplicateStep,
    FilterStep,
    JoinStep,
    RepartitionStep,
    ScoreStep,
    SelectStep,
    SqlStep,
    Step,
    TopNStep,
    WindowStep,
    WithColumnsStep,
    model_path,
    split_aggregate,
)

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame
    from pyspark.sql.types import StructType

    from streamwise.config import Settings


def filter_rows(df: DataFrame, step: FilterStep) -> DataFrame:
    return df.where(F.expr(step.where))


def select_columns(df: DataFrame, step: SelectStep) -> DataFrame:
    return df.select(*[F.expr(expr).alias(name) for name, expr in step.columns.items()])


def with_columns(df: DataFrame, step: WithColumnsStep) -> DataFrame:
    return df.withColumns({name: F.expr(expr) for name, expr in step.columns.items()})


def sql(df: DataFrame, step: SqlStep) -> DataFrame:
    """Run the step's query with ``{input}`` bound to a temporary view of ``df`` (streaming or not)."""
    view = f"streamwise_input_{uuid.uuid4().hex[:12]}"
    df.createOrReplaceTempView(view)
    return df.sparkSession.sql(step.query.replace("{input}", view))


def window_aggregate(df: DataFrame, step: WindowStep) -> DataFrame:
    """Aggregate per event-time window (and ``by``); outputs window_start, window_end, by..., aggregates.

    In append mode a window is emitted once the watermark passes its end; rows older than the
    watermark are dropped by Spark before they reach the state.
    """
    if step.kind == "session":
        window = F.session_window("event_time", step.interval("gap"))
    elif step.kind == "sliding":
        window = F.window("event_time", step.interval("duration"), step.interval("slide"))
    else:
        window = F.window("event_time", step.interval("duration"))
    grouped = df.groupBy(window.alias("window"), *step.by)
    aggregated = grouped.agg(*[F.expr(expr).alias(name) for name, expr in step.aggregates.items()])
    if step.salt is not None:
        aggregated = salted_aggregate(df, window, step, aggregated.schema)
    return aggregated.select(
        F.col("window.start").alias("window_start"),
        F.col("window.end").alias("window_end"),
        *step.by,
        *step.aggregates,
    )


SALT_COLUMN = "_streamwise_salt"


def salt_column(df: DataFrame, buckets: int) -> Column:
    """A bucket 0..buckets-1 for each row, the same whenever the row is read again (a replayed batch
    fills the same state): the hash of its Kafka partition and offset, which spreads even one key's
    rows evenly; the hash of every column when a step dropped those."""
    coordinates = ["kafka_partition", "kafka_offset"]
    hashed = coordinates if set(coordinates) <= set(df.columns) else df.columns
    return F.pmod(F.xxhash64(*[F.col(f"`{name}`") for name in hashed]), F.lit(buckets))


def salted_aggregate(df: DataFrame, window: Column, step: WindowStep, schema: StructType) -> DataFrame:
    """The window's aggregates in two stages (two chained streaming aggregations, append mode): each
    is computed per (window, by, salt bucket), where a hot key's rows are spread over ``salt`` groups
    and so over several shuffle tasks, then those partial results merged per (window, by): counts
    and sums summed, minima and maxima taken again, averages as the sum of sums over the sum of
    counts. Each result is cast to the type the one-stage aggregate has, so the rows are the same."""
    partial: list[Column] = []
    final: dict[str, Column] = {}
    for index, (name, expr) in enumerate(step.aggregates.items()):
        split = split_aggregate(expr)
        if split is None:  # the spec's validator refuses these when salt is set
            raise PipelineError(f"window aggregate {name}: {expr!r} cannot be aggregated in two stages")
        function, argument = split
        part = f"_streamwise_part{index}"
        if function in ("avg", "mean"):
            partial += [F.expr(f"sum({argument})").alias(f"{part}_sum"), F.expr(f"count({argument})").alias(part)]
            merged = F.sum(f"{part}_sum") / F.nullif(F.sum(part), F.lit(0))
        else:
            partial.append(F.expr(f"{function}({argument})").alias(part))
            merged = getattr(F, "sum" if function == "count" else function)(part)
        final[name] = merged.cast(schema[name].dataType).alias(name)
    buckets = df.groupBy(window.alias("window"), *step.by, salt_column(df, step.salt or 1).alias(SALT_COLUMN))
    # The second aggregation groups on the first one's window column, which carries its event time:
    # Spark then closes a window in both once the watermark passes its end.
    return buckets.agg(*partial).groupBy("window", *step.by).agg(*final.values())


def repartition(df: DataFrame, step: RepartitionStep) -> DataFrame:
    """Rows spread over ``partitions`` tasks: round-robin, by ``by``, or by ``by`` and a salt bucket."""
    if not step.by:
        return df.repartition(step.partitions)
    if step.salt is None:
        return df.repartition(step.partitions, *step.by)
    salted = df.withColumn(SALT_COLUMN, salt_column(df, step.salt))
    return salted.repartition(step.partitions, *step.by, SALT_COLUMN).drop(SALT_COLUMN)


def deduplicate(df: DataFrame, step: DeduplicateStep) -> DataFrame:
    """Drop rows whose keys were already seen within the watermark (state expires with it).

    A batch DataFrame has no watermark: there the whole batch is the scope.
    """
    return df.dropDuplicatesWithinWatermark(step.keys) if df.isStreaming else df.dropDuplicates(step.keys)


def anomaly(df: DataFrame, step: AnomalyStep) -> DataFrame:
    """Per-key stateful anomaly detection (see :mod:`streamwise.pipeline.anomaly`)."""
    return detect_anomalies(df, step)


def top_n(df: DataFrame, step: TopNStep) -> DataFrame:
    """The ``n`` first rows of each ``partition_by`` group by ``order_by``, ranked 1..n (batch only)."""
    partition = ", ".join(f"`{name}`" for name in step.partition_by)
    over = f"(PARTITION BY {partition} ORDER BY {step.order_by})" if partition else f"(ORDER BY {step.order_by})"
    ranked = df.withColumn(step.rank_as, F.expr(f"row_number() OVER {over}"))
    return ranked.where(F.col(step.rank_as) <= step.n)


STEPS: dict[type, Callable[[DataFrame, Any], DataFrame]] = {
    FilterStep: filter_rows,
    SelectStep: select_columns,
    WithColumnsStep: with_columns,
    SqlStep: sql,
    WindowStep: window_aggregate,
    DeduplicateStep: deduplicate,
    AnomalyStep: anomaly,
    TopNStep: top_n,
    RepartitionStep: repartition,
}


def apply(df: DataFrame, step: Step, settings: Settings | None = None) -> DataFrame:
    """Apply one configured step; joins need ``settings`` to reach the other side."""
    if isinstance(step, ScoreStep):
        if settings is None:
            raise ValueError("a score step needs the platform settings")
        return score(df, step, model_path(step.model, settings.state))
    if isinstance(step, JoinStep):
        if settings is None:
            raise ValueError("a join step needs the platform settings")
        return join(df, step, settings)
    return STEPS[type(step)](df, step)
