"""``bench overhead``: the clickstream pipeline as streamwise runs it, beside the same query written by
hand in plain PySpark and Spark's own batch read of the topic, in one run on one broker and session.

N clickstream events (JSON) are produced once, by the project's producer, into a fresh topic. Their
event times are stamped as if a generator had sent them at ``event_rate`` events/s, however fast they
are produced, so the windows close and the window state holds what a live stream's would: 1,000,000
events at 2,000/s span 500 s, 50 windows of 10 s. Then, in the same SparkSession:

- ``streamwise``: ``pipelines/clickstream.yaml`` pointed at the topic and at a scratch Delta table,
  started with ``Pipeline(spec, settings).start(spark, once=True)`` and awaited with
  :func:`~streamwise.pipeline.await_queries`: every query the pipeline starts, as ``run --once`` does
  (without the progress listener ``run`` adds);
- ``no ledger``: the same pipeline with its late-data ledger off, so Spark's native window drops late
  rows silently, as streamwise did before the ledger: the ledger's cost is ``streamwise`` over this;
- ``hand-written``: :func:`hand_written_query`, the same source options, decoding, watermark, window
  and Delta append in a dozen lines of PySpark, with ``availableNow``;
- ``floor``: ``spark.read.format("kafka")…load().count()``, Spark reading the topic and nothing else.

Each case is timed as wall seconds from start to the end of its last query. ``--repeat R`` runs
the cases R times in that order, each on fresh checkpoints and tables;
the figures are the medians (and minima) of the R. Before the timed runs both queries run once,
untimed, on a small topic, so neither pays the JVM's first-use costs (class loading, JIT) alone.
After each repeat the Delta tables are compared row for row.
"""

from __future__ import annotations

import os
import shutil
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pyspark.sql import functions as F

from streamwise.bench.exceptions import BenchError
from streamwise.bench.registry import BenchContext, BenchReport, Column, register
from streamwise.ingest.disorder import RateProfile
from streamwise.ingest.encoding import Format
from streamwise.ingest.producer import EventProducer
from streamwise.ingest.run import ensure_topic, produce
from streamwise.ingest.scenario import create
from streamwise.pipeline import await_queries, load_pipeline, resolve
from streamwise.pipeline.plan import Pipeline
from streamwise.pipeline.spec import WindowStep

if TYPE_CHECKING:
    from pyspark.sql import SparkSession
    from pyspark.sql.streaming import StreamingQuery

    from streamwise.config import Settings
    from streamwise.ingest.scenario import EventBatch, Scenario
    from streamwise.pipeline import PipelineSpec
    from streamwise.pipeline.spec import WindowStep

PIPELINE = "clickstream"
STREAMWISE, NO_LEDGER, HAND_WRITTEN, FLOOR = "streamwise", "no ledger", "hand-written", "floor"
CASES = (STREAMWISE, NO_LEDGER, HAND_WRITTEN, FLOOR)
WHAT = {
    STREAMWISE: "pipelines/clickstream.yaml, Pipeline.start(once=True)",
    NO_LEDGER: "the same with late_records: {enabled: false}",
    HAND_WRITTEN: "plain PySpark, availableNow",
    FLOOR: 'spark.read.format("kafka").load().count()',
}
# Issue 11's goals: throughput of run --once against Spark's own read and against the plain script.
GOAL_RATIO_TO_FLOOR = 0.8
GOAL_RATIO_TO_HAND_WRITTEN = 1.0
WARMUP_EVENTS = 2_000
WARMUP_EVENT_RATE = 100.0  # 20 s of event time: two windows close, so the warm-up writes rows


# The report's table.
_COLUMNS = [
    Column("case", "case"),
    Column("what", "what"),
    Column("median_s", "wall s", "{:.1f}"),
    Column("min_s", "min s", "{:.1f}"),
    Column("events_per_s", "events/s", "{:,.0f}"),
    Column("ratio_to_no_ledger", "× no ledger", "{:.2f}"),
    Column("ratio_to_hand_written", "× hand-written", "{:.2f}"),
    Column("ratio_to_floor", "× floor", "{:.2f}"),
    Column("windows", "rows written", "{:,}"),
]


# What the figures mean, printed under the table.
_NOTES = [
    "ratios are throughput ratios (events/s of the case over the baseline's, from median seconds); "
    "above 1 the case is faster",
    "streamwise runs the pipeline as `run --once` does (its row's `queries`), settling dead letters and "
    "the late-data ledger of every batch, without the progress listener `streamwise run` adds; the "
    "hand-written query has neither dead letters nor a ledger; `no ledger` is streamwise with the ledger "
    "off, so streamwise's `× no ledger` is the ledger's cost",
    "wall seconds run from start() to the end of the last query: query start-up and planning included, "
    "SparkSession start-up excluded",
]


@register
class OverheadBenchmark:
    """streamwise's clickstream pipeline against the same query in plain PySpark and Spark's Kafka read."""

    name: ClassVar[str] = "overhead"
    description: ClassVar[str] = (
        "the clickstream pipeline vs the same query hand-written in PySpark, and Spark's own Kafka read"
    )

    def run(self, context: BenchContext) -> BenchReport:
        options = context.options
        events, repeat, partitions, event_rate, on_step = clickstream_options(self.name, options, events=1_000_000)
        warmup = bool(options.get("warmup", True))
        settings = context.settings
        topic, folder = context.scratch(self.name)
        spec = clickstream_spec()
        spark = context.spark("overhead")
        try:
            on_step(
                f"producing {events:,} clickstream events into {topic} ({partitions} partitions, "
                f"event time at {event_rate:,.0f}/s)"
            )
            records = produce_clickstream(settings, topic, events, partitions, event_rate)
            if warmup:
                on_step(f"warm-up: both queries over {WARMUP_EVENTS:,} events, untimed")
                warm = warm_up(spark, settings, f"{topic}.warmup", folder / "warmup_streamwise")
                _run_hand_written(spark, settings, spec, warm, folder / "warmup_hand_written")
                count_topic(spark, settings, warm)
            seconds: dict[str, list[float]] = {case: [] for case in CASES}
            queries: dict[str, list[str]] = {FLOOR: []}
            load_before = os.getloadavg()[0]
            agreements: list[dict[str, Any]] = []
            for i in range(repeat):
                of = f" ({i + 1}/{repeat})" if repeat > 1 else ""
                timed, floor_s, agreement = _one_repeat(spark, settings, spec, topic, records, folder, i, of, on_step)
                for case, run in timed.items():
                    seconds[case].append(run.seconds)
                    queries[case] = run.queries
                seconds[FLOOR].append(floor_s)
                agreements.append({"repeat": i, **agreement})
                if not options.get("keep_tables"):  # the next repeat's tables start empty
                    for run in timed.values():
                        shutil.rmtree(run.table.parent, ignore_errors=True)
            load_after = os.getloadavg()[0]
        finally:
            if not options.get("keep_tables"):
                shutil.rmtree(folder, ignore_errors=True)
        rows = summarize(records, seconds)
        for row in rows:  # what each query wrote, from the first repeat (the check covers every one)
            # the table without the ledger is checked to equal streamwise's
            side = {STREAMWISE: "streamwise", NO_LEDGER: "streamwise", HAND_WRITTEN: "hand_written"}.get(row["case"])
            row["windows"] = agreements[0][side]["rows"] if side else None
            row["queries"] = queries[row["case"]]
        same = agrees(agreements)
        kept = {"tables": str(folder)} if options.get("keep_tables") else {}
        return BenchReport(
            name=self.name,
            rows=rows,
            columns=list(_COLUMNS),
            config={
                "events": records,
                "topic": topic,
                "repeat": repeat,
                "partitions": partitions,
                "event_rate": event_rate,
                "event_time_span_s": round(records / event_rate, 1),
                "warmup": warmup,
                "pipeline": f"pipelines/{PIPELINE}.yaml",
                "bootstrap.servers": settings.kafka.bootstrap,
                "spark.master": settings.spark.master,
                "spark.sql.shuffle.partitions": settings.spark.shuffle_partitions,
                # Other work on the machine skews every figure: the 1-minute load before and after the timed runs.
                "load_average_1m": {"before": round(load_before, 2), "after": round(load_after, 2)},
                **kept,
            },
            goals=goals(rows),
            checks={
                "same window counts": {"passed": same, "detail": _agreement_line(agreements), "repeats": agreements}
            },
            notes=list(_NOTES),
        )


# Pure logic: the options, the summary, the ratios, the goals, the event clock.


def clickstream_options(
    bench: str, options: Mapping[str, Any], *, events: int
) -> tuple[int, int, int, float, Callable[[str], None]]:
    """The options the clickstream benchmarks share, checked: events (default ``events``), repeat,
    partitions, event_rate (event times stamped as if sent at that many per second) and on_step."""
    count, repeat = int(options.get("events", events)), int(options.get("repeat", 1))
    partitions, event_rate = int(options.get("partitions", 3)), float(options.get("event_rate", 2_000.0))
    if count < 1 or repeat < 1 or partitions < 1 or event_rate <= 0:
        raise BenchError(
            f"bench {bench} needs events, repeat and partitions ≥ 1 and event_rate > 0 "
            f"(got {count}, {repeat}, {partitions}, {event_rate:g})"
        )
    return count, repeat, partitions, event_rate, options.get("on_step") or (lambda _msg: None)


def throughput_ratio(baseline_s: float | None, case_s: float | None) -> float | None:
    """The case's events/s over the baseline's, for the same events: ``baseline_s / case_s``
    (2.0: the case is twice as fast). None when either is missing or not positive."""
    if not baseline_s or not case_s or baseline_s <= 0 or case_s <= 0:
        return None
    return round(baseline_s / case_s, 3)


def summarize(events: int, seconds: Mapping[str, Sequence[float]]) -> list[dict[str, Any]]:
    """One row per case of :data:`CASES` present in ``seconds``: its runs, median and minimum wall
    seconds, events/s at the median and at the best run, and throughput ratios against the
    hand-written query and the floor (both from medians)."""
    medians = {case: statistics.median(s) for case, s in seconds.items() if s}
    rows = []
    for case in CASES:
        runs = list(seconds.get(case) or ())
        if not runs:
            continue
        median, best = medians[case], min(runs)
        rows.append(
            {
                "case": case,
                "what": WHAT[case],
                "runs": len(runs),
                "seconds": [round(s, 2) for s in runs],
                "median_s": round(median, 2),
                "min_s": round(best, 2),
                "events_per_s": round(events / median, 1) if median > 0 else None,
                "best_events_per_s": round(events / best, 1) if best > 0 else None,
                "ratio_to_no_ledger": throughput_ratio(medians.get(NO_LEDGER), median),
                "ratio_to_hand_written": throughput_ratio(medians.get(HAND_WRITTEN), median),
                "ratio_to_floor": throughput_ratio(medians.get(FLOOR), median),
            }
        )
    return rows


def goals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Issue 11's goals for ``run --once``, with streamwise's measured ratios and whether each is met."""
    ours = next((r for r in rows if r["case"] == STREAMWISE), None)
    if ours is None:
        return {}
    out = {}
    for key, label, target in (
        ("ratio_to_floor", "streamwise ÷ Spark's Kafka read (events/s)", GOAL_RATIO_TO_FLOOR),
        ("ratio_to_hand_written", "streamwise ÷ hand-written PySpark (events/s)", GOAL_RATIO_TO_HAND_WRITTEN),
    ):
        if ours.get(key) is not None:
            out[label] = {"target": target, "value": ours[key], "met": ours[key] >= target}
    return out


class StampedAt:
    """A scenario whose events are stamped as if sent at ``rate`` events/s from ``start_ms``, whatever
    the wall clock says when they are produced: the ``i``-th event (from 1) happened at
    ``start_ms + i * 1000 / rate``. The ``now_ms`` a producer passes is ignored.

    Everything else (schema, key field, ...) is the scenario's own.
    """

    def __init__(self, scenario: Scenario, rate: float, start_ms: int) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive (got {rate:g})")
        self._scenario, self._rate, self._start_ms, self._sent = scenario, rate, start_ms, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._scenario, name)

    def clock_ms(self, sent: int | np.ndarray) -> Any:
        """The event time of the ``sent``-th event (an int, or int64 array for an array)."""
        stamped = self._start_ms + np.asarray(sent, dtype=np.float64) * 1000 / self._rate
        return stamped.astype(np.int64) if np.ndim(stamped) else int(stamped)

    def batch(self, n: int, now_ms: int) -> EventBatch:
        first = self._sent
        batch = self._scenario.batch(n, self.clock_ms(first + n))
        self._sent += len(batch)
        return batch.with_event_time(self.clock_ms(np.arange(first + 1, first + len(batch) + 1)))


def agrees(agreements: list[dict[str, Any]]) -> bool:
    """Whether every repeat's two tables are identical and not empty (no window closed proves nothing)."""
    return bool(agreements) and all(a["same"] and a["streamwise"]["rows"] > 0 for a in agreements)


def _agreement_line(agreements: list[dict[str, Any]]) -> str:
    first = agreements[0]
    ours = first["streamwise"]
    if agrees(agreements):
        return f"identical tables: {ours['rows']:,} windows, {ours['views']:,} views" + (
            f" (in each of {len(agreements)} repeats)" if len(agreements) > 1 else ""
        )
    bad = next((a for a in agreements if not a["same"]), None)
    if bad is None:
        return "no window closed, so there is nothing to compare: produce more --events or lower --event-rate"
    if not bad.get("no_ledger_same", True):
        return f"repeat {bad['repeat']}: streamwise's table differs from the one it writes with the ledger off"
    return (
        f"repeat {bad['repeat']}: streamwise {bad['streamwise']['rows']:,} rows / {bad['streamwise']['views']:,} views, "
        f"hand-written {bad['hand_written']['rows']:,} / {bad['hand_written']['views']:,}; "
        f"{bad['only_in_streamwise']:,} rows only in streamwise's, {bad['only_in_hand_written']:,} only in the other"
    )


# The cases.


def clickstream_spec() -> PipelineSpec:
    """``pipelines/clickstream.yaml`` as shipped, checked to be the shape :func:`hand_written_query`
    repeats: a JSON source and one tumbling window step."""
    spec = load_pipeline(resolve(PIPELINE))
    windows = [s for s in spec.steps if s.type == "window"]
    deltas = [s for s in spec.sinks if s.type == "delta"]
    if (
        spec.source.format != "json"
        or len(spec.steps) != 1
        or len(windows) != 1
        or windows[0].kind != "tumbling"
        or len(spec.sinks) != 1
        or len(deltas) != 1
    ):
        raise BenchError(
            f"pipelines/{PIPELINE}.yaml is no longer a JSON source, one tumbling window and one Delta "
            "sink, which is what bench overhead's hand-written query repeats",
            hint="update hand_written_query in streamwise/bench/overhead.py to match it",
        )
    return spec


def _window_step(spec: PipelineSpec) -> WindowStep:
    """The window step :func:`clickstream_spec` checked the spec to start with, as its own type."""
    window = spec.steps[0] if spec.steps else None
    if not isinstance(window, WindowStep):
        raise BenchError(
            f"the spec's first step is {window.type if window else 'missing'}, not the window step that "
            "bench overhead's hand-written query repeats",
            hint="pass the spec clickstream_spec() returns",
        )
    return window


def _output_columns(spec: PipelineSpec) -> list[str]:
    window = _window_step(spec)
    return ["window_start", "window_end", *window.by, *window.aggregates]


def hand_written_query(
    spark: SparkSession, settings: Settings, spec: PipelineSpec, topic: str, table: Path, checkpoint: Path
) -> StreamingQuery:
    """The clickstream pipeline's query as one would write it in plain PySpark: the spec supplies the
    values (schema, watermark, window, grouping, aggregates), nothing of streamwise runs."""
    window = _window_step(spec)
    schema_ddl = spec.source.schema_ddl
    if schema_ddl is None:  # validation gives a json source its schema
        raise BenchError(
            "bench overhead's hand-written query needs a json source with a schema",
            hint="pass the spec clickstream_spec() returns",
        )
    time_field = spec.event_time.field
    # The same bound per trigger as the pipeline reads with (100,000 by default), so both drain the
    # backlog in the same number of batches.
    bound = spec.source.max_offsets_per_trigger
    limit = {} if bound == "unbounded" else {"maxOffsetsPerTrigger": str(bound)}
    events = (
        spark.readStream.format("kafka")
        .options(**settings.kafka.spark_options(), **limit)
        .option("subscribe", topic)
        .option("startingOffsets", "earliest")
        .load()
        .select(F.from_json(F.col("value").cast("string"), schema_ddl).alias("e"))
        .select("e.*")
        .withColumn("event_time", F.timestamp_millis(F.col(time_field)))
    )
    counts = (
        events.withWatermark("event_time", spec.event_time.watermark)
        .groupBy(F.window("event_time", window.interval("duration")), *window.by)
        .agg(*[F.expr(expr).alias(name) for name, expr in window.aggregates.items()])
        .select(
            F.col("window.start").alias("window_start"),
            F.col("window.end").alias("window_end"),
            *window.by,
            *window.aggregates,
        )
    )
    return (
        counts.writeStream.format("delta")
        .outputMode("append")
        .queryName(f"bench_overhead_hand_written_{os.getpid()}")
        .option("checkpointLocation", str(checkpoint))
        .trigger(availableNow=True)
        .start(str(table))
    )


@dataclass(frozen=True)
class Timed:
    """A timed query run: the Delta table it wrote, its wall seconds, the queries it started."""

    table: Path
    seconds: float
    queries: list[str]


def _one_repeat(
    spark: SparkSession,
    settings: Settings,
    spec: PipelineSpec,
    topic: str,
    records: int,
    folder: Path,
    i: int,
    of: str,
    on_step: Callable[[str], None],
) -> tuple[dict[str, Timed], float, dict[str, Any]]:
    """Repeat ``i``: streamwise, streamwise without its ledger, the hand-written query, the floor
    (timed, in that order); then the comparison of the tables."""
    on_step(f"streamwise{of}: {WHAT[STREAMWISE]}")
    ours = run_streamwise(spark, settings, spec, topic, folder / f"streamwise_{i}")
    on_step(f"no ledger{of}: {WHAT[NO_LEDGER]}")
    unledgered = spec.model_copy(update={"late_records": spec.late_records.model_copy(update={"enabled": False})})
    bare = run_streamwise(spark, settings, unledgered, topic, folder / f"no_ledger_{i}")
    on_step(f"hand-written{of}: {WHAT[HAND_WRITTEN]}")
    theirs = _run_hand_written(spark, settings, spec, topic, folder / f"hand_written_{i}")
    on_step(f"floor{of}: {WHAT[FLOOR]}")
    started = time.monotonic()
    counted = count_topic(spark, settings, topic)
    floor_s = time.monotonic() - started
    if counted != records:
        raise BenchError(f"Spark counted {counted:,} records in {topic}, the producer sent {records:,}")
    agreement = compare_tables(spark, ours.table, theirs.table, _output_columns(spec))
    same_without_ledger = compare_tables(spark, ours.table, bare.table, _output_columns(spec))["same"]
    agreement = {**agreement, "same": agreement["same"] and same_without_ledger, "no_ledger_same": same_without_ledger}
    return {STREAMWISE: ours, NO_LEDGER: bare, HAND_WRITTEN: theirs}, floor_s, agreement


def run_streamwise(spark: SparkSession, settings: Settings, spec: PipelineSpec, topic: str, folder: Path) -> Timed:
    """The pipeline on ``topic``, writing to ``folder/table``; every file it keeps (checkpoints, the
    late-data ledger) under ``folder/state``."""
    table = folder / "table"
    spec = spec.model_copy(
        update={
            "name": f"bench_overhead_{spec.name}",  # its own query and consumer-group names on a shared broker
            "source": spec.source.model_copy(update={"topic": topic}),
            "sinks": [spec.sinks[0].model_copy(update={"path": str(table)})],
        }
    )
    scratch = settings.model_copy(update={"state_dir": folder / "state", "cache_dir": settings.cache})
    started = time.monotonic()
    queries = Pipeline(spec, scratch).start(spark, once=True)
    await_queries(queries)
    return Timed(table, time.monotonic() - started, [q.name for q in queries])


def warm_up(spark: SparkSession, settings: Settings, topic: str, folder: Path) -> str:
    """Produce a small clickstream ``topic`` and run the pipeline over it, untimed, so the timed
    runs after it do not pay the JVM's first-use costs (class loading, JIT) alone. Returns the topic."""
    produce_clickstream(settings, topic, WARMUP_EVENTS, 1, WARMUP_EVENT_RATE)
    run_streamwise(spark, settings, clickstream_spec(), topic, folder)
    return topic


def _run_hand_written(spark: SparkSession, settings: Settings, spec: PipelineSpec, topic: str, folder: Path) -> Timed:
    table = folder / "table"
    started = time.monotonic()
    query = hand_written_query(spark, settings, spec, topic, table, folder / "checkpoint")
    query.awaitTermination()
    seconds = time.monotonic() - started
    if query.exception() is not None:
        raise BenchError(f"the hand-written query failed: {str(query.exception()).splitlines()[0]}")
    return Timed(table, seconds, [query.name])


def count_topic(spark: SparkSession, settings: Settings, topic: str) -> int:
    """The floor: Spark's batch Kafka reader over the whole topic, counting records."""
    reader = spark.read.format("kafka").options(**settings.kafka.spark_options()).option("subscribe", topic)
    return reader.option("startingOffsets", "earliest").option("endingOffsets", "latest").load().count()


def compare_tables(spark: SparkSession, ours: Path, theirs: Path, columns: list[str]) -> dict[str, Any]:
    """Rows and total of the last column (the views) of both Delta tables, and the rows each has that
    the other lacks (as multisets); ``same`` when neither has any. A missing table is an empty one."""
    measure = columns[-1]

    def read(path: Path):
        return spark.read.format("delta").load(str(path)).select(*columns) if (path / "_delta_log").is_dir() else None

    a, b = read(ours), read(theirs)
    if a is None and b is None:  # neither query closed a window
        empty = {"rows": 0, "views": 0}
        return {
            "streamwise": empty,
            "hand_written": empty,
            "only_in_streamwise": 0,
            "only_in_hand_written": 0,
            "same": True,
        }
    a = a if a is not None else spark.createDataFrame([], b.schema)
    b = b if b is not None else spark.createDataFrame([], a.schema)

    def stats(df) -> dict[str, int]:
        row = df.agg(F.count(F.lit(1)).alias("rows"), F.coalesce(F.sum(measure), F.lit(0)).alias("views")).first()
        return {"rows": int(row["rows"]), "views": int(row["views"])}

    only_ours, only_theirs = a.exceptAll(b).count(), b.exceptAll(a).count()
    return {
        "streamwise": stats(a),
        "hand_written": stats(b),
        "only_in_streamwise": only_ours,
        "only_in_hand_written": only_theirs,
        "same": only_ours == 0 and only_theirs == 0,
    }


def produce_clickstream(settings: Settings, topic: str, events: int, partitions: int, event_rate: float) -> int:
    """``events`` clickstream events (JSON, seed 7) into a new ``topic`` and its dead-letter topic, with
    the project's producer, flat out; event times paced at ``event_rate``, ending about now (the
    broker's timestamp checks accept them). Returns the records sent."""
    ensure_topic(settings.kafka, topic, partitions)
    ensure_topic(settings.kafka, f"{topic}.dlq", 1)  # the pipeline's dead letters (the broker creates no topics)
    start_ms = time.time_ns() // 1_000_000 - int(events * 1000 / event_rate)
    source = StampedAt(create("clickstream", seed=7), event_rate, start_ms)
    report = produce(EventProducer(settings.kafka, topic), source, pace=RateProfile(0), fmt=Format.JSON, count=events)
    if report.stats.failed:
        raise BenchError(f"{report.stats.failed:,} of {report.records:,} records to {topic} failed")
    return report.records
