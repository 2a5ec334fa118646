"""R7 (a spike of the offered rate) at test size, and R6 (the soak) at its smallest.

Full size (×10 for 30 s; 30 minutes at 20,000 events/s): ``streamwise.bench.chaos_load``."""

from __future__ import annotations

import pytest

from streamwise.bench.chaos_load import soak, spike
from streamwise.config import Settings


@pytest.mark.slow
def test_r7_spike_drains_in_bounded_batches_exactly(kafka_broker, streamwise_settings: Settings) -> None:
    """Setup: one broker; clickstream events at 500/s into the pass-through pipeline (Delta +
    transactional Kafka topic) under the supervisor, its source bounded to 10,000 records a batch
    (20 s of the base rate); 20 s in, the offered rate goes ×10 for 10 s (a backlog of ~45,000), then back to 500/s until the lag is back at its
    highest level before the spike, and 5 s more; the pipeline catches up and is stopped.
    Invariant: no batch read more than the bound although the spike offered more than that per
    trigger; the spike raised the lag above its earlier level and it came back to it (one recovery
    figure); the driver never failed; every sink holds every acknowledged event exactly once."""
    result = spike(streamwise_settings, base_rate=500, factor=10, spike_s=10, warmup_s=20, after_s=5)
    extra = result.extra
    assert extra["max_offsets_per_trigger"] == 10_000
    assert 0 < extra["max_batch_rows"] <= 10_000 and extra["batches_bounded"]
    assert extra["lag_peak"] > extra["lag_before"] and len(result.recovery_s) == 1
    assert result.pipeline_restarts == 0
    assert result.sent == result.acknowledged > 20 * 500 + 10 * 5_000
    assert result.consumed == {sink: result.acknowledged for sink in result.consumed} and len(result.consumed) == 2
    assert (result.lost, result.duplicated, result.dead_lettered) == (0, 0, 0)


@pytest.mark.slow
def test_r6_soak_smoke(kafka_broker, streamwise_settings: Settings) -> None:
    """Setup: one broker; events at 1,000/s into the pass-through pipeline; 10 s after its first
    committed batch a sample, then one every 20 s for 1 minute.
    Invariant: 4 samples, each with the driver's and the broker's resident memory and the
    checkpoint's size; the growth figures are computed; every sink holds every acknowledged event
    exactly once."""
    result = soak(streamwise_settings, minutes=1, rate=1_000, every_s=20, warmup_s=10)
    samples = result.extra["samples"]
    assert len(samples) == 4
    assert all(s["driver_rss_mb"] and s["broker_rss_mb"] > 0 and s["checkpoint_bytes"] > 0 for s in samples)
    assert result.extra["driver_rss_growth_mb"] is not None and result.extra["broker_rss_growth_mb"] is not None
    assert result.sent == result.acknowledged > 60 * 1_000
    assert result.consumed == {sink: result.acknowledged for sink in result.consumed} and len(result.consumed) == 2
    assert (result.lost, result.duplicated) == (0, 0)
