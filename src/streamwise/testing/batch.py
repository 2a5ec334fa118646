"""Testing a pipeline's logic without a broker: ``run_batch(spark, spec, rows)`` runs the spec's
steps over rows given in Python, as one batch, and returns what its sinks would receive::

    out = run_batch(spark, load_pipeline(resolve("clickstream")), [
        {"user_id": "u1", "page": "/home", "event_time": 1_767_225_600_000}, ...])
    assert out.rows.to_dict("records") == [...]

The rows are decoded with the source's schema and checked as the stream checks records (a required
field missing, an event time Spark cannot trust): those come back in ``dead`` with their reason,
as the dead-letter topic would hold them. There is no Kafka record behind a row, so the Kafka
coordinates a stream carries (``kafka_partition``, ...) are absent. Windows close over the whole batch (there is no
watermark to wait for, so every window is final); the anomaly step keeps Spark state across
micro-batches and runs only in a stream: use :func:`~streamwise.testing.run_phases` for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from streamwise.config import Settings
from streamwise.pipeline import steps
from streamwise.pipeline.exceptions import PipelineError
from streamwise.pipeline.spec import AnomalyStep, PipelineSpec, interval_ms

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@dataclass(frozen=True)
class BatchRun:
    """What a batch run gave: the rows the sinks receive, and the rows that would be dead letters."""

    rows: pd.DataFrame
    dead: pd.DataFrame  # the input fields and dead_letter_reason


def run_batch(spark: SparkSession, spec: PipelineSpec, rows: Iterable[Mapping[str, Any]], settings: Settings | None = None) -> BatchRun:
    """Run ``spec``'s steps over ``rows`` (dicts with the source schema's fields; the event time in
    epoch ms) as one batch. ``settings`` is needed by join and score steps (the platform's)."""
    from pyspark.sql import functions as F

    from streamwise.pipeline import ddl

    if spec.source.format != "json" or spec.source.schema_ddl is None:
        raise PipelineError(f"run_batch needs a JSON source with a schema; {spec.name} reads {spec.source.format}",
                            hint="test an Avro pipeline with run_phases on the real broker")  # fmt: skip
    stateful = [i for i, step in enumerate(spec.steps) if isinstance(step, AnomalyStep)]
    if stateful:
        raise PipelineError(f"steps[{stateful[0]}] of {spec.name} is an anomaly step, which keeps state across "
                            "micro-batches and runs only in a stream", hint="use streamwise.testing.run_phases")  # fmt: skip
    schema = ddl.spark_schema(spec.source.schema_ddl)
    records = [tuple(row.get(field.name) for field in schema.fields) for row in rows]
    time_field = spec.event_time.field
    decoded = spark.createDataFrame(records, schema).select(
        *[F.col(f"`{name}`") for name in schema.fieldNames() if name != time_field],
        steps.millis_to_timestamp(F.col(f"`{time_field}`")).alias("event_time"),
        F.current_timestamp().alias("kafka_timestamp"),  # the clock max_future is measured from, as if sent now
    )  # fmt: skip
    reason = F.lit(None).cast("string")
    for name in [time_field, *spec.source.required]:
        column = "event_time" if name == time_field else f"`{name}`"
        reason = F.when(reason.isNull() & F.col(column).isNull(), F.lit(f"missing or mistyped field '{name}'")).otherwise(reason)
    checked = steps.check_event_time(decoded.withColumn("dead_letter_reason", reason), interval_ms(spec.event_time.max_future))
    dead = checked.where(F.col("dead_letter_reason").isNotNull()).drop("kafka_timestamp")
    out = checked.where(F.col("dead_letter_reason").isNull()).drop("dead_letter_reason", "kafka_timestamp")
    for step in spec.steps:
        out = steps.apply(out, step, settings)
    return BatchRun(rows=out.toPandas(), dead=dead.toPandas())
