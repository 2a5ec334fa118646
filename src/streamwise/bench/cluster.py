"""``bench cluster``: the same pipeline on ``local[2]`` and on a Spark standalone cluster of this machine,
and a worker SIGKILLed in the middle of a run.

Throughput. N clickstream events (``bench overhead``'s producer: seed 7, event times paced at
2,000/s) go once into a topic of P partitions (4 by default: a partition is a task, and two
executors both need work). Each case is a SparkSession of this process, the previous one stopped
first (one SparkContext per process): ``local[2]``, then the master of a scratch cluster (``cluster
up``: 2 workers of 1 core and 1 GiB on free loopback ports). Each is warmed up untimed on a small
topic, then timed over the whole topic as ``bench scaling`` times a case. The tasks each executor ran
in the timed run come from the driver's REST API (``/api/v1/applications/<id>/allexecutors``, read
before and after it).

Drills. For the clickstream pipeline and the IoT anomaly pipeline (per-sensor state kept by
``applyInPandasWithState``: Python on the executors), the input is produced once; ``streamwise run
FILE --once`` runs over it on ``local[2]`` for reference, then on the cluster, where one worker is
SIGKILLed with its executor and their Python workers once K batches have committed. The cluster run
must finish on the other worker and write exactly the reference's Delta rows. Every run is a child
process, as a user runs it; the killed worker is started again afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import httpx
import pandas as pd
import yaml

from streamwise.bench.exceptions import BenchError
from streamwise.bench.overhead import (
    WARMUP_EVENT_RATE,
    WARMUP_EVENTS,
    StampedAt,
    clickstream_spec,
    produce_clickstream,
    run_streamwise,
)
from streamwise.bench.registry import BenchContext, BenchReport, Column, register
from streamwise.config import Settings, settings_env
from streamwise.ingest.disorder import RateProfile
from streamwise.ingest.encoding import Format
from streamwise.ingest.producer import EventProducer
from streamwise.ingest.run import ensure_topic, produce
from streamwise.ingest.scenario import create
from streamwise.pipeline import resolve
from streamwise.pipeline.layout import PipelineLayout
from streamwise.platform.cluster import SparkCluster, on_free_ports
from streamwise.platform.ports import free_port
from streamwise.platform.spark import spark_session
from streamwise.platform.storage import Location, data_root
from streamwise.verify.readers import delta_rows

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

LOCAL = "local[2]"
RUN_TIMEOUT_S = 600.0  # a bound for one run --once on a busy machine, never expected to be reached


@dataclass(frozen=True)
class Drill:
    """A shipped example pipeline and the generated input a worker-kill drill runs it over."""

    pipeline: str  # example name
    scenario: str  # the generator that feeds it
    events: int
    per_batch: int  # max_offsets_per_trigger: the run is many batches, and the kill lands inside it
    partitions: int
    event_rate: float  # event times paced as if sent at this many per second
    shape: dict[str, Any] = field(default_factory=dict)


DRILLS = {
    # Event times 100 s apart end to end: 10 windows of 10 s close, each with a row per page.
    "clickstream": Drill("clickstream", "clickstream", events=20_000, per_batch=2_000, partitions=2, event_rate=200),
    # 60 sensors, 100 readings each over 120 s: every baseline lives in state across batches.
    "iot_anomalies": Drill(
        "iot_anomalies", "iot", events=6_000, per_batch=600, partitions=2, event_rate=50, shape={"sensors": 60}
    ),
}


@dataclass
class DrillResult:
    """One drill: the reference run, the cluster run with its kill, and whether their rows agree."""

    pipeline: str
    events: int
    reference_rows: int
    cluster_rows: int
    same_rows: bool
    batches: int  # committed by the cluster run
    killed_after: int | None  # batches committed when the worker died (None: the run ended first)
    reference_s: float
    cluster_s: float
    executors: list[dict[str, Any]]  # the cluster run's executors, last read from the driver's REST API

    @property
    def ok(self) -> bool:
        """Killed mid-run (batches committed after the kill), an executor lost, the same rows, not none."""
        lost = any(not e["active"] for e in self.executors)
        return (
            self.same_rows
            and self.reference_rows > 0
            and self.killed_after is not None
            and self.batches > self.killed_after
            and lost
        )

    def row(self) -> dict[str, Any]:
        return {
            "case": f"drill {self.pipeline}",
            "events": self.events,
            "rows": self.cluster_rows,
            "same_rows": self.same_rows,
            "batches": self.batches,
            "killed_after": self.killed_after,
            "reference_s": round(self.reference_s, 1),
            "seconds": round(self.cluster_s, 1),
            "tasks": tasks_line(self.executors),
            "ok": self.ok,
        }


# --- the drills -----------------------------------------------------------------------------------


def run_drill(
    settings: Settings,
    cluster: SparkCluster,
    drill: Drill,
    *,
    topic: str,
    folder: Path,
    worker: int = 1,
    kill_after: int = 2,
    on_step: Callable[[str], None] = lambda _msg: None,
) -> DrillResult:
    """Produce ``drill``'s input into ``topic``, run the pipeline over it on ``local[2]`` and on
    ``cluster`` (SIGKILLing ``worker`` once ``kill_after`` batches have committed), compare the Delta
    rows; the worker is started again before returning. ``settings`` are the broker's and the state
    folder's; every file of the drill is under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    on_step(f"{drill.pipeline}: producing {drill.events:,} {drill.scenario} events into {topic}")
    produce_scenario(settings, topic, drill, partitions=drill.partitions)
    runs = {}
    for where in ("local", "cluster"):
        name = f"{topic.replace('.', '_')}_{where}"
        path = folder / f"{name}.yaml"
        path.write_text(yaml.safe_dump(drill_spec(drill, name, topic, folder / name / "table"), sort_keys=False))
        runs[where] = (name, path, folder / name / "table")
    on_step(f"{drill.pipeline}: run --once on {LOCAL} (reference)")
    started = time.monotonic()
    _run_to_end(_run_command(runs["local"][1]), _env(settings, LOCAL), folder / "local.log")
    reference_s = time.monotonic() - started

    on_step(f"{drill.pipeline}: run --once on {cluster.url}; worker {worker} SIGKILLed after batch {kill_after}")
    ui_port = free_port()
    checkpoint = PipelineLayout(runs["cluster"][0], data_root(settings)).main_checkpoint
    driver = DriverWatch(f"http://127.0.0.1:{ui_port}")
    started = time.monotonic()
    killed_after: int | None = None
    try:
        with open(folder / "cluster.log", "w") as log:
            proc = subprocess.Popen(
                _run_command(runs["cluster"][1]),
                env=_env(settings, cluster.url, ui_port=ui_port),
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=folder,
            )
            driver.start()
            try:
                while proc.poll() is None:
                    if time.monotonic() - started > RUN_TIMEOUT_S:
                        raise BenchError(f"run --once on the cluster did not finish in {RUN_TIMEOUT_S:.0f}s")
                    if killed_after is None and committed(checkpoint) >= kill_after:
                        killed_after = committed(checkpoint)
                        cluster.kill(worker)
                        on_step(f"{drill.pipeline}: killed worker {worker} after {killed_after} batches")
                    time.sleep(0.2)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                driver.stop()
        cluster_s = time.monotonic() - started
        if proc.returncode != 0:
            raise BenchError(
                f"run --once on the cluster exited {proc.returncode}; last lines of {folder / 'cluster.log'}:\n"
                + _tail(folder / "cluster.log")
            )
    finally:
        if cluster.worker(worker).process() is None:
            on_step(f"starting worker {worker} again")
            cluster.restart_worker(worker)
    reference, ours = (_sorted_rows(delta_rows(runs[where][2])) for where in ("local", "cluster"))
    return DrillResult(
        pipeline=drill.pipeline,
        events=drill.events,
        reference_rows=len(reference),
        cluster_rows=len(ours),
        same_rows=reference.equals(ours),
        batches=committed(checkpoint),
        killed_after=killed_after,
        reference_s=reference_s,
        cluster_s=cluster_s,
        executors=driver.executors,
    )


def drill_spec(drill: Drill, name: str, topic: str, table: Path) -> dict[str, Any]:
    """The shipped example as its YAML says, but named ``name``, reading ``topic`` ``per_batch``
    offsets a batch, with its Delta sink alone, writing ``table``. An anomaly step emits every
    reading (``emit: all``): every baseline and z-score is compared, not only the flagged few."""
    raw = yaml.safe_load(resolve(drill.pipeline).read_text())
    raw["name"] = name
    raw["source"] = {**raw["source"], "topic": topic, "max_offsets_per_trigger": drill.per_batch}
    delta = next(sink for sink in raw["sinks"] if sink["type"] == "delta")
    raw["sinks"] = [{**delta, "path": str(table)}]
    for step in raw.get("steps", []):
        if step.get("type") == "anomaly":
            step["emit"] = "all"
    return raw


def produce_scenario(settings: Settings, topic: str, drill: Drill, *, partitions: int) -> int:
    """``drill.events`` events of its scenario (seed 7) into a new ``topic`` and its dead-letter topic,
    flat out, event times paced at ``drill.event_rate`` and ending about now."""
    if drill.scenario == "clickstream" and not drill.shape:
        return produce_clickstream(settings, topic, drill.events, partitions, drill.event_rate)
    ensure_topic(settings.kafka, topic, partitions)
    ensure_topic(settings.kafka, f"{topic}.dlq", 1)
    start_ms = time.time_ns() // 1_000_000 - int(drill.events * 1000 / drill.event_rate)
    source = StampedAt(create(drill.scenario, seed=7, **drill.shape), drill.event_rate, start_ms)
    report = produce(
        EventProducer(settings.kafka, topic), source, pace=RateProfile(0), fmt=Format.JSON, count=drill.events
    )
    if report.stats.failed:
        raise BenchError(f"{report.stats.failed:,} of {report.records:,} records to {topic} failed")
    return report.records


def committed(checkpoint: Location) -> int:
    """Batches the query of ``checkpoint`` has committed."""
    folder = checkpoint / "commits"
    return sum(1 for p in folder.iterdir() if p.name.isdigit()) if folder.is_dir() else 0


class DriverWatch:
    """Reads a running driver's executors from its REST API every half second, in a thread; keeps the
    last answer (the driver's UI goes with it when the run ends)."""

    def __init__(self, ui_url: str) -> None:
        self.ui_url = ui_url
        self.executors: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _watch(self) -> None:
        while not self._stop.wait(0.5):
            found = executors(self.ui_url)
            if found:
                self.executors = found


def executors(ui_url: str, timeout_s: float = 2.0) -> list[dict[str, Any]]:
    """Each executor of the driver serving ``ui_url`` (dead ones too): id, host:port, whether active,
    cores and the tasks it completed and failed. Empty when the driver does not answer."""
    try:
        apps = httpx.get(f"{ui_url}/api/v1/applications", timeout=timeout_s).json()
        app = apps[0]["id"]
        found = httpx.get(f"{ui_url}/api/v1/applications/{app}/allexecutors", timeout=timeout_s).json()
    except (httpx.HTTPError, ValueError, LookupError, TypeError):
        return []
    return [
        {
            "id": str(e["id"]),
            "address": e.get("hostPort", ""),
            "active": bool(e.get("isActive", True)),
            "cores": int(e.get("totalCores", 0)),
            "completed_tasks": int(e.get("completedTasks", 0)),
            "failed_tasks": int(e.get("failedTasks", 0)),
        }
        for e in found
    ]


def tasks_line(found: list[dict[str, Any]]) -> str:
    """``0: 120 · 1: 118 (lost, 2 failed)``: tasks per executor (the driver only when it ran any)."""
    parts = []
    for e in sorted(found, key=lambda e: (e["id"] != "driver", e["id"])):
        if e["id"] == "driver" and not e["completed_tasks"]:
            continue
        notes = [
            *(["lost"] if not e["active"] else []),
            *([f"{e['failed_tasks']} failed"] if e["failed_tasks"] else []),
        ]
        parts.append(f"{e['id']}: {e['completed_tasks']:,}" + (f" ({', '.join(notes)})" if notes else ""))
    return " · ".join(parts) or "-"


def _sorted_rows(frame: pd.DataFrame) -> pd.DataFrame:
    columns = sorted(frame.columns)
    return frame[columns].sort_values(columns).reset_index(drop=True)


def _run_command(path: Path) -> list[str]:
    return [sys.executable, "-m", "streamwise", "run", str(path), "--once"]


def _env(settings: Settings, master: str, *, ui_port: int | None = None) -> dict[str, str]:
    """The environment of a ``run`` on ``master`` with ``settings``' broker and state folder; the
    driver's UI (and REST API) on ``ui_port`` when given."""
    ui = {"ui": ui_port is not None, "ui_port": ui_port or settings.spark.ui_port}
    spark = settings.spark.model_copy(update={"master": master, **ui})
    return {**os.environ, **settings_env(settings.model_copy(update={"spark": spark}))}


def _run_to_end(cmd: list[str], env: dict[str, str], log: Path) -> None:
    with open(log, "w") as out:
        result = subprocess.run(
            cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=log.parent, timeout=RUN_TIMEOUT_S, check=False
        )
    if result.returncode != 0:
        raise BenchError(f"`{' '.join(cmd[2:])}` exited {result.returncode}; last lines of {log}:\n" + _tail(log))


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


# --- throughput -----------------------------------------------------------------------------------


def session(settings: Settings, master: str, label: str) -> SparkSession:
    """A SparkSession of this process on ``master`` with its UI on a free port (its REST API says
    what each executor ran); the running one is stopped first (one SparkContext per process)."""
    from pyspark.sql import SparkSession

    running = SparkSession.getActiveSession()
    if running is not None:
        running.stop()
    spark = settings.spark.model_copy(update={"master": master, "ui": True, "ui_port": free_port()})
    return spark_session(settings.model_copy(update={"spark": spark}), app_name=f"streamwise-bench-cluster-{label}")


def timed_case(
    spark: SparkSession, settings: Settings, topic: str, warm: str, folder: Path, events: int
) -> dict[str, Any]:
    """Warm ``spark`` up on ``warm``, then time the clickstream pipeline over ``topic``; events/s and
    the tasks each executor ran in the timed run."""
    ui = spark.sparkContext.uiWebUrl or ""
    run_streamwise(spark, settings, clickstream_spec(), warm, folder / "warmup")
    before = {e["id"]: e for e in executors(ui)}
    timed = run_streamwise(spark, settings, clickstream_spec(), topic, folder / "timed")
    after = executors(ui)
    spread = [
        {**e, "completed_tasks": e["completed_tasks"] - before.get(e["id"], {}).get("completed_tasks", 0)}
        for e in after
    ]
    workers = [e for e in spread if e["id"] != "driver"] or spread
    return {
        "seconds": timed.seconds,
        "events_per_s": events / timed.seconds,
        "executors": len(workers),
        "tasks": tasks_line(spread),
        "task_counts": {e["id"]: e["completed_tasks"] for e in workers},
        "table": str(timed.table),
    }


@register
class ClusterBenchmark:
    """local[2] vs a 2-worker standalone cluster: events/s, tasks per executor, and worker-kill drills."""

    name: ClassVar[str] = "cluster"
    description: ClassVar[str] = (
        "the clickstream pipeline's run --once events/s on local[2] vs a 2-worker standalone cluster, "
        "tasks per executor, and a worker SIGKILLed mid-run (clickstream, iot_anomalies): the same rows"
    )

    def run(self, context: BenchContext) -> BenchReport:
        options = context.options
        events = int(options.get("events", 1_000_000))
        partitions = int(options.get("partitions", 4))
        workers = int(options.get("workers", 2))
        drills = list(options.get("drills", list(DRILLS)))
        unknown = [d for d in drills if d not in DRILLS]
        if (events and events < 1000) or partitions < 1 or workers < 1 or unknown:
            raise BenchError(
                f"bench cluster needs events 0 (drills only) or ≥ 1000, partitions and workers ≥ 1 and known drills "
                f"({', '.join(DRILLS)}); got {events}, {partitions}, {workers}, {unknown or drills}"
            )
        on_step = options.get("on_step") or (lambda _msg: None)
        prefix, folder = context.scratch(self.name)
        settings = on_free_ports(context.settings, workers)
        cluster = SparkCluster(settings)
        rows: list[dict[str, Any]] = []
        checks: dict[str, Any] = {}
        load_before = os.getloadavg()[0]
        on_step(f"starting a Spark cluster: a master and {workers} worker(s) at {cluster.url}")
        cluster.start(workers)
        try:
            if events:  # 0: the drills alone
                rows += self._throughput(settings, cluster, prefix, folder, events, partitions, on_step, checks)
            for name in drills:
                result = run_drill(
                    settings, cluster, DRILLS[name], topic=f"{prefix}.{name}", folder=folder / name, on_step=on_step
                )
                rows.append(result.row())
                checks[f"worker killed mid-run, same rows: {name}"] = {
                    "passed": result.ok,
                    "detail": f"{result.cluster_rows:,} rows on the cluster, {result.reference_rows:,} on {LOCAL} "
                    f"({'identical' if result.same_rows else 'DIFFERENT'}); worker 1 killed after "
                    f"{result.killed_after} of {result.batches} batches; tasks {tasks_line(result.executors)}",
                }
        finally:
            cluster.stop()
            shutil.rmtree(folder, ignore_errors=True)
        return BenchReport(
            name=self.name,
            rows=rows,
            columns=[
                Column("case", "case"),
                Column("executors", "executors"),
                Column("seconds", "wall s", "{:.1f}"),
                Column("events_per_s", "events/s", "{:,.0f}"),
                Column("ratio", f"× {LOCAL}", "{:.2f}"),
                Column("tasks", "tasks per executor"),
                Column("same_rows", "same rows"),
            ],
            config={
                "events": events,
                "partitions": partitions,
                "workers": workers,
                "worker": {"cores": settings.spark.worker_cores, "memory": settings.spark.worker_memory},
                "executor": {"cores": settings.spark.executor_cores, "memory": settings.spark.executor_memory},
                "spark.sql.shuffle.partitions": settings.spark.shuffle_partitions,
                "drills": {name: asdict(DRILLS[name]) for name in drills},
                "cpus": os.cpu_count(),
                "load_average_1m": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
            },
            checks=checks,
            notes=[
                "one machine: the cluster's executors, the driver and the broker share its cores; the cluster "
                "adds task scheduling, serialization and shuffles between JVMs that local[2] does in one",
                "tasks per executor count the timed run only (the REST API read before and after it)",
            ],
        )

    def _throughput(
        self,
        settings: Settings,
        cluster: SparkCluster,
        prefix: str,
        folder: Path,
        events: int,
        partitions: int,
        on_step: Callable[[str], None],
        checks: dict[str, Any],
    ) -> list[dict[str, Any]]:
        topic, warm = f"{prefix}.events", f"{prefix}.warmup"
        on_step(f"producing {events:,} clickstream events into {topic} ({partitions} partitions)")
        produce_clickstream(settings, topic, events, partitions, 2_000.0)
        produce_clickstream(settings, warm, WARMUP_EVENTS, 1, WARMUP_EVENT_RATE)
        rows = []
        try:
            for i, (label, master) in enumerate(((LOCAL, LOCAL), (f"cluster {cluster.url}", cluster.url))):
                on_step(f"{label}: warm-up, then {events:,} events")
                spark = session(settings, master, "local" if i == 0 else "cluster")
                rows.append({"case": label, **timed_case(spark, settings, topic, warm, folder / f"case{i}", events)})
        finally:
            from pyspark.sql import SparkSession

            running = SparkSession.getActiveSession()
            if running is not None:
                running.stop()
        for row in rows:
            row["ratio"] = row["events_per_s"] / rows[0]["events_per_s"]
        tables = [_sorted_rows(delta_rows(Path(row.pop("table")))) for row in rows]
        same = tables[0].equals(tables[1]) and len(tables[0]) > 0
        for row in rows:
            row["same_rows"] = same
        counts = list(rows[-1]["task_counts"].values())
        checks["both runs wrote the same windows"] = {"passed": same, "detail": f"{len(tables[0]):,} window rows"}
        checks["every executor of the cluster ran tasks"] = {
            "passed": len(counts) == len(cluster.worker_indices()) and all(counts),
            "detail": rows[-1]["tasks"],
        }
        return rows
