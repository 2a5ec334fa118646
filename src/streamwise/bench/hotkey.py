"""``bench hotkey``: where one hot key loads a windowed pipeline, with and without the spec's remedies.

Clickstream events with ``hot_key_share`` of them by one user (u0) go into a topic keyed by user, so
one Kafka partition holds that share and more. The same pipeline (views per user in 10 s tumbling
windows, into Delta) then reads the whole topic in one micro-batch on ``local[2]``, once per case:

- ``plain``: as written;
- ``salted``: the window step with ``salt`` (two chained aggregations, by user and salt bucket, then by user);
- ``split``: the source with ``min_partitions`` (Spark reads the hot partition with several tasks).

Per case, from Spark's REST API (``/api/v1/applications/<id>/stages`` and each stage's ``taskList``):
the Kafka-reading stage's records per task and run time per task, and the first aggregation stage's
shuffle records per task, each as max / median (1.0 = even). Also the rows per Kafka partition
(its end offsets), the same for every case, and each run's wall seconds.
"""

from __future__ import annotations

import os
import shutil
import statistics
import time
from typing import Any, ClassVar

import httpx
from pyspark.sql import SparkSession

from streamwise.bench.exceptions import BenchError
from streamwise.bench.overhead import StampedAt
from streamwise.bench.registry import BenchContext, BenchReport, Column, register
from streamwise.config import Settings
from streamwise.ingest.disorder import RateProfile
from streamwise.ingest.encoding import Format
from streamwise.ingest.producer import EventProducer
from streamwise.ingest.run import ensure_topic, produce
from streamwise.ingest.scenario import create
from streamwise.pipeline import await_queries, parse_pipeline
from streamwise.pipeline.plan import Pipeline
from streamwise.pipeline.spec import PipelineSpec
from streamwise.platform.ports import free_port
from streamwise.platform.spark import spark_session
from streamwise.platform.topics import end_offsets

SPEC = """\
name: {name}
source:
  topic: {topic}
  schema: "user_id STRING, page STRING, event_time LONG"
  max_offsets_per_trigger: unbounded
{source_extra}
event_time:
  watermark: 5 seconds
steps:
  - type: window
    duration: 10 seconds
    by: [user_id]
{salt}
    aggregates:
      views: count(*)
sinks:
  - type: delta
    path: {path}
"""
CORES = 2


def hotkey_spec(name: str, topic: str, path: str, *, salt: int | None, min_partitions: int | None) -> PipelineSpec:
    """Views per user per 10 s window, read in one micro-batch; optionally salted or split."""
    return parse_pipeline(
        SPEC.format(
            name=name,
            topic=topic,
            path=path,
            source_extra=f"  min_partitions: {min_partitions}" if min_partitions else "",
            salt=f"    salt: {salt}" if salt else "",
        )
    )


@register
class HotKeyBenchmark:
    """Per-partition and per-task load of a windowed pipeline on a topic with one hot key."""

    name: ClassVar[str] = "hotkey"
    description: ClassVar[str] = (
        "one hot key: rows per Kafka partition and per Spark task (max/median), plain, salted and split"
    )

    def run(self, context: BenchContext) -> BenchReport:
        options = context.options
        events = int(options.get("events", 400_000))
        partitions = int(options.get("partitions", 4))
        share = float(options.get("hot_key_share", 0.5))
        salt = int(options.get("salt", 8))
        shuffle = int(options.get("shuffle_partitions", 8))
        min_partitions = int(options.get("min_partitions", 8))
        on_step = options.get("on_step") or (lambda _msg: None)
        settings = context.settings
        topic, folder = context.scratch(self.name)
        on_step(f"producing {events:,} clickstream events, {share:.0%} by u0, into {topic} ({partitions} partitions)")
        _produce(settings, topic, events, partitions, share)
        per_partition = end_offsets(settings.kafka, topic, list(range(partitions)))
        cases: dict[str, dict[str, int | None]] = {
            "plain": {"salt": None, "min_partitions": None},
            "salted": {"salt": salt, "min_partitions": None},
            "split": {"salt": None, "min_partitions": min_partitions},
        }
        spark = _session(settings, shuffle)
        rest = SparkRest(spark)
        rows: list[dict[str, Any]] = []
        try:
            # Untimed, unmeasured: JVM class loading and JIT, so the first case does not pay alone.
            on_step("warm-up run (plain), untimed")
            _run(
                spark,
                settings,
                hotkey_spec("bench_hotkey_warmup", topic, str(folder / "warmup"), salt=None, min_partitions=None),
                folder / "warmup",
            )
            for case, shape in cases.items():
                on_step(f"{case}: one micro-batch over {events:,} events")
                since = rest.last_stage()
                spec = hotkey_spec(f"bench_hotkey_{case}", topic, str(folder / case), **shape)
                seconds = _run(spark, settings, spec, folder / case)
                rows.append({"case": case, **shape, "seconds": round(seconds, 2), **rest.loads(since, events, shuffle)})
        finally:
            spark.stop()
            shutil.rmtree(folder, ignore_errors=True)
        counts = [per_partition[p] for p in sorted(per_partition)]
        for row in rows:
            row["kafka_partition_rows"] = counts
            row["kafka_ratio"] = round(max(counts) / statistics.median(counts), 2)
        return BenchReport(
            name=self.name,
            rows=rows,
            columns=[
                Column("case", "case"),
                Column("kafka_ratio", "Kafka partition rows max/median", "{:.2f}"),
                Column("source_tasks", "read tasks"),
                Column("source_ratio", "read task rows max/median", "{:.2f}"),
                Column("source_time_ratio", "read task time max/median", "{:.2f}"),
                Column("agg_tasks", "agg tasks"),
                Column("agg_ratio", "agg task rows max/median", "{:.2f}"),
                Column("seconds", "wall s", "{:.1f}"),
            ],
            config={
                "events": events,
                "partitions": partitions,
                "hot_key_share": share,
                "salt": salt,
                "min_partitions": min_partitions,
                "master": f"local[{CORES}]",
                "shuffle_partitions": shuffle,
                "cpus": os.cpu_count(),
            },
            notes=[
                "read = the stage reading Kafka (decode, watermark, partial aggregation); agg = the first "
                "stateful aggregation stage (its shuffle records per task); ratios are max/median over the tasks",
                "Spark aggregates partially before the shuffle: a hot key's rows reach the stateful stage as one "
                "row per window and reading task, so that stage is even with or without salt",
            ],
        )


def _produce(settings: Settings, topic: str, events: int, partitions: int, share: float) -> None:
    ensure_topic(settings.kafka, topic, partitions)
    ensure_topic(settings.kafka, f"{topic}.dlq", 1)
    start_ms = time.time_ns() // 1_000_000 - events // 2  # 2,000 events/s of event time, ending now
    source = StampedAt(create("clickstream", seed=7, hot_key_share=share), 2_000.0, start_ms)
    report = produce(EventProducer(settings.kafka, topic), source, pace=RateProfile(0), fmt=Format.JSON, count=events)
    if report.stats.failed:
        raise BenchError(f"{report.stats.failed:,} of {report.records:,} records to {topic} failed")


def _session(settings: Settings, shuffle: int) -> SparkSession:
    """``local[2]`` with its UI (the REST API lives there) on a free loopback port."""
    running = SparkSession.getActiveSession()
    if running is not None:
        running.stop()
    spark = settings.spark.model_copy(
        update={"master": f"local[{CORES}]", "ui": True, "ui_port": free_port(), "shuffle_partitions": shuffle}
    )
    return spark_session(settings.model_copy(update={"spark": spark}), app_name="streamwise-bench-hotkey")


def _run(spark: SparkSession, settings: Settings, spec: PipelineSpec, folder: Any) -> float:
    scratch = settings.model_copy(update={"state_dir": folder / "state", "cache_dir": settings.cache})
    started = time.monotonic()
    await_queries(Pipeline(spec, scratch).start(spark, once=True))
    return time.monotonic() - started


class SparkRest:
    """The running application's stages and tasks from Spark's REST API (served by its UI)."""

    def __init__(self, spark: SparkSession) -> None:
        url = spark.sparkContext.uiWebUrl
        if not url:
            raise BenchError("the Spark UI is off, and the REST API with it", hint="the bench starts its own session")
        self.base = f"{url}/api/v1/applications/{spark.sparkContext.applicationId}"
        self.client = httpx.Client(timeout=30)

    def stages(self) -> list[dict[str, Any]]:
        response = self.client.get(f"{self.base}/stages")
        response.raise_for_status()
        stages: list[dict[str, Any]] = response.json()
        return stages

    def last_stage(self) -> int:
        return max((s["stageId"] for s in self.stages()), default=-1)

    def tasks(self, stage: dict[str, Any]) -> list[dict[str, Any]]:
        url = f"{self.base}/stages/{stage['stageId']}/{stage['attemptId']}/taskList"
        response = self.client.get(url, params={"length": 100_000})
        response.raise_for_status()
        return [t for t in response.json() if t.get("status") == "SUCCESS"]

    def loads(self, since: int, events: int, shuffle: int) -> dict[str, Any]:
        """Per-task figures of the Kafka-reading stage (the completed stage after ``since`` whose tasks
        read exactly ``events`` records) and of the first aggregation stage after it. The UI's store
        is filled by a listener, a moment after the query ends: waited for, up to 30 s."""
        deadline = time.monotonic() + 30
        while True:
            new = [s for s in self.stages() if s["stageId"] > since and s["status"] == "COMPLETE"]
            source = next((s for s in new if s.get("inputRecords") == events), None)
            aggs = [
                s
                for s in new
                if source is not None
                and s["stageId"] > source["stageId"]
                and s.get("shuffleReadRecords", 0) > 0
                and s["numTasks"] == shuffle
            ]
            if source is not None and aggs:
                break
            if time.monotonic() > deadline:
                raise BenchError(f"no stage read the {events:,} records, or none aggregated them, in the REST API")
            time.sleep(0.5)
        read = self.tasks(source)
        rows = [t["taskMetrics"]["inputMetrics"]["recordsRead"] for t in read]
        run_ms = [t["taskMetrics"]["executorRunTime"] for t in read]
        agg = self.tasks(min(aggs, key=lambda s: s["stageId"]))
        shuffled = [t["taskMetrics"]["shuffleReadMetrics"]["recordsRead"] for t in agg]
        return {
            "source_tasks": len(rows),
            "source_rows": sorted(rows, reverse=True),
            "source_ratio": _ratio(rows),
            "source_time_ratio": _ratio(run_ms),
            "agg_tasks": len(shuffled),
            "agg_rows": sorted(shuffled, reverse=True),
            "agg_ratio": _ratio(shuffled),
        }


def _ratio(values: list[int]) -> float | None:
    middle = statistics.median(values) if values else 0
    return round(max(values) / middle, 2) if middle else None
