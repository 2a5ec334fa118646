"""``bench ingest``: our producer per scenario against Kafka's own ProducerPerformance, in one run.

For each scenario: the mean encoded record size is measured on a sample batch; ProducerPerformance
sends the same number of records of that size to a topic with the same partitions, with the same
producer settings (acks=all, idempotence, compression, linger, batch size); then the scenario's
generator, encoder and producer send their events as fast as they can (no disorder, no ground
truth: the steady path). ``ratio`` is our events/s over the perf tool's records/s.
"""

from __future__ import annotations

import os
import time
from typing import Any, ClassVar

import pyarrow.compute as pc

from streamwise.bench.perf import producer_props, run_producer_perf
from streamwise.bench.registry import BenchContext, BenchReport, Column, register
from streamwise.ingest.disorder import RateProfile
from streamwise.ingest.encoding import Encoder, Format
from streamwise.ingest.producer import PRODUCER_DEFAULTS, EventProducer
from streamwise.ingest.run import ensure_topic, produce
from streamwise.ingest.scenario import create, names

GOAL_EVENTS_PER_S = 300_000  # clickstream, on a 2-core machine
GOAL_RATIO = 0.6
_SAMPLE = 16_384
_NOW_MS = 1_800_000_000_000


@register
class IngestBenchmark:
    """Producer throughput per scenario, beside Kafka's producer perf tool."""

    name: ClassVar[str] = "ingest"
    description: ClassVar[str] = "events/s per scenario into Kafka, and the ratio to Kafka's ProducerPerformance"

    def run(self, context: BenchContext) -> BenchReport:
        options = context.options
        scenarios: list[str] = list(options.get("scenarios") or names())
        events: int = int(options.get("events", 2_000_000))
        partitions: int = int(options.get("partitions", 8))
        fmt = Format(options.get("format", Format.JSON))
        on_step = options.get("on_step") or (lambda _msg: None)
        kafka = context.settings.kafka
        run_id = f"{int(time.time())}-{os.getpid()}"  # fresh topics even on a shared --bootstrap broker
        rows: list[dict[str, Any]] = []
        for name in scenarios:
            size = record_size(name, fmt)
            perf_topic, our_topic = f"bench.{name}.perf.{run_id}", f"bench.{name}.streamwise.{run_id}"
            ensure_topic(kafka, perf_topic, partitions)
            ensure_topic(kafka, our_topic, partitions)
            on_step(f"{name}: ProducerPerformance, {events:,} records of {size} bytes")
            perf = run_producer_perf(context.settings, topic=perf_topic, records=events, record_size=size,
                                     props=producer_props(PRODUCER_DEFAULTS))  # fmt: skip
            on_step(f"{name}: streamwise, {events:,} events ({fmt.value})")
            report = produce(EventProducer(kafka, our_topic), create(name, seed=7), pace=RateProfile(0), fmt=fmt, count=events)
            rows.append({
                "scenario": name,
                "format": fmt.value,
                "events": report.events,
                "seconds": round(report.seconds, 3),
                "events_per_s": round(report.events_per_s, 1),
                "mb_per_s": round(report.mb_per_s, 2),
                "record_bytes": size,
                "perf_events_per_s": perf.records_per_s,
                "perf_mb_per_s": round(perf.records_per_s * size / 1e6, 2),
                "perf_avg_latency_ms": perf.avg_latency_ms,
                "ratio": round(report.events_per_s / perf.records_per_s, 3) if perf.records_per_s else None,
                "failed": report.stats.failed,
            })  # fmt: skip
        return BenchReport(
            name=self.name,
            rows=rows,
            columns=[
                Column("scenario", "scenario"),
                Column("record_bytes", "bytes/record", "{:,}"),
                Column("events_per_s", "streamwise events/s", "{:,.0f}"),
                Column("mb_per_s", "MB/s", "{:.1f}"),
                Column("perf_events_per_s", "perf tool records/s", "{:,.0f}"),
                Column("ratio", "ratio", "{:.2f}"),
            ],
            config={
                "events": events,
                "partitions": partitions,
                "format": fmt.value,
                "bootstrap.servers": kafka.bootstrap_servers,
                "producer": {k: v for k, v in PRODUCER_DEFAULTS.items()},
                "perf_producer_props": producer_props(PRODUCER_DEFAULTS),
            },
            goals=_goals(rows),
            notes=[
                "mb_per_s counts record values only (as ProducerPerformance does), in 10^6 bytes per second",
                "ProducerPerformance sends one repeated random payload without keys; streamwise sends keyed, "
                "varied events, generated and encoded in the same process",
            ],
        )


def record_size(scenario: str, fmt: Format) -> int:
    """The mean encoded value size of a scenario's events, from a seeded sample batch."""
    source = create(scenario, seed=7)
    values = Encoder(source.schema, fmt).encode_array(source.batch(_SAMPLE, _NOW_MS).data)
    return max(1, round(pc.mean(pc.binary_length(values)).as_py()))


def _goals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's targets for clickstream, with the measured value and whether it was met."""
    clickstream = next((r for r in rows if r["scenario"] == "clickstream"), None)
    if clickstream is None:
        return {}
    ratio = clickstream["ratio"] or 0.0
    return {
        "clickstream events/s": {"target": GOAL_EVENTS_PER_S, "value": clickstream["events_per_s"], "met": clickstream["events_per_s"] >= GOAL_EVENTS_PER_S},
        "clickstream ratio to ProducerPerformance": {"target": GOAL_RATIO, "value": ratio, "met": ratio >= GOAL_RATIO},
    }  # fmt: skip
