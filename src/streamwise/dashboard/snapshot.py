"""One snapshot of everything the dashboard shows, built from Kafka, the state folder and Delta.

The page, ``/api/snapshot`` and every server-sent event carry the same :class:`Snapshot`; it is built
at most once per half push interval, however many browsers are watching.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel

from streamwise.config import Settings
from streamwise.dashboard.alerts import AlertFeed, read_alerts
from streamwise.dashboard.progress import ProgressTail
from streamwise.dashboard.settings import DashboardSettings, results_table
from streamwise.monitor.metrics import QueryMetrics
from streamwise.monitor.windows import latest_windows, measure_and_item
from streamwise.platform.kafka import KafkaCluster
from streamwise.platform.process import SERVICES, Service, ServiceStatus
from streamwise.platform.storage import Location

Level = Literal["ok", "warn", "down"]


class Point(BaseModel):
    """One micro-batch on the charts (``t``: when it reported, epoch ms)."""

    t: int
    batch_id: int
    input_rows_per_s: float
    processed_rows_per_s: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    lag: int


class PartitionView(BaseModel):
    """A partition's processed offset, latest offset and the lag between them."""

    topic: str
    partition: int
    processed: int
    latest: int
    lag: int


class QueryView(BaseModel):
    """A query's latest figures, its health and its recent history (oldest first)."""

    name: str
    level: Level
    state: str
    last_progress_age_s: float
    batch_id: int
    input_rows_per_s: float
    processed_rows_per_s: float
    batch_duration_ms: int
    latency_ms: dict[str, float]
    lag: int
    watermark_delay_ms: int | None
    late_rows_dropped: int
    state_rows: int
    state_memory_bytes: int
    partitions: list[PartitionView]
    history: list[Point]


class Component(BaseModel):
    """A health badge: one process of the platform, or one query."""

    name: str
    level: Level
    state: str
    pid: int | None = None
    restarts: int = 0  # by its supervisor (the pipeline's), since the service started
    last_cause: str | None = None  # of the last restart, or of giving up


class WindowsView(BaseModel):
    """The latest windows of the results table, as rows of its columns (times in ISO 8601, UTC)."""

    table: str
    columns: list[str]
    rows: list[dict[str, Any]]
    error: str | None = None


class Recommendation(BaseModel):
    """One ranked item of the latest window."""

    rank: int
    item: str
    score: float


class Recommendations(BaseModel):
    """Top-N items of the latest closed window (from the results table until a dedicated sink exists)."""

    window_start: str | None
    window_end: str | None
    items: list[Recommendation]


class Snapshot(BaseModel):
    """Everything the page shows at one moment."""

    generated_at_ms: int
    bootstrap_servers: str
    components: list[Component]
    queries: list[QueryView]
    windows: WindowsView
    recommendations: Recommendations
    alerts: AlertFeed


@dataclass(frozen=True)
class Sources:
    """Where a snapshot's data comes from. :meth:`live` reads the real platform; tests may swap a part."""

    kafka_serving: Callable[[], bool]
    progress: Callable[[], dict[str, list[QueryMetrics]]]
    alerts: Callable[[], AlertFeed]
    results: Callable[[], pd.DataFrame]
    services: Callable[[], list[ServiceStatus]]
    results_table: Location
    close: Callable[[], None] = lambda: None

    @classmethod
    def live(cls, settings: Settings, dashboard: DashboardSettings) -> Sources:

        table = results_table(settings, dashboard)
        broker = KafkaCluster(settings)
        tail = ProgressTail(settings.kafka, dashboard.history)

        def serving() -> bool:
            # A refused connection answers at once; only then pay for a metadata round trip.
            try:
                socket.create_connection(settings.kafka.first_server(), timeout=1).close()
            except OSError:
                return False
            return broker.serving(timeout_s=2)

        return cls(
            kafka_serving=serving,
            progress=tail.read,
            alerts=lambda: read_alerts(settings.kafka, dashboard.alerts_topic, last=dashboard.alerts_last),
            results=lambda: latest_windows(
                table, windows=dashboard.windows, per_window=max(dashboard.per_window, dashboard.top_n)
            ),
            services=lambda: [
                status
                for name in SERVICES
                for status in (
                    [node.service.status() for node in broker.nodes]  # one row per node of a cluster
                    if name == "kafka"
                    else [Service(name, settings.state).status()]
                )
            ],
            results_table=table,
            close=tail.close,
        )


class Snapshots:
    """Builds snapshots, sharing one between callers that ask within ``max_age_s`` of each other."""

    def __init__(self, sources: Sources, dashboard: DashboardSettings, bootstrap_servers: str) -> None:
        self.sources = sources
        self.dashboard = dashboard
        self.bootstrap_servers = bootstrap_servers
        self.max_age_s = dashboard.push_interval_s / 2
        self._lock = threading.Lock()
        self._built_at = float("-inf")
        self._snapshot: Snapshot | None = None
        self._latest: list[QueryMetrics] = []

    def current(self) -> Snapshot:
        """A snapshot no older than ``max_age_s`` (blocking I/O: call it from a worker thread)."""
        with self._lock:
            if self._snapshot is None or time.monotonic() - self._built_at > self.max_age_s:
                self._snapshot, self._latest = self._build()
                self._built_at = time.monotonic()
            return self._snapshot

    def latest_metrics(self) -> list[QueryMetrics]:
        """The newest metrics of each query, as of the current snapshot (what ``/metrics`` exposes)."""
        self.current()
        return self._latest

    def _build(self) -> tuple[Snapshot, list[QueryMetrics]]:
        now_ms = int(time.time() * 1000)
        serving = self.sources.kafka_serving()
        history = self.sources.progress() if serving else {}
        queries = [self._query_view(name, runs, now_ms) for name, runs in sorted(history.items()) if runs]
        alerts = (
            self.sources.alerts() if serving else AlertFeed(topic=self.dashboard.alerts_topic, exists=False, items=[])
        )
        windows, recommendations = self._results()
        snapshot = Snapshot(
            generated_at_ms=now_ms,
            bootstrap_servers=self.bootstrap_servers,
            components=[_component(st, serving) for st in self.sources.services()],
            queries=queries,
            windows=windows,
            recommendations=recommendations,
            alerts=alerts,
        )
        return snapshot, [runs[-1] for runs in history.values() if runs]

    def _query_view(self, name: str, runs: list[QueryMetrics], now_ms: int) -> QueryView:
        m = runs[-1]
        age_s = max(0.0, (now_ms - m.timestamp_ms) / 1000)
        level, state = query_health(m, age_s, self.dashboard.stale_after_s)
        return QueryView(
            name=name,
            level=level,
            state=state,
            last_progress_age_s=round(age_s, 1),
            batch_id=m.batch_id,
            input_rows_per_s=m.input_rows_per_s,
            processed_rows_per_s=m.processed_rows_per_s,
            batch_duration_ms=m.batch_duration_ms,
            latency_ms=m.latency_ms,
            lag=m.lag,
            watermark_delay_ms=m.watermark_delay_ms,
            late_rows_dropped=m.late_rows_dropped,
            state_rows=m.state_rows,
            state_memory_bytes=m.state_memory_bytes,
            partitions=[
                PartitionView(topic=p.topic, partition=p.partition, processed=p.processed, latest=p.latest, lag=p.lag)
                for p in m.partitions
            ],
            history=[_point(r) for r in runs],
        )

    def _results(self) -> tuple[WindowsView, Recommendations]:
        table = str(self.sources.results_table)
        try:
            frame = self.sources.results()
        except Exception as exc:
            none = Recommendations(window_start=None, window_end=None, items=[])
            return WindowsView(table=table, columns=[], rows=[], error=f"cannot read {table}: {exc}"), none
        rows = [{k: _jsonable(v) for k, v in row.items()} for row in frame.to_dict("records")]
        measure, item = measure_and_item(frame.columns, frame.dtypes)
        latest = rows[0].get("window_start") if rows else None  # latest_windows puts the newest window first
        top = [r for r in rows if r.get("window_start") == latest][: self.dashboard.top_n] if measure and item else []
        shown: list[dict[str, Any]] = []
        for row in rows:
            if sum(r.get("window_start") == row.get("window_start") for r in shown) < self.dashboard.per_window:
                shown.append(row)
        windows = WindowsView(table=table, columns=[str(c) for c in frame.columns], rows=shown)
        recommendations = Recommendations(
            window_start=latest,
            window_end=top[0].get("window_end") if top else None,
            items=[
                Recommendation(rank=i, item=str(r[item]), score=float(r[measure] or 0)) for i, r in enumerate(top, 1)
            ],
        )
        return windows, recommendations


def query_health(m: QueryMetrics, age_s: float, stale_after_s: float) -> tuple[Level, str]:
    """'stale' when silent too long, 'behind' when the lag is over ten batches' worth, else 'ok'."""
    if age_s > stale_after_s:
        return "down", "stale"
    if m.lag > 10 * max(m.input_rows, 1):
        return "warn", "behind"
    return "ok", "ok"


def _component(status: ServiceStatus, kafka_serving: bool) -> Component:
    level: Level
    if status.name == "kafka":  # the single node
        if kafka_serving:
            state = "serving" if status.running else "serving (not started by streamwise)"
            return Component(name="kafka", level="ok", state=state, pid=status.pid)
        level = "warn" if status.running else "down"
        return Component(
            name="kafka", level=level, state="not serving" if status.running else "stopped", pid=status.pid
        )
    if status.name.startswith("kafka-"):  # a node of the cluster profile: the others serve while it is down
        if not status.running:
            return Component(name=status.name, level="down", state="stopped")
        level, state = ("ok", "serving") if kafka_serving else ("warn", "not serving")
        return Component(name=status.name, level=level, state=state, pid=status.pid)
    sup = status.supervisor
    level, state = ("ok", "running") if status.running else ("down", "stopped")
    if sup is not None and status.running and sup.state == "backing off":
        level, state = "warn", "restarting"
    elif sup is not None and not status.running and sup.state == "gave up":
        state = "gave up"
    return Component(
        name=status.name,
        level=level,
        state=state,
        pid=status.pid,
        restarts=sup.restarts if sup is not None else 0,
        last_cause=sup.last_cause if sup is not None else None,
    )


def _point(m: QueryMetrics) -> Point:
    lat = m.latency_ms
    return Point(
        t=m.timestamp_ms,
        batch_id=m.batch_id,
        input_rows_per_s=m.input_rows_per_s,
        processed_rows_per_s=m.processed_rows_per_s,
        p50_ms=lat.get("p50"),
        p95_ms=lat.get("p95"),
        p99_ms=lat.get("p99"),
        lag=m.lag,
    )


def _jsonable(value: Any) -> Any:
    """Timestamps as ISO 8601 in UTC, numpy scalars as Python numbers."""
    if isinstance(value, (pd.Timestamp, datetime)):
        ts = pd.Timestamp(value)
        ts = ts.tz_localize(UTC) if ts.tzinfo is None else ts.tz_convert(UTC)
        return ts.isoformat().replace("+00:00", "Z")
    if hasattr(value, "item"):
        return value.item()
    return value
