"""Testing a pipeline's logic without a broker: ``run_batch(spark, spec, rows)`` runs the spec's
steps over rows given in Python, as one batch, and returns what its sinks would receive::

    out = run_batch(spark, load_pipeline(resolve("clickstream")), [
        {"user_id": "u1", "page": "/home", "event_time": 1_767_225_600_000}, ...])
    assert out.rows.to_dict("records") == [...]

The rows become the JSON records a producer would send, and are decoded and checked by the
stream's own code (a required field missing, an event time Spark cannot trust): those come back in
``dead`` with their reason, as the dead-letter topic would hold them. Their Kafka coordinates are
stand-ins: the source topic, partition 0, the row's index as offset, now as timestamp. Windows close over the whole batch (there is no
watermark to wait for, so every window is final); the anomaly step keeps Spark state across
micro-batches and runs only in a stream: use :func:`~streamwise.testing.run_phases` for it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd
from pyspark.sql import functions as F

from streamwise.config import Settings
from streamwise.pipeline import decode, steps
from streamwise.pipeline.exceptions import PipelineError
from streamwise.pipeline.spec import AnomalyStep, PipelineSpec, interval_ms

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# Spark's Kafka source columns, which the stream's decoding reads.
RAW_SCHEMA = "key BINARY, value BINARY, topic STRING, partition INT, offset LONG, timestamp TIMESTAMP"


@dataclass(frozen=True)
class BatchRun:
    """What a batch run gave: the rows the sinks receive, and the rows that would be dead letters."""

    rows: pd.DataFrame
    dead: pd.DataFrame  # the decoded fields, the stand-in Kafka coordinates and dead_letter_reason


def run_batch(
    spark: SparkSession, spec: PipelineSpec, rows: Iterable[Mapping[str, Any]], settings: Settings | None = None
) -> BatchRun:
    """Run ``spec``'s steps over ``rows`` (dicts with the source schema's fields; the event time in
    epoch ms) as one batch. ``settings`` is needed by join and score steps (the platform's)."""
    if spec.source.format != "json" or spec.source.schema_ddl is None:
        raise PipelineError(
            f"run_batch needs a JSON source with a schema; {spec.name} reads {spec.source.format}",
            hint="test an Avro pipeline with run_phases on the real broker",
        )
    stateful = [i for i, step in enumerate(spec.steps) if isinstance(step, AnomalyStep)]
    if stateful:
        raise PipelineError(
            f"steps[{stateful[0]}] of {spec.name} is an anomaly step, which keeps state across "
            "micro-batches and runs only in a stream",
            hint="use streamwise.testing.run_phases",
        )
    # The rows as the Kafka records a producer would send (JSON values, stamped now), decoded and
    # checked by the stream's own code.
    now = datetime.now(UTC)
    raw = spark.createDataFrame(
        [(None, json.dumps(dict(row)).encode(), spec.source.topic, 0, offset, now) for offset, row in enumerate(rows)],
        RAW_SCHEMA,
    )
    parsed = decode.parse_json(
        raw, spec.source.schema_ddl, required=spec.source.required, time_field=spec.event_time.field
    )
    checked = decode.check_event_time(parsed, interval_ms(spec.event_time.max_future))
    dead = checked.where(F.col("dead_letter_reason").isNotNull()).drop("kafka_key", "kafka_value")
    out = decode.valid(checked)
    for step in spec.steps:
        out = steps.apply(out, step, settings)
    return BatchRun(rows=out.toPandas(), dead=dead.toPandas())
