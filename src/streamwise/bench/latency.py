"""``bench latency``: end-to-end latency of the local platform at several offered rates.

For each rate, the whole local platform comes up on the benchmark's own broker, ports and state
folder (``streamwise up``'s code path: registry, dashboard, the paced generator, the Spark pipeline
as its own process), runs ``warmup`` seconds, then is measured for ``measure`` seconds, then is
stopped and removed before the next rate. Figures come from the pipeline's own progress records
(the ones ``/metrics`` and ``status`` show): per batch, percentiles of (sink commit - Kafka
timestamp) over the batch's records; the report gives, over the measured batches weighted by
their records, the median of the batch p50s, p95s and p99s, and the worst batch p99. "Keeps up"
means the consumer lag at the end is under 2 s of input. Measuring starts once the pipeline has
caught up with what was sent while Spark started (lag under 1 s of input) and ``warmup`` has passed;
a rate it does not catch up with in 5 minutes is measured anyway, and its row says it does not keep up. CPU per part is each service's process
tree's CPU time over the measured window, in cores.

For a pipeline with a ``kafka_alerts`` sink (``--pipeline iot_threshold``), the alert path is
measured too, as a subscriber sees it: a ``read_committed`` consumer of the alerts topic takes, for
each alert that arrives in the measured window, its arrival time minus the Kafka timestamp of the
source record the alert carries (``kafka_timestamp``); the row gives the p50/p95/p99 over those.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime
from typing import Any, ClassVar

import numpy as np
import psutil
from confluent_kafka import Consumer

from streamwise.app import local
from streamwise.bench.registry import BenchContext, BenchReport, Column, register
from streamwise.config import QUIET, Settings
from streamwise.monitor.metrics import QueryMetrics
from streamwise.monitor.store import recent_metrics
from streamwise.platform.cluster import SparkCluster, on_free_ports
from streamwise.platform.ports import free_port
from streamwise.platform.process import Service
from streamwise.sinks.config import KafkaAlertsSink

PIPELINE = "clickstream"
RATES = (2_000, 5_000, 20_000, 50_000)
GOALS_P99_S = {20_000: 1.5, 2_000: 3.0}  # the goals: p99 at 20k offered, and at least at 2k
GOAL_ALERT_P99_S = (20_000, 0.5)  # and the alert path's p99 at 20k offered
CATCH_UP_S = 300
PARTS = ("pipeline", "kafka", "generator", "registry", "dashboard")
CLUSTER = "spark_cluster"  # the local Spark cluster's master and workers (their executors are children)


@register
class LatencyBenchmark:
    """End-to-end latency and what each part of the platform costs, per offered rate."""

    name: ClassVar[str] = "latency"
    description: ClassVar[str] = "end-to-end p50/p95/p99 of the local platform at several offered rates"

    def run(self, context: BenchContext) -> BenchReport:
        options = context.options
        rates = [float(r) for r in options.get("rates") or RATES]
        warmup, measure = float(options.get("warmup", 30)), float(options.get("measure", 60))
        pipeline = str(options.get("pipeline") or PIPELINE)
        workers = int(options.get("spark_workers") or 0)
        parts = (*PARTS, CLUSTER) if workers else PARTS
        on_step = options.get("on_step") or (lambda _msg: None)
        rows = []
        for rate in rates:
            settings = platform_settings(context.settings)
            if workers:  # a scratch Spark cluster on free ports, beside any running one
                settings = on_free_ports(settings, workers)
            try:
                on_step(f"{rate:,.0f} events/s: bringing the platform up")
                since_ms = int(time.time() * 1000)
                spec = local.up(settings, rate=rate, partitions=3, pipeline=pipeline, spark_workers=workers)
                rows.append(
                    measure_rate(
                        settings, spec, rate, since_ms, warmup=warmup, measure=measure, on_step=on_step, parts=parts
                    )
                )
            finally:
                # Purged: the next rate starts as a new user's platform does (no topic, checkpoint or
                # progress of this one to resume or to mistake for its own).
                local.down(settings, purge=True)
        goals = {
            f"p99 at {rate:,} events/s offered (s, at most)": goal_entry(rows, rate, budget, "p99_s")
            for rate, budget in GOALS_P99_S.items()
            if any(r["rate"] == rate and r["p99_s"] is not None for r in rows)
        }
        alerts = any(r.get("alert_p99_s") is not None for r in rows)
        rate, budget = GOAL_ALERT_P99_S
        if alerts and any(r["rate"] == rate and r.get("alert_p99_s") is not None for r in rows):
            goals[f"alert path p99 at {rate:,} events/s offered (s, at most)"] = goal_entry(
                rows, rate, budget, "alert_p99_s"
            )
        alert_columns = (
            [
                Column("alerts", "alerts", "{:,}"),
                Column("alert_p50_s", "alert p50 s", "{:.2f}"),
                Column("alert_p99_s", "alert p99 s", "{:.2f}"),
            ]
            if alerts
            else []
        )
        return BenchReport(
            name=self.name,
            columns=[
                Column("rate", "offered/s", "{:,.0f}"),
                Column("delivered", "in/s", "{:,.0f}"),
                Column("p50_s", "p50 s", "{:.2f}"),
                Column("p95_s", "p95 s", "{:.2f}"),
                Column("p99_s", "p99 s", "{:.2f}"),
                Column("worst_p99_s", "worst s", "{:.2f}"),
                Column("batch_s", "batch s", "{:.2f}"),
                Column("lag_end", "lag", "{:,}"),
                Column("keeps_up", "keeps up", "{}"),
                Column("cpu_pipeline", "cpu driver" if workers else "cpu spark", "{:.2f}"),
                *([Column(f"cpu_{CLUSTER}", "cpu executors", "{:.2f}")] if workers else []),
                Column("cpu_kafka", "cpu kafka", "{:.2f}"),
                Column("cpu_generator", "cpu gen", "{:.2f}"),
                *alert_columns,
            ],
            rows=rows,
            config={
                "pipeline": pipeline,
                "warmup_s": warmup,
                "measure_s": measure,
                "rates": rates,
                "spark_workers": workers,
            },
            goals=goals,
            notes=[
                "latency: Kafka timestamp of a record to the end of the batch that wrote it to the sink, from "
                "the pipeline's observed metric plus the batch duration; per-batch percentiles, then the "
                "records-weighted median over the measured batches (worst: the largest batch p99)",
                "cpu: cores used by each part's process tree over the measured window (2 cores in all here)",
                *(
                    [
                        f"on a local Spark cluster of {workers} workers: cpu driver is the pipeline's driver, "
                        "cpu executors the master and workers with their executors"
                    ]
                    if workers
                    else []
                ),
            ],
        )


def platform_settings(base: Settings) -> Settings:
    """The benchmark broker's settings with its own registry and dashboard ports and no Spark UI, so
    a running local platform is left alone."""
    return base.model_copy(
        update={
            "registry": base.registry.model_copy(update={"port": free_port()}),
            "dashboard": base.dashboard.model_copy(update={"port": free_port()}),
            "spark": base.spark.model_copy(update={"ui": False}),
        }
    )


def measure_rate(
    settings: Settings,
    spec: Any,
    rate: float,
    since_ms: int,
    *,
    warmup: float,
    measure: float,
    on_step: Any,
    parts: tuple[str, ...] = PARTS,
) -> dict[str, Any]:
    """Wait until pipeline ``spec`` has caught up with what the generator sent while Spark started
    (lag under 1 s of input), warm up, then measure one window of batches (and of alerts, when it
    writes any). Only batches reported after ``since_ms`` count."""
    ours = lambda: [m for m in batches(settings, spec.name) if m.timestamp_ms >= since_ms]
    deadline = time.monotonic() + CATCH_UP_S
    while not caught_up(ours(), rate) and time.monotonic() < deadline:
        time.sleep(2)
    if not [m for m in ours() if m.input_rows]:
        raise TimeoutError(
            f"no batch of {PIPELINE} with records within {CATCH_UP_S} s at {rate:,.0f} events/s; see {settings.state}/logs"
        )
    # A rate it cannot keep up with is measured too: its row then says so (lag at the end, keeps up: no).
    on_step(
        f"{rate:,.0f} events/s: {'caught up' if caught_up(ours(), rate) else 'NOT caught up'}; warming up {warmup:.0f} s"
    )
    time.sleep(warmup)
    alert_topic = next((s.topic for s in spec.sinks if isinstance(s, KafkaAlertsSink)), None)
    watch = AlertLatency(settings, alert_topic).start() if alert_topic else None
    start_ms = int(time.time() * 1000)
    cpu_before = {part: cpu_seconds(settings, part) for part in parts}
    on_step(f"{rate:,.0f} events/s: measuring {measure:.0f} s")
    time.sleep(measure)
    cpu = {part: (cpu_seconds(settings, part) - cpu_before[part]) / measure for part in parts}
    alert_s = np.array(watch.stop(), dtype=float) / 1000 if watch else np.array([])
    measured = [m for m in batches(settings, spec.name) if m.timestamp_ms >= start_ms and m.input_rows]
    if not measured:
        raise TimeoutError(f"no batch with records finished in the {measure:.0f} s measured at {rate:,.0f} events/s")
    # A real-time pipeline's progress carries no latency metric (no foreachBatch to observe it in):
    # its figures are the alert path's.
    timed = [m for m in measured if m.latency_ms]
    weights = np.array([m.input_rows for m in timed], dtype=float)
    figure = {
        q: weighted_median(np.array([m.latency_ms[q] for m in timed]) / 1000, weights) if timed else None
        for q in ("p50", "p95", "p99")
    }
    last = max(measured, key=lambda m: m.batch_id)
    lag = sum(p.lag for p in last.partitions)
    delivered = float(np.mean([m.input_rows_per_s for m in measured]))
    return {
        "rate": rate,
        "delivered": delivered,
        "batches": len(measured),
        "p50_s": figure["p50"],
        "p95_s": figure["p95"],
        "p99_s": figure["p99"],
        "worst_p99_s": max(m.latency_ms["p99"] for m in timed) / 1000 if timed else None,
        "batch_s": float(np.median([m.batch_duration_ms for m in measured])) / 1000,
        "lag_end": lag,
        "keeps_up": lag <= 2 * rate,
        **{f"cpu_{part}": round(value, 3) for part, value in cpu.items()},
        # per measured batch: (batch id, records, duration ms, p99 ms), to see where the tail comes from
        "series": [
            (m.batch_id, m.input_rows, m.batch_duration_ms, m.latency_ms.get("p99") if m.latency_ms else None)
            for m in measured
        ],
        **alert_figures(alert_s, watched=watch is not None),
    }


def alert_figures(seconds: np.ndarray, *, watched: bool) -> dict[str, Any]:
    """The alert path's percentiles over the alerts seen (None without alerts to measure)."""
    if not watched:
        return {}
    if not len(seconds):
        return {"alerts": 0, "alert_p50_s": None, "alert_p95_s": None, "alert_p99_s": None}
    p50, p95, p99 = np.percentile(seconds, [50, 95, 99])
    return {"alerts": len(seconds), "alert_p50_s": float(p50), "alert_p95_s": float(p95), "alert_p99_s": float(p99)}


class AlertLatency:
    """Alerts as a subscriber sees them: a ``read_committed`` consumer of ``topic`` from its end,
    in a thread, recording per alert its arrival time minus the Kafka timestamp of the source
    record it carries (``kafka_timestamp``), in milliseconds."""

    def __init__(self, settings: Settings, topic: str) -> None:

        self.topic = topic
        self.consumer = Consumer(
            settings.kafka.client_config(
                **QUIET,
                **{
                    "group.id": f"streamwise-bench-alerts-{time.time_ns()}",
                    "enable.auto.commit": False,
                    "isolation.level": "read_committed",
                    "auto.offset.reset": "latest",
                    "fetch.wait.max.ms": 10,
                },
            )
        )
        self.latencies_ms: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alert-latency", daemon=True)

    def start(self) -> AlertLatency:
        self.consumer.subscribe([self.topic])
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            for msg in self.consumer.consume(500, timeout=0.2):
                arrived_ms = time.time() * 1000
                value = msg.value()
                if msg.error() is None and value:
                    source_ms = source_timestamp_ms(value)
                    if source_ms is not None:
                        self.latencies_ms.append(arrived_ms - source_ms)

    def stop(self) -> list[float]:
        """Stop watching; the latencies seen, in ms."""
        self._stop.set()
        self._thread.join(timeout=10)
        self.consumer.close()
        return self.latencies_ms


def source_timestamp_ms(value: bytes) -> float | None:
    """The source record's Kafka timestamp an alert carries (ISO 8601; naive times are the
    driver's local time, as pyspark hands them over), in epoch ms; None when it has none."""
    try:
        stamp = json.loads(value).get("kafka_timestamp")
        return datetime.fromisoformat(stamp).timestamp() * 1000 if isinstance(stamp, str) else None
    except (ValueError, AttributeError):
        return None


def caught_up(metrics: list[QueryMetrics], rate: float) -> bool:
    """True once the newest batch with records ended less than 1 s of input behind the topic's end."""
    with_rows = [m for m in metrics if m.input_rows]
    return bool(with_rows) and sum(p.lag for p in max(with_rows, key=lambda m: m.batch_id).partitions) <= rate


def batches(settings: Settings, query: str) -> list[QueryMetrics]:
    return recent_metrics(settings.kafka).get(query, [])


def weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The value below which half the weight lies."""
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, cumulative[-1] / 2)])


def cpu_seconds(settings: Settings, part: str) -> float:
    """CPU seconds used so far by a service's process and its children (Spark's JVM is a child of
    the pipeline's Python process; an executor, of its worker's)."""
    if part == CLUSTER:
        cluster = SparkCluster(settings)
        return sum(cpu_seconds(settings, daemon.name) for daemon in [cluster.master, *cluster.workers()])
    proc = local_process(settings, part)
    if proc is None:
        return 0.0
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            times = p.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            continue
    return total


def local_process(settings: Settings, part: str) -> psutil.Process | None:
    """The process of one part of the local platform (its Kafka is one node: service ``kafka``)."""
    return Service(part, settings.state).process()


def goal_entry(rows: list[dict[str, Any]], rate: float, budget: float, key: str) -> dict[str, Any]:
    value = next(r[key] for r in rows if r["rate"] == rate)
    if value is None:
        return {"target": budget, "value": None, "met": False, "at_most": True}
    return {"target": budget, "value": value, "met": value <= budget, "at_most": True}
