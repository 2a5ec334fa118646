"""Delta sink: each micro-batch appended once, through Delta's own idempotent writes.

The append carries ``txnAppId`` (the sink writer's id) and ``txnVersion`` (the batch id): Delta
records the pair in the same commit as the data, and skips a write whose version it has already
seen for that app id, so a batch Spark replays after a crash is not appended twice. Written from
the executors (no rows pass through the driver). ``compact_every`` runs OPTIMIZE after the append.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamwise.platform.storage import Location
from streamwise.sinks._batch import SinkWriter
from streamwise.sinks._retry import RetryPolicy
from streamwise.sinks.config import DeltaSink
from streamwise.sinks.delta_compaction import DeltaCompactor

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


class DeltaWriter(SinkWriter["tuple[DataFrame, int]"]):
    """Appends micro-batches to the Delta table at ``path``."""

    sink_type = "delta"

    def __init__(self, sink: DeltaSink, path: Location, query: str) -> None:
        # A failed Delta commit is not a sink that is down: Spark's task retries already ran; fail the batch.
        super().__init__(query, RetryPolicy(attempts=1))
        self.sink = sink
        self.path = path
        self.compactor = DeltaCompactor(path, query, sink.compact_every) if sink.compact_every else None

    def prepare(self, df: DataFrame, batch_id: int) -> tuple[DataFrame, int]:
        return df, batch_id

    def write(self, batch: tuple[DataFrame, int]) -> bool:
        df, batch_id = batch
        writer = df.write.format("delta").mode("append").option("txnAppId", self.query).option("txnVersion", batch_id)
        writer = writer.partitionBy(*self.sink.partition_by) if self.sink.partition_by else writer
        writer.save(str(self.path))
        if self.compactor is not None:
            self.compactor(df.sparkSession, batch_id)
        return True  # a replay is skipped inside Delta's commit, which does not say so
