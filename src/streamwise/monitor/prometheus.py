"""Prometheus text exposition of query metrics (``/metrics``), built with prometheus_client."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from streamwise.monitor.metrics import QueryMetrics

PREFIX = "streamwise_query_"


class QueryCollector(Collector):
    """Collects the latest metrics of each query (fetched fresh on every scrape)."""

    def __init__(self, source: Callable[[], Iterable[QueryMetrics]]) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        yield from query_metric_families(self.source())


def query_metric_families(latest: Iterable[QueryMetrics]) -> list[Metric]:
    """Gauges per query (and per partition for lag)."""
    simple = {
        "input_rows_per_second": ("Rows per second arriving at the query", lambda m: m.input_rows_per_s),
        "processed_rows_per_second": ("Rows per second the query processed", lambda m: m.processed_rows_per_s),
        "batch_duration_seconds": ("Duration of the last micro-batch", lambda m: m.batch_duration_ms / 1000),
        "batch_id": ("Id of the last micro-batch", lambda m: m.batch_id),
        "late_rows_dropped": ("Rows dropped by the watermark in the last batch", lambda m: m.late_rows_dropped),
        "state_rows": ("Rows held in state stores", lambda m: m.state_rows),
        "state_memory_bytes": ("Memory used by state stores", lambda m: m.state_memory_bytes),
        "last_progress_timestamp_seconds": ("When the last batch reported", lambda m: m.timestamp_ms / 1000),
    }
    families: list[Metric] = []
    metrics = list(latest)
    for name, (doc, value) in simple.items():
        family = GaugeMetricFamily(PREFIX + name, doc, labels=["query"])
        for m in metrics:
            family.add_metric([m.query], float(value(m)))
        families.append(family)
    watermark = GaugeMetricFamily(
        PREFIX + "watermark_delay_seconds", "Batch time minus the watermark", labels=["query"]
    )
    latency = GaugeMetricFamily(
        PREFIX + "end_to_end_latency_seconds",
        "Kafka timestamp to sink commit, by quantile",
        labels=["query", "quantile"],
    )
    lag = GaugeMetricFamily(
        PREFIX + "consumer_lag", "Offsets behind the partition's latest", labels=["query", "topic", "partition"]
    )
    for m in metrics:
        if m.watermark_delay_ms is not None:
            watermark.add_metric([m.query], m.watermark_delay_ms / 1000)
        for quantile, ms in m.latency_ms.items():
            latency.add_metric([m.query, {"p50": "0.5", "p95": "0.95", "p99": "0.99"}[quantile]], ms / 1000)
        for p in m.partitions:
            lag.add_metric([m.query, p.topic, str(p.partition)], p.lag)
    return [*families, watermark, latency, lag]


def render(latest: Iterable[QueryMetrics]) -> bytes:
    """The Prometheus text format for these metrics."""
    registry = CollectorRegistry()
    snapshot = list(latest)
    registry.register(QueryCollector(lambda: snapshot))
    return generate_latest(registry)
