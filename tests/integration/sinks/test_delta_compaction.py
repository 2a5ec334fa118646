"""Delta sink compaction on the real broker and Spark: OPTIMIZE every N micro-batches keeps the files a
reader meets bounded, keeps every row, and runs once per due batch id; and ``bench delta`` reports it."""

from __future__ import annotations

from pathlib import Path

from deltalake import DeltaTable

from streamwise.bench import BenchContext, get
from streamwise.config import Settings
from streamwise.pipeline.plan import Pipeline
from streamwise.pipeline.spec import KafkaSource, PipelineSpec
from streamwise.sinks import DeltaSink, sink_writer
from streamwise.sinks.delta_compaction import Compaction, DeltaCompactor, table_files

T0_MS = 1_767_225_600_000


def test_compaction_every_2_batches_bounds_files_keeps_rows_and_is_idempotent(
    spark, settings: Settings, tmp_path: Path
) -> None:
    """Setup: the plan's Delta sink writer (its idempotent append), then DeltaCompactor(every=2), called for batches 0-4 of 10 rows each (one file each),
    then batch 3 again, as Spark replays the last batch after a crash.
    Invariant: OPTIMIZE ran after batches 1 and 3 (2, then 3 files into 1); the table ends with 2
    files (the compacted one and batch 4's) of the 7 on disk and all 50 rows; the replayed batch 3
    appends nothing and its compaction is skipped (its tagged OPTIMIZE is in the history); batch 4
    is not due; the history holds 2 OPTIMIZE commits."""
    source = KafkaSource(topic="unused", schema="event_id BIGINT, page STRING, event_time LONG")
    sink = DeltaSink(type="delta", path=str(tmp_path / "table"))
    plan = Pipeline(PipelineSpec(name="compaction", source=source, sinks=[sink]), settings)
    append, compactor = (
        sink_writer(sink, settings, "compaction.0.delta"),
        DeltaCompactor(plan.sink_path(sink), "compaction.0.delta", every=2),
    )

    def write(batch_id: int) -> Compaction | None:
        rows = [(batch_id * 10 + i, "/a", T0_MS + i) for i in range(10)]
        batch = spark.createDataFrame(rows, "event_id BIGINT, page STRING, event_time BIGINT").coalesce(1)
        append(batch, batch_id)
        return compactor(batch.sparkSession, batch_id)

    done = [write(batch_id) for batch_id in range(5)]
    assert [(c.batch_id, c.files_removed, c.files_added) for c in done if c is not None] == [(1, 2, 1), (3, 3, 1)]
    assert write(3) == Compaction(3, skipped=True)
    assert compactor(spark, 4) is None

    files = table_files(plan.sink_path(sink))
    assert (files.active, files.on_disk) == (2, 5 + 2)
    table = DeltaTable(str(plan.sink_path(sink)))
    assert sorted(table.to_pyarrow_table(columns=["event_id"]).column("event_id").to_pylist()) == list(range(50))
    assert [c["operation"] for c in table.history()].count("OPTIMIZE") == 2


def test_bench_delta_reports_files_with_and_without_compaction(
    spark, settings: Settings, broker, tmp_path: Path
) -> None:
    """Setup: the ``delta`` benchmark on the session's broker and Spark: 40 events in one partition,
    4 batches of 10, compaction every 2, one timed read.
    Invariant: without compaction 4 files are read (peak 4); with it 1 (peak 3: the compacted file
    and 2 new ones before the second OPTIMIZE); both runs read all 40 rows; the report is written."""
    options = {"events": 40, "batches": 4, "compact_every": 2, "partitions": 1, "reads": 1, "spark": spark}
    report = get("delta").run(BenchContext(settings, options))
    figures = [
        (r["mode"], r["batches"], r["compactions"], r["files_active"], r["peak_files_active"], r["rows"])
        for r in report.rows
    ]
    assert figures == [("no compaction", 4, 0, 4, 4, 40), ("compact every 2", 4, 2, 1, 3, 40)]
    assert all(r["spark_read_ms"] > 0 and r["deltalake_read_ms"] > 0 for r in report.rows)
    assert report.write(tmp_path).name == "delta.json"
