"""The dashboard's HTTP contract, served by the real app on a real uvicorn server in a thread.

Its Kafka reads are swapped for progress records derived from a real Spark progress event (the
monitor fixture) and a fixed alert list; the results table is a real Delta table written with
delta-rs, and the service health comes from a real (empty) state folder. No broker is needed."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pandas as pd
import pytest
from cli_process import FIXTURES
from deltalake import write_deltalake
from prometheus_client.parser import text_string_to_metric_families

from streamwise.config import Settings, load_settings
from streamwise.dashboard import Alert, AlertFeed, BackgroundServer, DashboardSettings, Sources, create_app
from streamwise.monitor.metrics import QueryMetrics
from streamwise.platform.ports import free_ports
from streamwise.platform.process import SERVICES

PROGRESS = json.loads((FIXTURES / "progress_kafka_window.json").read_text())
BATCHES = 6
T0 = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)


def progress_history(now_ms: int) -> list[QueryMetrics]:
    """Six consecutive batches of the fixture's query, two seconds apart, ending at ``now_ms``."""
    runs = []
    for i in range(BATCHES):
        event = json.loads(json.dumps(PROGRESS))
        ts = datetime.fromtimestamp((now_ms - (BATCHES - 1 - i) * 2000) / 1000, tz=UTC)
        event.update(
            batchId=7 + i,
            timestamp=ts.isoformat().replace("+00:00", "Z"),
            inputRowsPerSecond=500.0 + 10 * i,
            processedRowsPerSecond=530.0 + 10 * i,
        )
        event["sources"][0]["endOffset"] = {"clicks": {"0": 539 + 100 * i, "1": 561 + 100 * i}}
        event["sources"][0]["latestOffset"] = {"clicks": {"0": 939 + 100 * i, "1": 561 + 100 * i}}
        runs.append(QueryMetrics.from_progress(event))
    return runs


def window_counts() -> pd.DataFrame:
    """Views per page in four 10-second windows, as the clickstream pipeline writes them."""
    rows = []
    for w in range(4):
        start = T0 + timedelta(seconds=10 * w)
        for page, views in (("/home", 40 + w), ("/cart", 25), ("/search", 31 - w), ("/a", 25), ("/b", 3 * w)):
            rows.append(
                {"window_start": start, "window_end": start + timedelta(seconds=10), "page": page, "views": views}
            )
    return pd.DataFrame(rows)


ALERTS = AlertFeed(
    topic="alerts",
    exists=True,
    items=[
        Alert(
            partition=0,
            offset=4,
            timestamp_ms=1_764_079_000_000,
            key="sensor-7",
            value={"severity": "critical", "message": "temperature spike", "zscore": 5.2},
        ),
    ],
)


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Kafka on a port nothing listens on: any real Kafka read would show up as an empty snapshot."""
    (port, controller) = free_ports(2)
    return load_settings(
        state_dir=tmp_path_factory.mktemp("state"), kafka={"port": port, "controller_port": controller}
    )


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> DashboardSettings:
    table = tmp_path_factory.mktemp("warehouse") / "page_view_counts"
    write_deltalake(str(table), window_counts())
    return DashboardSettings(results_table=table, push_interval_s=0.2, top_n=4, per_window=3, windows=2)


@pytest.fixture(scope="module")
def history() -> list[QueryMetrics]:
    return progress_history(int(time.time() * 1000))


@pytest.fixture(scope="module")
def server(settings: Settings, dashboard: DashboardSettings, history: list[QueryMetrics]) -> Iterator[BackgroundServer]:
    sources = replace(
        Sources.live(settings, dashboard),
        kafka_serving=lambda: True,
        progress=lambda: {history[0].query: history},
        alerts=lambda: ALERTS,
    )
    with BackgroundServer(create_app(settings, dashboard, sources=sources), port=free_ports(1)[0]) as srv:
        yield srv


def test_metrics_parse_as_prometheus(server: BackgroundServer, history: list[QueryMetrics]) -> None:
    """/metrics parses with prometheus_client's parser; the named series carry the last batch's values."""
    resp = httpx.get(server.url + "/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain; version=")
    families = {f.name: f for f in text_string_to_metric_families(resp.text)}
    last = history[-1]
    for name in (
        "streamwise_query_input_rows_per_second",
        "streamwise_query_processed_rows_per_second",
        "streamwise_query_end_to_end_latency_seconds",
        "streamwise_query_consumer_lag",
        "streamwise_query_batch_duration_seconds",
        "streamwise_query_watermark_delay_seconds",
    ):
        assert name in families, name
    assert [s.value for s in families["streamwise_query_batch_id"].samples] == [float(last.batch_id)]
    assert [s.value for s in families["streamwise_query_input_rows_per_second"].samples] == [550.0]
    lag = {s.labels["partition"]: s.value for s in families["streamwise_query_consumer_lag"].samples}
    assert lag == {"0": 400.0, "1": 0.0}
    quantiles = {s.labels["quantile"]: s.value for s in families["streamwise_query_end_to_end_latency_seconds"].samples}
    assert quantiles == {"0.5": 3.061, "0.95": 4.361, "0.99": 5.961}


def test_snapshot_shape(server: BackgroundServer, history: list[QueryMetrics], dashboard: DashboardSettings) -> None:
    """/api/snapshot: one query with its whole history and per-partition lag, the health of each service
    of `up` (none runs in this state folder), the newest windows first, the top-N of the latest window as
    pandas ranks it, and the alerts feed."""
    snap = httpx.get(server.url + "/api/snapshot").json()
    assert set(snap) == {
        "generated_at_ms",
        "bootstrap_servers",
        "components",
        "queries",
        "windows",
        "recommendations",
        "alerts",
    }
    assert [(c["name"], c["level"]) for c in snap["components"]] == [
        (name, "ok" if name == "kafka" else "down") for name in SERVICES
    ]
    (query,) = snap["queries"]
    assert (query["name"], query["level"], query["state"], query["batch_id"]) == ("clicks_delta_0", "ok", "ok", 12)
    assert [p["batch_id"] for p in query["history"]] == [m.batch_id for m in history]
    assert [p["t"] for p in query["history"]] == [m.timestamp_ms for m in history]
    assert query["history"][-1] | {"t": 0} == {
        "t": 0,
        "batch_id": 12,
        "input_rows_per_s": 550.0,
        "processed_rows_per_s": 580.0,
        "p50_ms": 3061.0,
        "p95_ms": 4361.0,
        "p99_ms": 5961.0,
        "lag": 400,
    }
    assert [(p["partition"], p["processed"], p["latest"], p["lag"]) for p in query["partitions"]] == [
        (0, 1039, 1439, 400),
        (1, 1061, 1061, 0),
    ]
    assert 0 <= query["last_progress_age_s"] < 60

    frame = window_counts()
    newest = frame[frame.window_start >= frame.window_start.max() - timedelta(seconds=10)]
    expected = newest.sort_values(["window_start", "views", "page"], ascending=[False, False, True])
    expected = expected.groupby("window_start", sort=False).head(dashboard.per_window)
    windows = snap["windows"]
    assert windows["error"] is None and windows["columns"] == ["window_start", "window_end", "page", "views"]
    assert [(r["window_start"], r["page"], r["views"]) for r in windows["rows"]] == [
        (r.window_start.isoformat().replace("+00:00", "Z"), r.page, r.views) for r in expected.itertuples()
    ]
    latest = frame[frame.window_start == frame.window_start.max()]
    top = latest.sort_values(["views", "page"], ascending=[False, True]).head(dashboard.top_n)
    recs = snap["recommendations"]
    assert recs["window_start"] == "2026-11-25T14:00:30Z" and recs["window_end"] == "2026-11-25T14:00:40Z"
    assert [(i["rank"], i["item"], i["score"]) for i in recs["items"]] == [
        (rank, r.page, float(r.views)) for rank, r in enumerate(top.itertuples(), 1)
    ]
    assert snap["alerts"] == ALERTS.model_dump()


def test_events_are_server_sent_snapshots(server: BackgroundServer) -> None:
    """/events speaks text/event-stream: a retry hint, then `id`, `event: snapshot` and one-line JSON
    `data` per push, each frame ended by a blank line; ?limit=N ends the stream after N pushes."""
    with httpx.stream("GET", server.url + "/events?limit=2", timeout=10) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        assert resp.headers["cache-control"] == "no-cache"
        body = resp.read().decode()
    assert body.endswith("\n\n")
    frames = body.split("\n\n")[:-1]
    assert frames[0] == "retry: 200"
    assert len(frames) == 3
    for number, frame in enumerate(frames[1:], 1):
        lines = frame.split("\n")
        assert lines[:2] == [f"id: {number}", "event: snapshot"] and len(lines) == 3
        assert lines[2].startswith("data: ")
        assert json.loads(lines[2][len("data: ") :])["queries"][0]["name"] == "clicks_delta_0"


def test_event_stream_keeps_pushing_until_the_client_leaves(server: BackgroundServer) -> None:
    """Without a limit the stream pushes a fresh snapshot every push interval (0.2 s here) until the
    client disconnects; the server then serves other requests as before."""
    started = time.monotonic()
    stamps = []
    with httpx.stream("GET", server.url + "/events", timeout=10) as resp:
        for line in resp.iter_lines():
            if line.startswith("data: "):
                stamps.append(json.loads(line[6:])["generated_at_ms"])
            if len(stamps) == 4:
                break
    assert time.monotonic() - started < 5
    assert stamps == sorted(stamps) and len(set(stamps)) >= 2  # snapshots are rebuilt, not replayed
    assert httpx.get(server.url + "/api/snapshot").status_code == 200


def test_page_is_self_contained(server: BackgroundServer) -> None:
    """GET / is the single static page: HTML with the elements the e2e test drives, and nothing
    loaded from another host (the machine may have no internet)."""
    resp = httpx.get(server.url + "/")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/html")
    page = resp.text
    for test_id in (
        "health",
        "kpi-input",
        "kpi-p95",
        "kpi-lag",
        "queries",
        "windows-table",
        "recommendations",
        "alerts-feed",
        "last-update",
    ):
        assert f'data-testid="{test_id}"' in page, test_id
    assert "<script src" not in page and '<link rel="stylesheet"' not in page
    assert "https://" not in page and "http://" not in page.replace("http://www.w3.org/2000/svg", "")


def test_live_sources_without_a_broker(settings: Settings, dashboard: DashboardSettings) -> None:
    """The live sources against a port where no broker listens: the snapshot comes back at once with
    Kafka stopped, no queries, an empty alerts feed (nothing created), and the Delta windows."""
    with BackgroundServer(create_app(settings, dashboard), port=free_ports(1)[0]) as srv:
        started = time.monotonic()
        snap = httpx.get(srv.url + "/api/snapshot", timeout=10).json()
        elapsed = time.monotonic() - started
    assert elapsed < 3
    kafka = next(c for c in snap["components"] if c["name"] == "kafka")
    assert (kafka["level"], kafka["state"]) == ("down", "stopped")
    assert snap["queries"] == [] and snap["alerts"] == {"topic": "alerts", "exists": False, "items": [], "error": None}
    assert len(snap["windows"]["rows"]) == 2 * dashboard.per_window
