"""Query metrics from a Spark progress event (a real event's JSON, with a watermark and two stateful
operators), their JSON round trip, and the Prometheus text."""

from __future__ import annotations

import json

from cli_process import FIXTURES
from prometheus_client.parser import text_string_to_metric_families

from streamwise.monitor.metrics import PartitionLag, QueryMetrics
from streamwise.monitor.prometheus import render

PROGRESS = json.loads((FIXTURES / "progress_kafka_window.json").read_text())


def test_metrics_from_progress() -> None:
    m = QueryMetrics.from_progress(PROGRESS)
    assert (m.query, m.batch_id, m.input_rows, m.batch_duration_ms) == ("clicks_delta_0", 7, 1000, 1861)
    assert m.watermark_delay_ms == 10_000
    assert (m.late_rows_dropped, m.state_rows, m.state_memory_bytes) == (5, 50, 91136)
    # observed (batch start - Kafka timestamp) plus the batch's own duration
    assert m.latency_ms == {"p50": 3061, "p95": 4361, "p99": 5961}
    assert m.partitions == [PartitionLag("clicks", 0, 539, 939), PartitionLag("clicks", 1, 561, 561)]
    assert m.lag == 400


def test_progress_without_kafka_or_observation() -> None:
    bare = {
        **PROGRESS,
        "sources": [{"description": "rate", "endOffset": 17, "latestOffset": None}],
        "observedMetrics": {},
        "eventTime": {},
        "name": None,
    }
    m = QueryMetrics.from_progress(bare)
    assert m.query == PROGRESS["id"]
    assert (m.partitions, m.latency_ms, m.watermark_delay_ms, m.lag) == ([], {}, None, 0)


def test_json_round_trip() -> None:
    m = QueryMetrics.from_progress(PROGRESS)
    assert QueryMetrics.from_json(m.to_json()) == m


def test_prometheus_text_parses_with_labels() -> None:
    m = QueryMetrics.from_progress(PROGRESS)
    families = {f.name: f for f in text_string_to_metric_families(render([m]).decode())}
    lag = {
        (s.labels["topic"], s.labels["partition"]): s.value for s in families["streamwise_query_consumer_lag"].samples
    }
    assert lag == {("clicks", "0"): 400.0, ("clicks", "1"): 0.0}
    latency = {s.labels["quantile"]: s.value for s in families["streamwise_query_end_to_end_latency_seconds"].samples}
    assert latency == {"0.5": 3.061, "0.95": 4.361, "0.99": 5.961}
    assert [s.value for s in families["streamwise_query_late_rows_dropped"].samples] == [5.0]
    assert [s.value for s in families["streamwise_query_watermark_delay_seconds"].samples] == [10.0]
