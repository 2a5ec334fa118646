"""``bench ingest``: our producer per scenario against Kafka's own ProducerPerformance, in one run.

For each scenario: a seeded sample of its events, spread over the run, is encoded as our producer encodes them. In
JSON the sample becomes a payload file and ProducerPerformance sends values picked at random from it, so both sides
send the same bytes (which lz4 compresses alike); the tool reads payload files as UTF-8 text, so in Avro it sends
random letters of the sample's mean size instead. It sends the same number of records as we do, to a topic with the
same partitions, with the same producer settings (acks=all, idempotence, compression, linger, batch size); then the
scenario's generator, encoder and producer send their events as fast as they can (no disorder, no ground truth: the
steady path). ``ratio`` is our events/s over the perf tool's records/s.
"""

from __future__ import annotations

import os
import shutil
import time
from typing import Any, ClassVar

import pyarrow as pa

from streamwise.bench.perf import PerfResult, mean_record_bytes, producer_props, run_producer_perf, write_payload_file
from streamwise.bench.registry import BenchContext, BenchReport, Column, register
from streamwise.ingest.disorder import RateProfile
from streamwise.ingest.encoding import Encoder, Format
from streamwise.ingest.producer import PRODUCER_DEFAULTS, EventProducer
from streamwise.ingest.run import CHUNK, ProduceReport, ensure_topic, produce
from streamwise.ingest.scenario import create, names

GOAL_EVENTS_PER_S = 300_000  # clickstream, on a 2-core machine
GOAL_RATIO = 0.6
# Events sampled per scenario (up to twice as many; all of a shorter run): their mean size, and the perf tool's payloads.
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
        folder = context.settings.state / "bench" / f"ingest-{run_id}"  # the payload files
        rows: list[dict[str, Any]] = []
        checks: dict[str, Any] = {}
        try:
            for name in scenarios:
                values = sample_values(name, fmt, events)
                size = mean_record_bytes(values)
                perf_topic, our_topic = f"bench.{name}.perf.{run_id}", f"bench.{name}.streamwise.{run_id}"
                ensure_topic(kafka, perf_topic, partitions)
                ensure_topic(kafka, our_topic, partitions)
                # Binary Avro would not survive the tool's UTF-8 reading of a payload file, whatever the delimiter.
                payload = (
                    write_payload_file(folder / f"{name}.{fmt.value}.payloads", values) if fmt is Format.JSON else None
                )
                perf_bytes = payload.mean_bytes if payload else size
                what = f"picked from {len(values):,} encoded events" if payload else "of random letters"
                on_step(f"{name}: ProducerPerformance, {events:,} records {what}, {perf_bytes} bytes each on average")
                perf = run_producer_perf(
                    context.settings,
                    topic=perf_topic,
                    records=events,
                    payload=payload,
                    record_size=None if payload else size,
                    props=producer_props(PRODUCER_DEFAULTS),
                )
                on_step(f"{name}: streamwise, {events:,} events ({fmt.value})")
                report = produce(
                    EventProducer(kafka, our_topic), create(name, seed=7), pace=RateProfile(0), fmt=fmt, count=events
                )
                checks[f"{name}: both sent records of the sample's mean size"] = _bytes_check(perf, report, perf_bytes)
                rows.append(
                    {
                        "scenario": name,
                        "format": fmt.value,
                        "events": report.events,
                        "seconds": round(report.seconds, 3),
                        "events_per_s": round(report.events_per_s, 1),
                        "mb_per_s": round(report.mb_per_s, 2),
                        "record_bytes": size,
                        "sent_record_bytes": round(report.value_bytes / report.records, 1) if report.records else None,
                        "perf_payload": "sample file" if payload else "random letters",
                        "perf_payloads": len(values) if payload else None,
                        "perf_record_bytes": perf_bytes,
                        "perf_records": perf.records,
                        "perf_events_per_s": perf.records_per_s,
                        "perf_mb_per_s": round(perf.records_per_s * perf_bytes / 1e6, 2),
                        "perf_avg_latency_ms": perf.avg_latency_ms,
                        "ratio": round(report.events_per_s / perf.records_per_s, 3) if perf.records_per_s else None,
                        "failed": report.stats.failed,
                    }
                )
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return BenchReport(
            name=self.name,
            rows=rows,
            columns=[
                Column("scenario", "scenario"),
                Column("record_bytes", "bytes/record", "{:,}"),
                Column("events_per_s", "streamwise events/s", "{:,.0f}"),
                Column("mb_per_s", "MB/s", "{:.1f}"),
                Column("perf_record_bytes", "perf bytes/record", "{:,}"),
                Column("perf_events_per_s", "perf tool records/s", "{:,.0f}"),
                Column("ratio", "ratio", "{:.2f}"),
            ],
            config={
                "events": events,
                "partitions": partitions,
                "format": fmt.value,
                "bootstrap.servers": kafka.bootstrap,
                "producer": {k: v for k, v in PRODUCER_DEFAULTS.items()},
                "perf_producer_props": producer_props(PRODUCER_DEFAULTS),
            },
            goals=_goals(rows),
            checks=checks,
            notes=_notes(fmt),
        )


def sample_values(scenario: str, fmt: Format, events: int = _SAMPLE) -> list[bytes]:
    """Every (events // _SAMPLE)-th of a scenario's first ``events`` seeded events, encoded as the producer encodes them.

    Spread over the whole run because ids and counters grow as it goes: the first 16,384 clickstream events average
    101 bytes in JSON, the whole of a 1,000,000-event run 104.
    """
    source = create(scenario, seed=7)
    encoder = Encoder(source.schema, fmt)
    step = max(1, events // _SAMPLE)
    values: list[bytes] = []
    for start in range(0, events, CHUNK):  # the producer's chunks, so the generator draws as it does in the run
        batch = source.batch(min(CHUNK, events - start), _NOW_MS).data
        picked = batch.take(pa.array(range(-start % step, batch.num_rows, step), pa.int64()))
        values.extend(encoder.encode_array(picked).to_pylist())
    return values


def record_size(scenario: str, fmt: Format, events: int = _SAMPLE) -> int:
    """The mean encoded value size of a scenario's first ``events`` events, from a seeded sample of them."""
    return mean_record_bytes(sample_values(scenario, fmt, events))


def _bytes_check(perf: PerfResult, ours: ProduceReport, expected: int) -> dict[str, Any]:
    """Whether both sides sent records of the sample's mean size: the perf tool by its own count (its MB/s over its
    records/s), streamwise by the value bytes it sent.

    The slack covers the tool's MB/s printed to 0.01, the mean rounded to a whole byte, and sampling.
    """
    perf_bytes = perf.bytes_per_record
    our_bytes = ours.value_bytes / ours.records if ours.records else 0.0
    slack = 1 + 0.01 * expected
    perf_slack = slack + 0.005 * 2**20 / max(perf.records_per_s, 1)
    return {
        "passed": abs(perf_bytes - expected) <= perf_slack and abs(our_bytes - expected) <= slack,
        "detail": f"perf tool {perf_bytes:,.1f} bytes/record (its MB/s over its records/s), streamwise {our_bytes:,.1f} "
        f"(value bytes over records), sample mean {expected:,}",
    }


def _notes(fmt: Format) -> list[str]:
    """How the two sides' records compare, for the report."""
    notes = ["mb_per_s counts record values only (as ProducerPerformance does), in 10^6 bytes per second"]
    if fmt is Format.JSON:
        return [
            *notes,
            "ProducerPerformance sends, without keys, values picked at random from a --payload-file of perf_payloads of the "
            "scenario's events (spread evenly over the run) encoded as streamwise encodes them (the same bytes: "
            "perf_record_bytes = record_bytes; sent_record_bytes is what streamwise sent); "
            "streamwise sends keyed events, generated and encoded in the same process",
        ]
    return [
        *notes,
        "ProducerPerformance reads a --payload-file as UTF-8 text (malformed bytes become U+FFFD) and splits it on "
        "a regex, so binary Avro values cannot pass through it whatever the delimiter: it sends random letters of the "
        "sample's mean size (record_bytes) instead, without keys, which lz4 compresses less than Avro records; "
        "streamwise sends keyed, varied events, generated and encoded in the same process",
    ]


def _goals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's targets for clickstream, with the measured value and whether it was met."""
    clickstream = next((r for r in rows if r["scenario"] == "clickstream"), None)
    if clickstream is None:
        return {}
    ratio = clickstream["ratio"] or 0.0
    return {
        "clickstream events/s": {
            "target": GOAL_EVENTS_PER_S,
            "value": clickstream["events_per_s"],
            "met": clickstream["events_per_s"] >= GOAL_EVENTS_PER_S,
        },
        "clickstream ratio to ProducerPerformance": {"target": GOAL_RATIO, "value": ratio, "met": ratio >= GOAL_RATIO},
    }
