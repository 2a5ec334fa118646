"""The dashboard in a real headless Chromium following a live pipeline: the clickstream pipeline runs
as a Spark query on the real broker, with the progress listener ``streamwise run`` attaches, while
clickstream events are produced at a steady rate; nothing on the page is built by hand."""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from streamwise.config import Settings
from streamwise.dashboard import BackgroundServer, DashboardSettings, create_app
from streamwise.ingest.producer import EventProducer
from streamwise.monitor.listener import ProgressPublisher
from streamwise.pipeline import load_pipeline, resolve
from streamwise.pipeline.plan import Pipeline
from streamwise.platform.kafka import KafkaCluster
from streamwise.platform.ports import free_ports
from streamwise.platform.topics import create_topic
from streamwise.testing import wait_for
from streamwise.verify import readers

if TYPE_CHECKING:  # playwright is optional: without it the browser fixture skips
    from playwright.sync_api import Browser

PAGES = ["/home", "/products", "/cart", "/search", "/checkout", "/blog", "/help", "/pricing"]
RATE = 400  # events/s: a few batches' worth of windows in under a minute
WAIT_MS = 120_000  # a safety net for a busy machine: the page is polled, never waited on for a time


class LiveEvents:
    """Clickstream events with event time = now, ``RATE`` a second, from a thread, until stopped;
    page popularity follows a fixed skew so windows have a clear top-N."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self.producer = EventProducer(settings.kafka, topic)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="live-events", daemon=True)
        self._rng = np.random.default_rng(5)
        self._weights = np.array([1 / (rank + 1) for rank in range(len(PAGES))])
        self._weights /= self._weights.sum()

    def start(self) -> LiveEvents:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            now = int(time.time() * 1000)
            pages = self._rng.choice(PAGES, size=RATE // 10, p=self._weights)
            self.producer.send_many(  # keyed by user, as the generator does: the pipeline requires a key
                (
                    f"u{i}".encode(),
                    json.dumps({"user_id": f"u{i}", "page": str(page), "event_time": now}).encode(),
                    None,
                )
                for i, page in enumerate(pages)
            )
            self.producer.flush()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def test_dashboard_follows_a_live_pipeline(
    browser: Browser, spark, streamwise_settings: Settings, kafka_broker: KafkaCluster, topic_name: str
) -> None:
    """Setup: the shipped clickstream pipeline (10 s windows per page, 5 s watermark, 1 s trigger)
    on a 3-partition topic, started as a running query with the progress listener; events produced
    at 400/s with event time now; the dashboard pointed at the pipeline's Delta table, as ``up``
    points it; a headless Chromium opens the page.
    Invariants: the query's card appears under its own name and its throughput chart gains points
    from real batches, with one lag bar per partition; once production stops and the query has
    closed what it can, the page's top-N equals pandas' ranking of the newest window in the
    pipeline's Delta table and the windows table shows that window first."""
    settings = streamwise_settings
    shipped = load_pipeline(resolve("clickstream"))
    spec = shipped.model_copy(
        update={
            "name": f"live_{topic_name}",
            "source": shipped.source.model_copy(update={"topic": topic_name}),
            "sinks": [shipped.sinks[0].model_copy(update={"path": f"{topic_name}/page_view_counts"})],
        }
    )
    create_topic(settings.kafka, topic_name, partitions=3)
    plan = Pipeline(spec, settings)
    table = plan.sink_path(spec.sinks[0])
    dash = DashboardSettings(
        port=free_ports(1)[0],
        push_interval_s=1.0,
        alerts_topic=f"alerts_{uuid.uuid4().hex[:8]}",
        results_table=table,
        top_n=5,
        per_window=4,
    )
    listener = ProgressPublisher(settings.kafka)
    spark.streams.addListener(listener)
    events = LiveEvents(settings, topic_name).start()
    (query,) = plan.start(spark)
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    try:
        with BackgroundServer(create_app(settings, dash), dash.host, dash.port) as server:
            page.goto(server.url + "/")
            card = f'[data-testid="query"][data-query="{query.name}"]'
            page.wait_for_function(
                """(card) => +(document.querySelector(card + ' [data-testid="chart-throughput"]')?.dataset.points || 0) >= 3""",
                arg=card,
                timeout=WAIT_MS,
            )
            points = int(page.get_attribute(f'{card} [data-testid="chart-throughput"]', "data-points") or 0)
            page.wait_for_function(
                """([card, n]) => +document.querySelector(card + ' [data-testid="chart-throughput"]').dataset.points > n""",
                arg=[card, points],
                timeout=WAIT_MS,
            )
            assert page.locator(f'{card} [data-testid="lag-partition"]').count() == 3

            def windows() -> pd.DataFrame:
                return readers.delta_rows(table, ["window_start", "page", "views"])

            wait_for(
                lambda: windows()["window_start"].nunique() >= 2, bound_s=WAIT_MS / 1000, what="two closed windows"
            )
            events.stop()
            wait_for(
                lambda: (query.lastProgress or {}).get("numInputRows") == 0,
                bound_s=WAIT_MS / 1000,
                what="an idle batch",
            )

            def top(frame: pd.DataFrame) -> list[str]:
                newest = frame[frame["window_start"] == frame["window_start"].max()]
                return newest.sort_values(["views", "page"], ascending=[False, True])["page"].tolist()[: dash.top_n]

            shown = lambda: page.locator('[data-testid="recommendation"] .rec-name').all_inner_texts()
            # the table and the page agree once the last window the watermark could close is pushed
            expected_top = wait_for(
                lambda: (t := top(windows())) == shown() and t,
                bound_s=WAIT_MS / 1000,
                what="the page's top-N equal to the Delta table's",
            )
            assert len(expected_top) == dash.top_n
            assert expected_top[0] in page.locator('[data-testid="window-row"]').nth(0).inner_text()
    finally:
        events.stop()
        page.close()
        query.stop()
        spark.streams.removeListener(listener)
        listener.close()
