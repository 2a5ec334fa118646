"""``await_queries`` on real streaming queries: a failure in any of a pipeline's queries stops the
rest and is reported, whichever query it is."""

from __future__ import annotations

import pytest

from streamwise.pipeline import PipelineError, await_queries


def test_a_failing_second_query_stops_the_first_and_is_reported(spark, tmp_path) -> None:
    """Setup: two queries on Spark's rate source; the first writes nothing and would run forever, the
    second raises in its foreachBatch at batch 2.
    Invariant: await_queries returns (it does not wait on the first query forever), raising
    PipelineError that names the second query and its error; afterwards neither query is active."""

    def fail_at_two(_df, batch_id: int) -> None:
        if batch_id == 2:
            raise ValueError("boom at batch 2")

    def start(name: str, fn) -> object:
        stream = spark.readStream.format("rate").option("rowsPerSecond", 10).load()
        return (
            stream.writeStream.queryName(name)
            .foreachBatch(fn)
            .trigger(processingTime="200 milliseconds")
            .option("checkpointLocation", str(tmp_path / name))
            .start()
        )

    forever = start("runner_forever", lambda _df, _batch_id: None)
    failing = start("runner_failing", fail_at_two)
    with pytest.raises(PipelineError, match="query runner_failing failed: ValueError: boom at batch 2"):
        await_queries([forever, failing])
    assert not forever.isActive and not failing.isActive
