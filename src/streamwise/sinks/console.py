"""Console sink: print each micro-batch (for trying a pipeline out; it keeps nothing)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamwise.sinks._batch import SinkWriter
from streamwise.sinks._retry import RetryPolicy
from streamwise.sinks.config import ConsoleSink

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


class ConsoleWriter(SinkWriter["DataFrame"]):
    """Shows up to ``sink.rows`` rows of each batch on standard output."""

    sink_type = "console"

    def __init__(self, sink: ConsoleSink, query: str) -> None:
        super().__init__(query, RetryPolicy(attempts=1))
        self.sink = sink

    def prepare(self, df: DataFrame, batch_id: int) -> DataFrame:
        return df

    def write(self, batch: DataFrame) -> bool:
        # Read the whole batch, as Spark's own console sink does: a bare show() reads only the rows it
        # prints, and the query's progress would count only those as input.
        own_cache = not batch.is_cached
        cached = batch.persist() if own_cache else batch
        try:
            total = cached.count()
            print(f"{self.query}: {total} rows")
            cached.show(self.sink.rows, truncate=False)
        finally:
            if own_cache:
                cached.unpersist()
        return True
