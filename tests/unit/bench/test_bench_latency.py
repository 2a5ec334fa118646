"""The pure parts of ``bench latency``: how batches become figures, and when a pipeline has caught up."""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np

from streamwise.bench.latency import alert_figures, caught_up, goal_entry, source_timestamp_ms, weighted_median
from streamwise.monitor.metrics import PartitionLag, QueryMetrics


def batch(batch_id: int, rows: int, lag: int) -> QueryMetrics:
    return QueryMetrics(
        query="clickstream",
        run_id="r",
        batch_id=batch_id,
        timestamp_ms=batch_id * 1000,
        input_rows=rows,
        input_rows_per_s=float(rows),
        processed_rows_per_s=float(rows),
        batch_duration_ms=500,
        watermark_delay_ms=None,
        late_rows_dropped=0,
        state_rows=0,
        state_memory_bytes=0,
        latency_ms={"p50": 1.0, "p95": 1.0, "p99": 1.0},
        partitions=[PartitionLag("clickstream", 0, processed=100, latest=100 + lag)],
    )


def test_the_weighted_median_follows_the_records_not_the_batches() -> None:
    """Setup: batch latencies 1, 2 and 10 s with 100, 100 and 1,000 records; then equal weights.
    Invariant: weighted by records the median is 10 s (most records waited 10 s); with equal
    weights it is 2 s, as numpy's median of the three says."""
    values = np.array([1.0, 2.0, 10.0])
    assert weighted_median(values, np.array([100.0, 100.0, 1000.0])) == 10.0
    assert weighted_median(values, np.ones(3)) == float(np.median(values))


def test_caught_up_reads_the_newest_batch_with_records() -> None:
    """Setup: at 2,000 events/s offered, batch 3 ended 5,000 offsets behind, batch 4 1,500 behind,
    and an empty batch 5 reports 9,000 behind (an empty batch carries no lag of its own worth).
    Invariant: not caught up at batch 3 (over 1 s of input); caught up once batch 4 is the newest
    batch with records, whatever the empty one says; nothing yet means not caught up."""
    assert not caught_up([batch(3, 2000, 5000)], 2000)
    assert caught_up([batch(3, 2000, 5000), batch(4, 2000, 1500), batch(5, 0, 9000)], 2000)
    assert not caught_up([], 2000)


def test_a_latency_goal_is_met_at_or_under_its_budget() -> None:
    """Invariant: p99 1.5 s against a 1.5 s budget is met; 1.51 s is not; the entry says it is an upper bound."""
    rows = [{"rate": 20_000, "p99_s": 1.5}, {"rate": 2_000, "p99_s": 1.51}]
    assert goal_entry(rows, 20_000, 1.5, "p99_s") == {"target": 1.5, "value": 1.5, "met": True, "at_most": True}
    assert goal_entry(rows, 2_000, 1.5, "p99_s")["met"] is False


def test_an_alert_carries_its_source_records_kafka_timestamp() -> None:
    """The alert sink writes Spark's timestamps as ISO 8601; with or without an offset they are read
    as the same instant (naive: local time, as pyspark hands them over); no stamp, no figure."""
    aware = b'{"kafka_timestamp": "2026-01-01T00:00:01.250000+00:00", "sensor_id": "s1"}'
    assert source_timestamp_ms(aware) == 1_767_225_601_250
    naive = datetime(2026, 1, 1, 0, 0, 1, 250_000).isoformat()
    assert (
        source_timestamp_ms(json.dumps({"kafka_timestamp": naive}).encode())
        == datetime(2026, 1, 1, 0, 0, 1, 250_000).timestamp() * 1000
    )
    assert source_timestamp_ms(b'{"sensor_id": "s1"}') is None
    assert source_timestamp_ms(b"not json") is None


def test_alert_figures_are_percentiles_of_what_was_seen() -> None:
    seconds = np.arange(1, 101, dtype=float) / 100  # 0.01 .. 1.00 s
    figures = alert_figures(seconds, watched=True)
    assert figures["alerts"] == 100
    assert (figures["alert_p50_s"], figures["alert_p99_s"]) == (np.percentile(seconds, 50), np.percentile(seconds, 99))
    assert alert_figures(np.array([]), watched=True) == {
        "alerts": 0,
        "alert_p50_s": None,
        "alert_p95_s": None,
        "alert_p99_s": None,
    }
    assert alert_figures(np.array([]), watched=False) == {}
