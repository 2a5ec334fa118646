"""The live dashboard in a real headless Chromium, against the real broker: charts that move with each
server-sent push, an injected anomaly alert reaching the feed, results from a real Delta table."""

from __future__ import annotations

import json
import math
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pytest
from cli_process import FIXTURES
from confluent_kafka import Producer
from deltalake import write_deltalake

from streamwise.config import QUIET, Settings
from streamwise.dashboard import BackgroundServer, DashboardSettings, create_app
from streamwise.monitor.listener import PROGRESS_TOPIC
from streamwise.monitor.metrics import QueryMetrics
from streamwise.platform.kafka import KafkaCluster
from streamwise.platform.ports import free_ports
from streamwise.platform.topics import create_topic, list_topics

if TYPE_CHECKING:  # playwright is optional: without it the browser fixture skips
    from playwright.sync_api import Browser, Page

PROGRESS = json.loads((FIXTURES / "progress_kafka_window.json").read_text())
PAGES = ["/home", "/products", "/cart", "/search", "/checkout", "/blog", "/help", "/pricing"]
BACKLOG = 40  # batches already published when the page opens (one per second), so the charts have a past
WAIT_MS = 20_000


class ProgressFeed:
    """Publishes a query's progress to ``_streamwise_progress`` as the listener does (QueryMetrics JSON
    keyed by query), each record derived from a real Spark progress event with a moving load."""

    def __init__(self, settings: Settings, query: str) -> None:
        create_topic(settings.kafka, PROGRESS_TOPIC, partitions=1, exist_ok=True)
        self.query = query
        self.batch = 0
        self.producer = Producer(settings.kafka.client_config(**QUIET, **{"acks": "all", "linger.ms": 5}))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="progress-feed", daemon=True)

    def publish(self, at_ms: int) -> None:
        i = self.batch
        rate = 2400 + 700 * math.sin(i / 6) + 150 * math.sin(i * 1.7)
        base = 650 + 220 * math.sin(i / 9 + 1)
        event = json.loads(json.dumps(PROGRESS))
        event.update(
            name=self.query,
            batchId=i,
            timestamp=_iso(at_ms),
            numInputRows=int(rate * 2),
            inputRowsPerSecond=rate,
            processedRowsPerSecond=rate * (1.08 + 0.05 * math.cos(i / 4)),
            batchDuration=400,
            eventTime={"watermark": _iso(at_ms - 9_000 - 40 * (i % 25))},
            observedMetrics={"latency": {"p": [base, base * 1.7, base * 2.4], "n": 1000}},
        )
        processed = {str(p): 10_000 * (p + 1) + 5_000 * i for p in range(3)}
        behind = {"0": 0, "1": int(900 + 600 * math.sin(i / 3)), "2": int(350 + 300 * math.cos(i / 5))}
        event["sources"][0]["endOffset"] = {"clickstream": processed}
        event["sources"][0]["latestOffset"] = {"clickstream": {p: o + behind[p] for p, o in processed.items()}}
        metrics = QueryMetrics.from_progress(event)
        self.producer.produce(PROGRESS_TOPIC, metrics.to_json(), metrics.query.encode())
        self.producer.flush(10)
        self.batch += 1

    def start(self) -> ProgressFeed:
        now = int(time.time() * 1000)
        for back in range(BACKLOG, 0, -1):
            self.publish(now - back * 1000)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.publish(int(time.time() * 1000))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def window_counts(first: datetime, windows: int) -> pd.DataFrame:
    """Views per page in 10-second windows, the clickstream pipeline's output shape."""
    rows = []
    for w in range(windows):
        start = first + timedelta(seconds=10 * w)
        for rank, page in enumerate(PAGES):
            views = int(900 / (rank + 1) + 40 * math.sin(w + rank)) + 30 * w * (page == "/pricing")
            rows.append(
                {"window_start": start, "window_end": start + timedelta(seconds=10), "page": page, "views": views}
            )
    return pd.DataFrame(rows)


@pytest.fixture
def dashboard(
    streamwise_settings: Settings, kafka_broker: KafkaCluster, tmp_path: Path
) -> Iterator[tuple[BackgroundServer, DashboardSettings]]:
    """The dashboard app on a free port, reading the session broker and a Delta table of its own."""
    dash = DashboardSettings(
        port=free_ports(1)[0],
        push_interval_s=1.0,
        alerts_topic=f"alerts_{uuid.uuid4().hex[:8]}",
        results_table=tmp_path / "page_view_counts",
        top_n=5,
        per_window=4,
    )
    with BackgroundServer(create_app(streamwise_settings, dash), dash.host, dash.port) as server:
        yield server, dash


def _points(page: Page, query: str, chart: str) -> int:
    return int(page.get_attribute(f'[data-query="{query}"] [data-testid="{chart}"]', "data-points") or 0)


def _seq(page: Page) -> int:
    return int(page.get_attribute('[data-testid="last-update"]', "data-seq") or 0)


def test_dashboard_in_chromium(
    browser: Browser,
    streamwise_settings: Settings,
    dashboard: tuple[BackgroundServer, DashboardSettings],
    artifacts: Path,
    topic_name: str,
) -> None:
    """Setup: a query's progress is published to `_streamwise_progress` (40 past batches, then one
    every 0.5 s), a Delta table holds 3 closed windows, the dashboard pushes a snapshot every second,
    and a headless Chromium opens the page.
    Invariants: the throughput and latency charts gain points between two pushes and the KPIs follow
    the newest batch; the Kafka badge is green; the windows and top-N match the table (a 4th window
    appended mid-run becomes the top-N's window); the alerts feed is empty while the alerts topic does
    not exist and the dashboard never creates it; a transactionally produced anomaly alert appears in
    the feed within a few pushes. A screenshot is saved to test-artifacts/dashboard.png."""
    server, dash = dashboard
    settings = streamwise_settings
    query = f"{topic_name}_clickstream_0"
    first_window = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=60)
    write_deltalake(str(dash.results_table), window_counts(first_window, 3))
    feed = ProgressFeed(settings, query).start()
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    try:
        page.goto(server.url + "/")
        card = f'[data-testid="query"][data-query="{query}"]'
        page.wait_for_selector(f'{card} [data-testid="chart-throughput"][data-points]', timeout=WAIT_MS)

        # Charts move: two pushes later both charts hold more batches than before.
        seq, thr, lat = _seq(page), _points(page, query, "chart-throughput"), _points(page, query, "chart-latency")
        assert thr >= BACKLOG and lat == thr
        page.wait_for_function(
            """([card, seq, thr]) => +document.querySelector('[data-testid="last-update"]').dataset.seq >= seq + 2
                 && +document.querySelector(card + ' [data-testid="chart-throughput"]').dataset.points > thr""",
            arg=[card, seq, thr],
            timeout=WAIT_MS,
        )
        assert _points(page, query, "chart-latency") > lat
        assert page.locator(f'{card} [data-testid="chart-throughput"] path[data-series="processed"]').count() == 1
        assert page.locator(f'{card} [data-testid="chart-latency"] path[data-series="p99"]').count() == 1
        assert page.locator(f'{card} [data-testid="lag-partition"]').count() == 3
        assert page.get_attribute('[data-testid="health-kafka"]', "data-level") == "ok"
        assert page.inner_text('[data-testid="kpi-input"]').endswith("rows/s")
        page.hover(f'{card} [data-testid="chart-throughput"]')
        assert "processed" in page.inner_text("#tip")
        page.mouse.move(0, 0)

        # Results: the table's newest windows, and the top-N of the newest one.
        rows = page.locator('[data-testid="window-row"]')
        assert rows.count() == 3 * dash.per_window
        assert page.locator('[data-testid="recommendation"]').nth(0).inner_text().split("\n")[1] == "/home"
        write_deltalake(str(dash.results_table), window_counts(first_window + timedelta(seconds=30), 1), mode="append")
        newest = window_counts(first_window + timedelta(seconds=30), 1).sort_values(
            ["views", "page"], ascending=[False, True]
        )
        expected_top = newest.page.tolist()[: dash.top_n]
        page.wait_for_function(
            """(want) => [...document.querySelectorAll('[data-testid="recommendation"] .rec-name')]
                 .map((n) => n.textContent).join('|') === want""",
            arg="|".join(expected_top),
            timeout=WAIT_MS,
        )

        # Alerts: empty, and the dashboard created nothing.
        assert page.locator('[data-testid="alerts-empty"]').count() == 1
        assert dash.alerts_topic not in list_topics(settings.kafka)
        create_topic(settings.kafka, dash.alerts_topic, partitions=2)
        alert = {
            "type": "anomaly",
            "severity": "critical",
            "entity": "sensor-42",
            "metric": "temperature",
            "value": 98.6,
            "zscore": 6.2,
            "message": "temperature 98.6 °C is 6.2σ above its rolling mean",
            "event_time": _iso(int(time.time() * 1000)),
        }
        producer = Producer(
            settings.kafka.client_config(**QUIET, **{"transactional.id": f"e2e-{uuid.uuid4().hex[:8]}"})
        )
        producer.init_transactions(10)
        producer.begin_transaction()
        producer.produce(dash.alerts_topic, json.dumps(alert).encode(), b"sensor-42")
        producer.commit_transaction(10)
        item = page.locator('[data-testid="alert-item"]', has_text="sensor-42")
        item.wait_for(timeout=WAIT_MS)
        assert "temperature 98.6 °C is 6.2σ above its rolling mean" in item.inner_text()
        assert page.inner_text('[data-testid="kpi-alerts"]') == "1"

        page.wait_for_timeout(2500)  # let the new-alert highlight fade and one more batch land
        page.screenshot(path=str(artifacts / "dashboard.png"), full_page=True)
    finally:
        page.close()
        feed.stop()
