"""``topics plan``'s arithmetic: partitions for a rate with headroom, at least Spark's parallelism and
a multiple of it; the parallelism of a local master; the per-machine cache of the measurement."""

from __future__ import annotations

import os
import platform
from dataclasses import replace
from pathlib import Path

import pytest

from streamwise.config import KafkaSettings
from streamwise.platform import TopicError
from streamwise.platform.partitions import (
    PartitionThroughput,
    cached_throughput,
    plan_partitions,
    save_throughput,
    spark_parallelism,
)

KAFKA = KafkaSettings(port=23192, controller_port=23193)
MEASURED = PartitionThroughput(
    record_bytes=100,
    records=1_000_000,
    produce_events_per_s=600_000.0,
    consume_events_per_s=150_000.0,
    bootstrap_servers=KAFKA.bootstrap,
    machine=platform.node(),
    cpus=2,
    measured_at="2026-11-28T23:00:00Z",
)


@pytest.mark.parametrize(
    ("rate", "parallelism", "headroom", "for_rate", "suggested"),
    [
        (50_000, 2, 2.0, 1, 2),  # 100k/s fits one partition; Spark's two tasks want two
        (75_000, 2, 2.0, 1, 2),  # exactly one partition's 150k/s
        (75_001, 2, 2.0, 2, 2),
        (500_000, 2, 2.0, 7, 8),  # 1M/s needs 6.67 → 7, rounded up to a multiple of 2
        (500_000, 4, 1.0, 4, 4),
        (500_000, 3, 3.0, 10, 12),
        (1, 1, 2.0, 1, 1),
    ],
)
def test_plan_partitions(rate: float, parallelism: int, headroom: float, for_rate: int, suggested: int) -> None:
    """Setup: one partition carries min(600k produce, 150k consume) = 150k events/s.
    Invariant: for_rate = ceil(rate × headroom / 150k); suggested = the smallest multiple of the
    parallelism that is at least for_rate and the parallelism."""
    plan = plan_partitions(rate, MEASURED, parallelism=parallelism, headroom=headroom)
    assert (plan.for_rate, plan.suggested) == (for_rate, suggested)
    assert plan.per_partition_events_per_s == 150_000.0
    assert MEASURED.bound_by == "consume"
    assert f"{rate * headroom:,.0f} events/s to carry" in plan.reasons[0]
    assert f"→ {suggested}" in plan.reasons[-1]


def test_plan_refuses_nonsense() -> None:
    for rate, parallelism, headroom in ((0, 2, 2.0), (10, 0, 2.0), (10, 2, 0.5)):
        with pytest.raises(TopicError, match="cannot plan partitions"):
            plan_partitions(rate, MEASURED, parallelism=parallelism, headroom=headroom)


def test_megabytes_follow_the_record_size() -> None:
    assert MEASURED.produce_mb_per_s == pytest.approx(60.0)
    assert MEASURED.consume_mb_per_s == pytest.approx(15.0)


@pytest.mark.parametrize(
    ("master", "expected"),
    [
        ("local", 1),
        ("local[3]", 3),
        ("local[*]", os.cpu_count()),
        ("local[2, 4]", 2),
        ("spark://127.0.0.1:7077", None),
        ("yarn", None),
        ("k8s://https://api:6443", None),
    ],
)
def test_spark_parallelism_of_a_master(master: str, expected: int | None) -> None:
    assert spark_parallelism(master) == expected


def test_cache_is_per_machine_brokers_and_record_size(tmp_path: Path) -> None:
    """Setup: two measurements saved (100 and 500 bytes), then the 100-byte one measured again.
    Invariant: each is found by its record size, the newer replaces the older, another broker or
    machine finds nothing, and an unreadable cache counts as none."""
    assert cached_throughput(tmp_path, KAFKA, 100) is None
    save_throughput(tmp_path, MEASURED)
    save_throughput(tmp_path, replace(MEASURED, record_bytes=500))
    newer = replace(MEASURED, consume_events_per_s=160_000.0, measured_at="2026-11-29T00:00:00Z")
    path = save_throughput(tmp_path, newer)
    assert cached_throughput(tmp_path, KAFKA, 100) == newer
    assert cached_throughput(tmp_path, KAFKA, 500) == replace(MEASURED, record_bytes=500)
    assert cached_throughput(tmp_path, KafkaSettings(port=23194, controller_port=23195), 100) is None
    save_throughput(tmp_path, replace(MEASURED, machine="elsewhere", record_bytes=7))
    assert cached_throughput(tmp_path, KAFKA, 7) is None
    path.write_text("{not json")
    assert cached_throughput(tmp_path, KAFKA, 100) is None
