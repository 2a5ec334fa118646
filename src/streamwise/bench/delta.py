"""``bench delta``: a pass-through pipeline writing many small micro-batches to a Delta sink, once
without compaction and once compacting every N batches; files left and the time to read them.

Both runs read the same produced events (clickstream, JSON) with ``availableNow`` and
``maxOffsetsPerTrigger = events / batches``, and write through the same ``foreachBatch`` Delta
append the pipeline plan uses (``txnAppId``/``txnVersion``); they differ only in the
:class:`~streamwise.sinks.delta_compaction.DeltaCompactor` after each append. Each Kafka partition
with data in a batch leaves one file, so without compaction the table grows by about
``partitions`` files a batch.
"""

from __future__ import annotations

import os
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from deltalake import DeltaTable
from pyspark.sql import functions as F

from streamwise.bench.exceptions import BenchError
from streamwise.bench.registry import BenchContext, BenchReport, Column, register
from streamwise.ingest.disorder import RateProfile
from streamwise.ingest.encoding import Format
from streamwise.ingest.producer import EventProducer
from streamwise.ingest.run import ensure_topic, produce
from streamwise.ingest.scenario import create
from streamwise.pipeline.plan import Pipeline
from streamwise.pipeline.spec import KafkaSource, PipelineSpec
from streamwise.platform.storage import Location
from streamwise.sinks import DeltaSink, sink_writer
from streamwise.sinks.delta_compaction import Compaction, DeltaCompactor, table_files

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from streamwise.config import Settings

SCHEMA = "event_id BIGINT, user_id STRING, session_id STRING, page STRING, event_time LONG"


@register
class DeltaBenchmark:
    """Files and read times of a streaming Delta sink, with and without periodic compaction."""

    name: ClassVar[str] = "delta"
    description: ClassVar[str] = (
        "many small micro-batches into Delta, with and without compaction: file counts and read times"
    )

    def run(self, context: BenchContext) -> BenchReport:
        options = context.options
        events = int(options.get("events", 20_000))
        batches = int(options.get("batches", 200))
        every = int(options.get("compact_every", 20))
        partitions = int(options.get("partitions", 2))
        reads = int(options.get("reads", 3))
        on_step: Callable[[str], None] = options.get("on_step") or (lambda _msg: None)
        topic, folder = context.scratch("delta")
        spark = context.spark("delta")
        on_step(f"producing {events:,} clickstream events into {topic} ({partitions} partitions)")
        _produce(context.settings, topic, events, partitions)
        rows = []
        try:
            for label, compact_every in (("no compaction", None), (f"compact every {every}", every)):
                on_step(f"{label}: {batches} micro-batches of {max(1, events // batches):,} events")
                rows.append(
                    _run(
                        spark,
                        context.settings,
                        topic,
                        folder / label.replace(" ", "_"),
                        label=label,
                        events=events,
                        batches=batches,
                        every=compact_every,
                        reads=reads,
                    )
                )
        finally:
            if not options.get("keep_tables"):
                shutil.rmtree(folder, ignore_errors=True)
        return BenchReport(
            name=self.name,
            rows=rows,
            columns=[
                Column("mode", "mode"),
                Column("batches", "batches", "{:,}"),
                Column("compactions", "compactions", "{:,}"),
                Column("files_active", "files read", "{:,}"),
                Column("peak_files_active", "peak files read", "{:,}"),
                Column("files_on_disk", "files on disk", "{:,}"),
                Column("run_s", "run s", "{:.1f}"),
                Column("spark_read_ms", "Spark read ms", "{:,.0f}"),
                Column("deltalake_read_ms", "deltalake read ms", "{:,.0f}"),
            ],
            config={
                "events": events,
                "batches": batches,
                "compact_every": every,
                "partitions": partitions,
                "reads": reads,
                "bootstrap.servers": context.settings.kafka.bootstrap,
            },
            notes=[
                "files read: data files of the table's current version; files on disk include those a compaction "
                "replaced, kept for time travel until a VACUUM past the retention period",
                "read times: median of the reads; Spark hashes every column of every row, deltalake loads the table into Arrow",
            ],
        )


class _CompactingAppend:
    """The plan's foreachBatch Delta append, then the compactor; counts files after each batch."""

    def __init__(
        self, append: Callable[[DataFrame, int], None], path: Location, compactor: DeltaCompactor | None
    ) -> None:
        self.append, self.path, self.compactor = append, path, compactor
        self.compactions: list[Compaction] = []
        self.peak_files = 0

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        self.append(batch, batch_id)
        if self.path.is_dir():  # the most files a reader could meet: before a compaction
            self.peak_files = max(self.peak_files, table_files(str(self.path)).active)
        done = self.compactor(batch.sparkSession, batch_id) if self.compactor else None
        if done is not None and not done.skipped:
            self.compactions.append(done)


def _run(
    spark: SparkSession,
    settings: Settings,
    topic: str,
    path: Path,
    *,
    label: str,
    events: int,
    batches: int,
    every: int | None,
    reads: int,
) -> dict[str, Any]:

    name = f"bench_delta_{path.name}_{os.getpid()}".lower()
    source = KafkaSource(topic=topic, schema=SCHEMA, max_offsets_per_trigger=max(1, events // batches))
    sink = DeltaSink(type="delta", path=str(path / "table"))
    plan = Pipeline(PipelineSpec(name=name, source=source, sinks=[sink]), settings)
    compactor = DeltaCompactor(plan.sink_path(sink), name, every) if every else None
    writer = _CompactingAppend(sink_writer(sink, settings, name), plan.sink_path(sink), compactor)
    started = time.monotonic()
    query = (
        plan.output(spark)
        .writeStream.queryName(name)
        .foreachBatch(writer)
        .option("checkpointLocation", str(path / "checkpoint"))
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination()
    run_s = time.monotonic() - started
    if query.exception() is not None:
        raise RuntimeError(f"bench delta ({label}) failed: {query.exception()}")
    files = table_files(str(plan.sink_path(sink)))  # the bench writes under its own local folder
    spark_ms, rows = _timed(lambda: _spark_scan(spark, plan.sink_path(sink)), reads)
    deltalake_ms, _ = _timed(lambda: _deltalake_scan(plan.sink_path(sink)), reads)
    return {
        "mode": label,
        "compact_every": every,
        "batches": _last_batch(path / "checkpoint") + 1,
        "rows": rows,
        "compactions": len(writer.compactions),
        "compaction_s": round(sum(c.seconds for c in writer.compactions), 2),
        "files_active": files.active,
        "peak_files_active": writer.peak_files,
        "files_on_disk": files.on_disk,
        "active_mb": round(files.active_bytes / 1e6, 2),
        "run_s": round(run_s, 1),
        "spark_read_ms": spark_ms,
        "deltalake_read_ms": deltalake_ms,
    }


def _last_batch(checkpoint: Path) -> int:
    """The newest committed batch id (Spark keeps only the last 100 entries of the commit log)."""
    return max((int(p.name) for p in (checkpoint / "commits").iterdir() if p.name.isdigit()), default=-1)


def _timed(read: Callable[[], int], reads: int) -> tuple[float, int]:
    """Median milliseconds of ``reads`` reads after one warm-up read (JIT, caches), and its result."""
    result = read()
    times = []
    for _ in range(max(1, reads)):
        started = time.perf_counter()
        read()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 1), result


def _spark_scan(spark: SparkSession, path: Location) -> int:

    df = spark.read.format("delta").load(str(path))
    # Hash every column, so each file is opened and decoded (a count alone may come from file statistics).
    row = df.agg(F.count(F.lit(1)).alias("n"), F.bit_xor(F.xxhash64(*df.columns)).alias("h")).first()
    if row is None:  # a global aggregate has one row, even over an empty table
        raise BenchError(f"scanning {path} with Spark returned no row")
    return int(row["n"])


def _deltalake_scan(path: Location) -> int:

    return DeltaTable(str(path)).to_pyarrow_table().num_rows


def _produce(settings: Settings, topic: str, events: int, partitions: int) -> None:

    ensure_topic(settings.kafka, topic, partitions)
    produce(
        EventProducer(settings.kafka, topic),
        create("clickstream", seed=7),
        pace=RateProfile(0),
        fmt=Format.JSON,
        count=events,
    )
