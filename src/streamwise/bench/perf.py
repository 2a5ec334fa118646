"""Kafka's own producer benchmark, ``org.apache.kafka.tools.ProducerPerformance`` (kafka-tools jar),
run from the broker's classpath: the baseline our producer is compared with."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamwise.bench.exceptions import BenchError
from streamwise.config import Settings
from streamwise.platform import jars
from streamwise.platform.java import require_java

PERF_CLASS = "org.apache.kafka.tools.ProducerPerformance"
# The final summary: "2000000 records sent, 430941.6 records/sec (41.10 MB/sec), 96.58 ms avg latency, 601.00 ms max
# latency, 5 ms 50th, ...". The tool also prints a line every 5 s that starts the same way but counts only that window,
# so the percentiles, which only the final line has, are part of the pattern.
_SUMMARY = re.compile(
    r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, "
    r"([\d.]+) ms max latency, \d+ ms 50th"
)
_PAYLOADS_READ = re.compile(r"Number of messages read: (\d+)")
# The tool's default --payload-delimiter. It reads the file as UTF-8 text (malformed bytes become U+FFFD) and splits
# it on this delimiter as a regular expression, so a payload must be valid UTF-8, non-empty and free of newlines.
PAYLOAD_DELIMITER = b"\n"


@dataclass(frozen=True)
class PerfResult:
    """The perf tool's final summary line."""

    records: int
    records_per_s: float
    mb_per_s: float  # the tool's MB are 2^20 bytes
    avg_latency_ms: float
    max_latency_ms: float

    @property
    def bytes_per_record(self) -> float:
        """Value bytes per record by the tool's own count (its MB/s over its records/s)."""
        return self.mb_per_s * 2**20 / self.records_per_s if self.records_per_s else 0.0


@dataclass(frozen=True)
class PayloadFile:
    """A ``--payload-file``: the path, how many payloads it holds and their mean size in bytes."""

    path: Path
    records: int
    mean_bytes: int


def mean_record_bytes(values: Sequence[bytes]) -> int:
    """The mean size of ``values`` in whole bytes (at least 1: ``--record-size`` must be positive)."""
    if not values:
        raise BenchError("no records to measure", hint="the sample batch came back empty; check the scenario")
    return max(1, round(sum(map(len, values)) / len(values)))


def write_payload_file(path: Path, values: Sequence[bytes]) -> PayloadFile:
    """Write ``values`` as a ProducerPerformance ``--payload-file``, one per line, checking first that the tool
    will read back exactly these bytes."""
    for i, value in enumerate(values):
        if not value or PAYLOAD_DELIMITER in value:
            raise BenchError(
                f"record {i} of the payload sample {'contains a newline' if value else 'is empty'}, so {PERF_CLASS} "
                f"would not read it back as it is: {value[:60]!r}",
                hint="payload files suit JSON records only; use --record-size for other formats",
            )
    data = PAYLOAD_DELIMITER.join(values) + PAYLOAD_DELIMITER
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BenchError(
            f"the payload sample is not UTF-8 text (byte {e.start}), which {PERF_CLASS} would alter "
            "while reading its payload file",
            hint="payload files suit JSON records only; use --record-size for binary formats",
        ) from None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return PayloadFile(path, len(values), mean_record_bytes(values))


def parse_summary(output: str) -> PerfResult | None:
    """The tool's final summary line in its ``output``, or None if it has none (it failed before the end)."""
    found = None
    for line in output.splitlines():
        found = _SUMMARY.search(line) or found
    if found is None:
        return None
    records_sent, per_s, mb, avg, worst = found.groups()
    return PerfResult(int(records_sent), float(per_s), float(mb), float(avg), float(worst))


def check_records_sent(result: PerfResult, expected: int, output: str = "") -> None:
    """Raise BenchError unless the tool sent every record it was asked to: it counts only acknowledged sends and
    still exits 0 when some failed, so its records/s would otherwise describe a different run."""
    if result.records == expected:
        return
    raise BenchError(
        f"{PERF_CLASS} sent {result.records:,} of the {expected:,} records it was asked to send{_tail(output)}",
        hint="some sends failed (the output above ends with the last stack trace); "
        "check the broker's disk and memory, and rerun",
    )


def producer_props(config: dict[str, Any]) -> list[str]:
    """librdkafka settings that the Java producer shares, as ``key=value`` (the rest are librdkafka's own)."""
    shared = ("acks", "compression.type", "linger.ms", "batch.size", "enable.idempotence")
    return [f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in config.items() if k in shared]


def run_producer_perf(
    settings: Settings,
    *,
    topic: str,
    records: int,
    props: list[str],
    record_size: int | None = None,
    payload: PayloadFile | None = None,
    timeout_s: float = 600,
) -> PerfResult:
    """Run ProducerPerformance at full speed (``--throughput -1``) and parse its summary, checking that it sent
    ``records`` records. Its values are either the payloads of ``payload`` (picked at random) or random letters of
    ``record_size`` bytes: give exactly one."""
    if (record_size is None) == (payload is None):
        raise BenchError(
            "run_producer_perf needs exactly one of record_size and payload",
            hint="pass payload=write_payload_file(...) to send real records, or record_size=N",
        )
    java = require_java()
    jars.cached_jars(settings.cache, "broker")
    classpath = str(jars.jar_dir(settings.cache, "broker") / "*")
    values = ["--record-size", str(record_size)] if payload is None else ["--payload-file", str(payload.path)]
    cmd = [
        str(java),
        "-Xmx512m",
        "-cp",
        classpath,
        PERF_CLASS,
        "--topic",
        topic,
        "--num-records",
        str(records),
        *values,
        "--throughput",
        "-1",
        "--producer-props",
        f"bootstrap.servers={settings.kafka.bootstrap}",
        *props,
    ]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise BenchError(
            f"{PERF_CLASS} did not finish {records:,} records within {timeout_s:.0f}s",
            hint="lower --events, or check that the broker is up and not short of memory",
        ) from None
    output = done.stdout + done.stderr
    result = parse_summary(done.stdout)
    if done.returncode != 0 or result is None:
        raise BenchError(
            f"{PERF_CLASS} failed (exit {done.returncode}){_tail(output)}",
            hint="its last lines above say why; `streamwise jars` re-resolves the broker jars it runs from",
        )
    if payload is not None:
        read = _PAYLOADS_READ.search(done.stdout)
        if read is None or int(read.group(1)) != payload.records:
            raise BenchError(
                f"{PERF_CLASS} read {read.group(1) if read else 'an unknown number of'} payloads from "
                f"{payload.path}, not the {payload.records:,} written{_tail(output)}",
                hint="the file must be UTF-8 text with one payload per line",
            )
    check_records_sent(result, records, output)
    return result


def _tail(output: str, lines: int = 8) -> str:
    """The last lines of the tool's output, indented under a message (or nothing)."""
    last = output.strip().splitlines()[-lines:]
    return ":\n  " + "\n  ".join(last) if last else ""
