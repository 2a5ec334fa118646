"""Kafka's own producer benchmark, ``org.apache.kafka.tools.ProducerPerformance`` (kafka-tools jar),
run from the broker's classpath: the baseline our producer is compared with."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from typing import Any

from streamwise.bench.exceptions import BenchError
from streamwise.config import Settings
from streamwise.platform import jars
from streamwise.platform.java import require_java

PERF_CLASS = "org.apache.kafka.tools.ProducerPerformance"
# "2000000 records sent, 430941.6 records/sec (41.10 MB/sec), 96.58 ms avg latency, 601.00 ms max latency, ..."
_SUMMARY = re.compile(r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, ([\d.]+) ms max latency")


@dataclass(frozen=True)
class PerfResult:
    """The perf tool's final summary line."""

    records: int
    records_per_s: float
    mb_per_s: float
    avg_latency_ms: float
    max_latency_ms: float


def producer_props(config: dict[str, Any]) -> list[str]:
    """librdkafka settings that the Java producer shares, as ``key=value`` (the rest are librdkafka's own)."""
    shared = ("acks", "compression.type", "linger.ms", "batch.size", "enable.idempotence")
    return [f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in config.items() if k in shared]


def run_producer_perf(settings: Settings, *, topic: str, records: int, record_size: int, props: list[str], timeout_s: float = 600) -> PerfResult:
    """Run ProducerPerformance at full speed (``--throughput -1``) and parse its summary."""
    java = require_java()
    jars.cached_jars(settings.cache, "broker")
    classpath = str(jars.jar_dir(settings.cache, "broker") / "*")
    cmd = [
        str(java), "-Xmx512m", "-cp", classpath, PERF_CLASS, "--topic", topic,
        "--num-records", str(records), "--record-size", str(record_size), "--throughput", "-1",
        "--producer-props", f"bootstrap.servers={settings.kafka.bootstrap_servers}", *props,
    ]  # fmt: skip
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)  # noqa: S603
    except subprocess.TimeoutExpired:
        raise BenchError(f"{PERF_CLASS} did not finish {records:,} records within {timeout_s:.0f}s") from None
    match = None
    for line in done.stdout.splitlines():
        match = _SUMMARY.search(line) or match
    if done.returncode != 0 or match is None:
        tail = "\n  ".join((done.stdout + done.stderr).strip().splitlines()[-8:])
        raise BenchError(f"{PERF_CLASS} failed (exit {done.returncode}):\n  {tail}")
    records_sent, per_s, mb, avg, worst = match.groups()
    return PerfResult(int(records_sent), float(per_s), float(mb), float(avg), float(worst))
