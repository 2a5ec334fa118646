"""Steps: plain functions DataFrame -> DataFrame, all Spark SQL expressions executed in the JVM."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as F

from streamwise.pipeline.anomaly import detect_anomalies
from streamwise.pipeline.joins import join
from streamwise.pipeline.ml import score
from streamwise.pipeline.spec import (
    AnomalyStep,
    DeduplicateStep,
    FilterStep,
    JoinStep,
    ScoreStep,
    SelectStep,
    SqlStep,
    Step,
    TopNStep,
    WindowStep,
    WithColumnsStep,
    model_path,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

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
    return aggregated.select(
        F.col("window.start").alias("window_start"),
        F.col("window.end").alias("window_end"),
        *step.by,
        *step.aggregates,
    )


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
