"""``streamwise topics plan`` as a user runs it, from a measurement already cached in the state folder
(so no broker is needed): the table, the suggestion and its reasons."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path


def test_plan_from_the_cached_measurement(tmp_path: Path) -> None:
    """Setup: a cached measurement for this machine, the brokers the settings name and 100-byte
    records (600,000 produced and 150,000 consumed events/s); local[3].
    Invariant: 400,000 events/s × 2 = 800,000 needs ceil(800,000 / 150,000) = 6 partitions, already a
    multiple of 3; the table shows 60.0 and 15.0 MB/s and says where the figures come from."""
    cache = tmp_path / "topics" / "partition_throughput.json"
    cache.parent.mkdir(parents=True)
    entry = {
        "record_bytes": 100,
        "records": 1_000_000,
        "produce_events_per_s": 600_000.0,
        "consume_events_per_s": 150_000.0,
        "bootstrap_servers": "127.0.0.1:23192",
        "machine": platform.node(),
        "cpus": 2,
        "measured_at": "2026-11-28T23:00:00Z",
    }
    cache.write_text(json.dumps([entry]))
    env = {
        **os.environ,
        "COLUMNS": "200",
        "NO_COLOR": "1",
        "STREAMWISE_KAFKA_PORT": "23192",
        "STREAMWISE_KAFKA_CONTROLLER_PORT": "23193",
        "STREAMWISE_SPARK_MASTER": "local[3]",
    }
    result = subprocess.run(
        [sys.executable, "-m", "streamwise", "--state-dir", str(tmp_path), "topics", "plan", "--rate", "400000"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    out = " ".join(result.stdout.split())
    assert "produce │ 60.0 │ 600,000" in out
    assert "consume │ 15.0 │ 150,000" in out
    assert "cached from 2026-11-28T23:00:00Z" in out
    assert "suggested partitions: 6" in out
    assert "400,000 events/s × 2 headroom for spikes = 800,000 events/s to carry" in out
    assert "→ 6 partition(s) for the rate" in out
    assert "3 at once → at least 3" in out
