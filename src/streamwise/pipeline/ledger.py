"""The late-data ledger: the records a stateful step dropped behind the watermark, with how late they
were and the watermark they missed, in a Delta table, instead of vanishing inside Spark.

The ledger follows Spark's own rule for the main query's own batches (see
:mod:`streamwise.pipeline.batches` for the watermark, ``WatermarkSupport.watermarkExpression`` for
the predicate): in batch N, a stateful operator drops an input row when its event-time key is at
or before the late-row watermark W (the ``batchWatermarkMs`` of batch N - 1):

- windows (tumbling, sliding): a (row, window) pair when ``window.end <= W``, so a row of a sliding
  window can be dropped from some of its windows and counted in the others; the ledger holds one
  entry per dropped pair, with that window's start and end;
- session windows: a row when its own session ``[event_time, event_time + gap)`` ends at or before W
  (Spark's restore step filters the per-row partial sessions before it merges them with the state,
  unless ``spark.sql.streaming.sessionWindow.merge.sessions.in.local.partition`` is set, which
  streamwise does not set);
- deduplication, anomaly state (an event-time timeout) and stream-stream joins: a row when
  ``event_time <= W``.

A record therefore ends in exactly one place: counted by the step, in the ledger, or (if it did
not decode) in the dead-letter topic. The rules are applied to the rows as they reach the first
stateful step (after the stateless steps before it, e.g. a filter), over exactly the offsets the
batch read; :class:`~streamwise.pipeline.settle.Settlement` decides when.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError
from pyspark.sql import functions as F

from streamwise.pipeline.spec import AnomalyStep, DeduplicateStep, JoinStep, Step, WindowStep
from streamwise.platform.storage import Location

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

STATEFUL = (WindowStep, DeduplicateStep, AnomalyStep, JoinStep)


def late_entries(rows: DataFrame, step: Step, watermark_ms: int) -> DataFrame:
    """The ledger entries of ``rows`` (as they reach the stateful ``step``) against the late-row
    watermark ``watermark_ms``: the rows' columns, ``window_start``/``window_end`` (null for a step
    without windows), ``watermark`` and ``lateness_ms`` (watermark - event time)."""
    watermark = F.timestamp_millis(F.lit(watermark_ms))
    if isinstance(step, WindowStep):
        if step.kind == "session":  # the row's own session, before Spark merges it (see the module docstring)
            window = F.struct(
                F.col("event_time").alias("start"), (F.col("event_time") + F.expr(f"INTERVAL {step.gap}")).alias("end")
            )
        elif step.kind == "sliding":
            window = F.window("event_time", step.interval("duration"), step.interval("slide"))
        else:
            window = F.window("event_time", step.interval("duration"))
        pairs = rows.select("*", window.alias("_w"))  # sliding: one row per window, as Spark's Expand makes
        dropped = pairs.where(F.col("_w.end") <= watermark).select(
            *rows.columns, F.col("_w.start").alias("window_start"), F.col("_w.end").alias("window_end")
        )
    else:
        none = F.lit(None).cast("timestamp")
        dropped = rows.where(F.col("event_time") <= watermark).select(
            *rows.columns, none.alias("window_start"), none.alias("window_end")
        )
    return dropped.select(
        "*", watermark.alias("watermark"), (F.lit(watermark_ms) - F.unix_millis("event_time")).alias("lateness_ms")
    )


class Ledger:
    """Appends batches' entries to the ledger's Delta table, each batch once: a commit carries the
    last batch id it covers (``txnAppId``/``txnVersion``), and the entries of batches up to the
    version already committed are left out, however a retry groups the batches."""

    def __init__(self, table: Location, app_id: str) -> None:
        self.table = table
        self.app_id = app_id

    def committed(self) -> int:
        """The last batch id whose entries are in the table (-1 before the first)."""
        try:
            version = DeltaTable(str(self.table)).transaction_version(self.app_id)
        except TableNotFoundError:
            return -1
        return -1 if version is None else version

    def append(self, entries: DataFrame, through: int) -> None:
        """Write ``entries`` (see :func:`late_entries`, with the ``ledger_batch_id`` each was dropped
        in) of the batches up to ``through``, but those already committed."""
        done = self.committed()
        if through <= done:
            return
        fresh = entries.where(F.col("ledger_batch_id") > done)
        writer = fresh.write.format("delta").mode("append").option("mergeSchema", "true")
        writer.option("txnAppId", self.app_id).option("txnVersion", through).save(str(self.table))
