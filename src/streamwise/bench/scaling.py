"""``bench scaling``: how the clickstream pipeline's ``run --once`` throughput moves with Spark's cores
and the topic's partitions, in one run on one broker.

N clickstream events are produced once into a topic of 1 partition and once into a topic of 8
(``bench overhead``'s producer, the same seed and event clock). One untimed run over the full
topic warms the JVM (it outlives the sessions). Each case is then a SparkSession with ``local[C]``
(the previous session is stopped first: one SparkContext per process), warmed up untimed on a small
topic, then timed as ``bench overhead`` times streamwise: start to the end of the query. The ratios are each case's events/s over the baseline's (1 core, 8 partitions): Kafka
partitions are Spark's input tasks, so 1 partition caps the read at one task whatever the cores.
"""

from __future__ import annotations

import os
import shutil
from typing import Any, ClassVar

from pyspark.sql import SparkSession

from streamwise.bench.overhead import (
    WARMUP_EVENT_RATE,
    WARMUP_EVENTS,
    clickstream_spec,
    produce_clickstream,
    run_streamwise,
)
from streamwise.bench.registry import BenchContext, BenchReport, Column, register
from streamwise.platform.spark import spark_session

CASES = ((1, 8), (2, 8), (1, 1), (2, 1))  # (cores, partitions); the first is the baseline


@register
class ScalingBenchmark:
    """run --once events/s with 1 vs 2 cores and 1 vs 8 partitions."""

    name: ClassVar[str] = "scaling"
    description: ClassVar[str] = (
        "the clickstream pipeline's run --once events/s with 1 vs 2 cores and 1 vs 8 partitions"
    )

    def run(self, context: BenchContext) -> BenchReport:
        options = context.options
        events = int(options.get("events", 1_000_000))
        cases = [tuple(case) for case in options.get("cases") or CASES]
        on_step = options.get("on_step") or (lambda _msg: None)
        settings = context.settings
        prefix, folder = context.scratch(self.name)
        topics = {}
        for partitions in sorted({p for _, p in cases}):
            topics[partitions] = f"{prefix}.p{partitions}"
            on_step(f"producing {events:,} clickstream events into {topics[partitions]} ({partitions} partitions)")
            produce_clickstream(settings, topics[partitions], events, partitions, 2_000.0)
        warm = f"{prefix}.warmup"
        produce_clickstream(settings, warm, WARMUP_EVENTS, 1, WARMUP_EVENT_RATE)
        rows: list[dict[str, Any]] = []
        try:
            # The JVM outlives the sessions: one untimed full-size run first, so the first case does
            # not pay alone for compiling what every case runs.
            on_step(f"warm-up: one untimed run over {events:,} events")
            run_streamwise(
                session(context, max(c for c, _ in cases)),
                settings,
                clickstream_spec(),
                topics[max(topics)],
                folder / "warmup_full",
            )
            for i, (cores, partitions) in enumerate(cases):
                spark = session(context, cores)
                on_step(f"{cores} core(s), {partitions} partition(s): warm-up, then {events:,} events")
                run_streamwise(spark, settings, clickstream_spec(), warm, folder / f"warmup_{i}")
                timed = run_streamwise(spark, settings, clickstream_spec(), topics[partitions], folder / f"case_{i}")
                rows.append(
                    {
                        "cores": cores,
                        "partitions": partitions,
                        "seconds": timed.seconds,
                        "events_per_s": events / timed.seconds,
                    }
                )
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        base = rows[0]["events_per_s"]
        for row in rows:
            row["ratio"] = row["events_per_s"] / base
        return BenchReport(
            name=self.name,
            rows=rows,
            columns=[
                Column("cores", "cores"),
                Column("partitions", "partitions"),
                Column("seconds", "wall s", "{:.1f}"),
                Column("events_per_s", "events/s", "{:,.0f}"),
                Column("ratio", "× 1 core, 8 partitions", "{:.2f}"),
            ],
            config={"events": events, "cases": [list(c) for c in cases], "cpus": os.cpu_count()},
            notes=[
                "each case runs in its own SparkSession (local[cores]); the machine's other processes share the same cores",
                "the broker runs on the same machine and takes its share of the cores while Spark reads",
            ],
        )


def session(context: BenchContext, cores: int) -> Any:
    """A SparkSession on ``local[cores]``: the running one is stopped first (one SparkContext per process)."""
    running = SparkSession.getActiveSession()
    if running is not None:
        running.stop()
    spark = context.settings.spark.model_copy(update={"ui": False, "master": f"local[{cores}]"})
    return spark_session(
        context.settings.model_copy(update={"spark": spark}), app_name=f"streamwise-bench-scaling-{cores}"
    )
