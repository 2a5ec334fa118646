"""``bench process``: how fast ``run --once`` gets through a backlog, against Spark's own read of it.

N clickstream events (JSON, event times paced as a live generator's, see
:class:`~streamwise.bench.overhead.StampedAt`) are produced once into a fresh topic; then, in one
SparkSession, the shipped clickstream pipeline (Kafka → decode → 10 s window with a watermark →
Delta) runs over them with ``availableNow``, and Spark's batch Kafka reader counts the same topic
(the floor: reading and nothing else). The default 4,000,000 events are over 30 s of work on 2
cores. ``bench overhead`` adds the hand-written PySpark query and the ledger-off run to these two;
this benchmark is the throughput figure on its own, at a size where start-up costs fade.
"""

from __future__ import annotations

import shutil
import time
from typing import ClassVar

from streamwise.bench.exceptions import BenchError
from streamwise.bench.overhead import (
    FLOOR,
    STREAMWISE,
    WHAT,
    clickstream_options,
    clickstream_spec,
    count_topic,
    goals,
    produce_clickstream,
    run_streamwise,
    summarize,
    warm_up,
)
from streamwise.bench.registry import BenchContext, BenchReport, Column, register


@register
class ProcessBenchmark:
    """The clickstream pipeline's ``run --once`` throughput beside Spark's own Kafka read."""

    name: ClassVar[str] = "process"
    description: ClassVar[str] = (
        "run --once events/s of the clickstream pipeline vs Spark's own Kafka read of the topic"
    )

    def run(self, context: BenchContext) -> BenchReport:
        options = context.options
        events, repeat, partitions, event_rate, on_step = clickstream_options(self.name, options, events=4_000_000)
        settings = context.settings
        topic, folder = context.scratch(self.name)
        spec = clickstream_spec()
        spark = context.spark("process")
        seconds: dict[str, list[float]] = {STREAMWISE: [], FLOOR: []}
        try:
            on_step(f"producing {events:,} clickstream events into {topic} ({partitions} partitions)")
            records = produce_clickstream(settings, topic, events, partitions, event_rate)
            if options.get("warmup", True):
                on_step("warm-up: the pipeline over a small topic, untimed (JVM class loading, JIT)")
                warm_up(spark, settings, f"{topic}.warmup", folder / "warmup")
            windows = 0
            for i in range(repeat):
                of = f" ({i + 1}/{repeat})" if repeat > 1 else ""
                on_step(f"streamwise{of}: {WHAT[STREAMWISE]}")
                ours = run_streamwise(spark, settings, spec, topic, folder / f"streamwise_{i}")
                seconds[STREAMWISE].append(ours.seconds)
                windows = spark.read.format("delta").load(str(ours.table)).count()
                shutil.rmtree(ours.table.parent, ignore_errors=True)  # the next repeat starts empty
                on_step(f"floor{of}: {WHAT[FLOOR]}")
                started = time.monotonic()
                counted = count_topic(spark, settings, topic)
                seconds[FLOOR].append(time.monotonic() - started)
                if counted != records:
                    raise BenchError(f"Spark counted {counted:,} records in {topic}, the producer sent {records:,}")
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        rows = summarize(records, seconds)
        for row in rows:
            row["windows"] = windows if row["case"] == STREAMWISE else None
        if windows == 0:
            raise BenchError("the pipeline closed no window, so it proved nothing", hint="produce more --events")
        return BenchReport(
            name=self.name,
            rows=rows,
            columns=[
                Column("case", "case"),
                Column("median_s", "wall s", "{:.1f}"),
                Column("events_per_s", "events/s", "{:,.0f}"),
                Column("ratio_to_floor", "× floor", "{:.2f}"),
                Column("windows", "rows written", "{:,}"),
            ],
            config={
                "events": records,
                "topic": topic,
                "repeat": repeat,
                "partitions": partitions,
                "event_rate": event_rate,
                "pipeline": "pipelines/clickstream.yaml",
                "bootstrap.servers": settings.kafka.bootstrap,
                "spark.master": settings.spark.master,
                "spark.sql.shuffle.partitions": settings.spark.shuffle_partitions,
            },
            goals=goals(rows),
            notes=[
                "wall seconds from start() to the end of the last query, planning included, session start-up excluded",
                "the floor only reads and counts: decoding, windows, state and the Delta commit are the difference",
            ],
        )
