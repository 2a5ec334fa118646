"""The producer on the real broker: partition balance per scenario, every produced record in Kafka
exactly once (checked against the ground truth through a consumer), file replay, the CLI, and the
ingest benchmark beside Kafka's ProducerPerformance."""

from __future__ import annotations

import datetime as dt
import io
import json
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import fastavro
import pyarrow as pa
import pyarrow.csv as csv
import pyarrow.parquet as pq
import pytest
from cli_process import child_env, run_streamwise, streamwise_command

from streamwise.bench import BenchContext, get
from streamwise.config import Settings
from streamwise.ingest.disorder import Disorder, RateProfile
from streamwise.ingest.options import ProduceOptions, plan
from streamwise.ingest.producer import EventProducer
from streamwise.ingest.run import ensure_topic, produce
from streamwise.ingest.scenario import create, names
from streamwise.ingest.truth import GroundTruthWriter, read_ground_truth
from streamwise.platform.kafka import KafkaCluster
from streamwise.platform.topics import end_offsets, partition_count, read_to_end

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def consume_all(
    settings: Settings, topic: str, expected: int, partitions: int
) -> list[tuple[int, bytes | None, bytes]]:
    """Every record of ``topic`` as (partition, key, value), from offset 0 to the end; checks that it
    has ``partitions`` partitions and ``expected`` records, no more, no fewer."""
    records = [(msg.partition(), msg.key(), msg.value()) for msg in read_to_end(settings.kafka, topic, committed=False)]
    assert {p for p, _, _ in records} <= set(range(partitions)) and partition_count(settings.kafka, topic) == partitions
    assert len(records) == expected, f"{len(records)} records came back from {topic}, {expected} were produced"
    return records


@pytest.mark.parametrize("scenario", names())
def test_keys_spread_evenly_over_8_partitions(
    broker: KafkaCluster, settings: Settings, topic_name: str, scenario: str
) -> None:
    """Setup: 40,000 events of the scenario, as fast as possible, into a topic of 8 partitions.
    Invariant: all are delivered, and the fullest partition holds at most 1.2 times the emptiest."""
    assert ensure_topic(settings.kafka, topic_name, 8) == 8
    report = produce(
        EventProducer(settings.kafka, topic_name), create(scenario, seed=1), pace=RateProfile(0), count=40_000
    )
    assert report.stats.delivered == 40_000 and report.stats.failed == 0
    counts = end_offsets(settings.kafka, topic_name, list(range(8)))
    assert sum(counts.values()) == 40_000
    assert max(counts.values()) / min(counts.values()) <= 1.2, counts


def test_every_record_in_kafka_exactly_once(broker: KafkaCluster, settings: Settings, topic_name: str) -> None:
    """Setup: 30,000 payments in Avro with 5% late, 5% out of order and 2% duplicated events, and
    ground truth recorded. Invariant: a consumer reads back exactly the records of the ground truth,
    as a multiset of (key, event id) (duplicates twice, nothing else twice, nothing missing); each
    value decodes with the scenario's schema to its key's card and its event id."""
    ensure_topic(settings.kafka, topic_name, 4)
    source = create("payments", seed=2)
    truth = GroundTruthWriter(settings.state, topic_name, schema=source.schema, key_field=source.key_field, meta={})
    report = produce(
        EventProducer(settings.kafka, topic_name),
        source,
        pace=RateProfile(0),
        fmt="avro",
        count=30_000,
        disorder=Disorder(0.05, 10_000, 0.05, 0.02, seed=2),
        truth=truth,
    )
    expected = read_ground_truth(settings.state, topic_name).to_pydict()
    assert report.records == len(expected["seq"]) == report.stats.delivered > 30_000
    records = consume_all(settings, topic_name, report.records, 4)
    plain = json.loads(json.dumps(source.schema).replace('"logicalType"', '"x-logical"'))
    parsed = fastavro.parse_schema(plain)
    got = Counter()
    for _, key, value in records:
        event = fastavro.schemaless_reader(io.BytesIO(value), parsed)
        assert event["card_id"].encode() == key
        got[(key.decode(), event["event_id"])] += 1
    assert got == Counter(zip(expected["key"], expected["event_id"], strict=True))
    assert sum(expected["is_duplicate"]) == report.records - 30_000 == sum(n - 1 for n in got.values())


def test_paced_producer_wakes_once_a_tick_not_once_per_event(
    broker: KafkaCluster, settings: Settings, topic_name: str
) -> None:
    """Setup: the clickstream scenario at 2,000 events/s for 1.5 s, its batch() calls counted.
    Invariant: all 3,000 events reach Kafka, drawn in at most one batch per tick (TICK_S) plus two:
    the loop sleeps until the next tick's events are due instead of waking each millisecond for the
    one or two that came due (which burned a whole core at this rate)."""
    from streamwise.ingest.run import TICK_S

    class Counted:
        def __init__(self, source) -> None:
            self.source, self.calls = source, 0

        def __getattr__(self, name: str):
            return getattr(self.source, name)

        def batch(self, n: int, now_ms: int):
            self.calls += 1
            return self.source.batch(n, now_ms)

    ensure_topic(settings.kafka, topic_name, 1)
    source = Counted(create("clickstream", seed=3))
    report = produce(EventProducer(settings.kafka, topic_name), source, pace=RateProfile(2_000), duration_s=1.5)
    assert report.events == 3_000 and sum(end_offsets(settings.kafka, topic_name, [0]).values()) == 3_000
    assert source.calls <= 1.5 / TICK_S + 2


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_replay_from_file(
    broker: KafkaCluster, settings: Settings, topic_name: str, tmp_path: Path, suffix: str
) -> None:
    """Setup: a 2,000-row file (event time, key, a nullable number, text) replayed as fast as
    possible in JSON. Invariant: Kafka holds each row once, keyed by the key column, its JSON equal
    to the row with the event time in epoch ms; a key always maps to the same partition."""
    rows = 2_000
    table = pa.table(
        {
            "ts": pa.array([T0 + dt.timedelta(milliseconds=37 * i) for i in range(rows)], pa.timestamp("ms", tz="UTC")),
            "station": [f"st-{i % 97}" for i in range(rows)],
            "temp": [None if i % 11 == 0 else round(i * 0.01, 2) for i in range(rows)],
            "label": [f'row "{i}"' for i in range(rows)],
        }
    )
    path = tmp_path / f"history{suffix}"
    if suffix == ".csv":
        csv.write_csv(table, path)
    else:
        pq.write_table(table, path)
    p = plan(ProduceOptions(from_file=path, event_time="ts", key="station", speedup="max", topic=topic_name))
    ensure_topic(settings.kafka, p.topic, 3)
    report = produce(EventProducer(settings.kafka, p.topic), p.source, pace=p.pace, fmt=p.format, disorder=p.disorder)
    assert report.events == report.stats.delivered == rows
    expected = {
        (r["station"], json.dumps({**r, "ts": int(r["ts"].timestamp() * 1000)}, sort_keys=True))
        for r in table.to_pylist()
    }
    records = consume_all(settings, p.topic, rows, 3)
    got = {(key.decode(), json.dumps(json.loads(value), sort_keys=True)) for _, key, value in records}
    assert len(records) == rows and got == expected
    partitions = {}
    for partition, key, _ in records:
        assert partitions.setdefault(key, partition) == partition


def test_cli_produce_records_ground_truth(broker: KafkaCluster, settings: Settings, topic_name: str) -> None:
    """Setup: `streamwise produce logs --count 5000 --rate 0 --partitions 2 --duplicates 0.01` in a
    subprocess against the test broker. Invariant: exit 0, the summary line names the records, and
    the ground truth under the state folder counts exactly the records in the topic."""
    env = child_env(settings)
    result = run_streamwise(
        env,
        "--state-dir",
        str(settings.state),
        "produce",
        "logs",
        "--count",
        "5000",
        "--rate",
        "0",
        "--partitions",
        "2",
        "--duplicates",
        "0.01",
        "--topic",
        topic_name,
        "--quiet",
    )
    assert result.returncode == 0, result.stderr
    truth = read_ground_truth(settings.state, topic_name)
    assert (
        f"✓ {truth.num_rows:,} records (+{truth.num_rows - 5000:,} duplicates) delivered to {topic_name}"
        in result.stdout
    )
    assert sum(end_offsets(settings.kafka, topic_name, [0, 1]).values()) == truth.num_rows


def test_ctrl_c_stops_cleanly_with_everything_flushed(
    broker: KafkaCluster, settings: Settings, topic_name: str
) -> None:
    """Setup: `streamwise produce iot --rate 5000` (no end) in a subprocess; once records reach the
    topic, SIGINT. Invariant: exit 0 with the summary marked stopped; every record in the ground
    truth is in the topic and nothing else (the producer flushed before exiting)."""
    env = child_env(settings)
    ensure_topic(settings.kafka, topic_name, 2)
    proc = subprocess.Popen(
        streamwise_command(
            "--state-dir", str(settings.state), "produce", "iot", "--rate", "5000", "--topic", topic_name, "--quiet"
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        for _ in range(600):  # bounded: up to 60 s for the first records
            if sum(end_offsets(settings.kafka, topic_name, [0, 1]).values()) > 0 or proc.poll() is not None:
                break
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "(stopped)" in out and "0 failed" in out
    truth = read_ground_truth(settings.state, topic_name)
    assert truth.num_rows > 0
    assert sum(end_offsets(settings.kafka, topic_name, [0, 1]).values()) == truth.num_rows


def test_bench_ingest_writes_its_json(broker: KafkaCluster, settings: Settings, tmp_path: Path) -> None:
    """Setup: the ingest benchmark on the test broker for clickstream only, 20,000 events.
    Invariant: ingest.json has one row with events, events/s, MB/s, the perf tool's records/s and
    their ratio; the perf tool sent exactly 20,000 records, from a payload file of streamwise's own
    encoded events: its payloads' mean size is streamwise's, measured here on the seeded sample and
    on what streamwise sent, and its own byte count agrees (the check passed); what it wrote to its topic is unkeyed values of that
    sample, of that mean size; the payload files are gone; the table shows the row."""
    from streamwise.bench.ingest import record_size, sample_values
    from streamwise.ingest.formats import Format
    from streamwise.platform.topics import list_topics

    report = get("ingest").run(
        BenchContext(settings, {"events": 20_000, "scenarios": ["clickstream"], "partitions": 2})
    )
    data = json.loads(report.write(tmp_path).read_text())
    assert data["benchmark"] == "ingest" and data["config"]["events"] == 20_000
    (row,) = data["results"]
    assert row["scenario"] == "clickstream" and row["events"] == 20_000 and row["failed"] == 0
    assert row["events_per_s"] > 0 and row["perf_events_per_s"] > 0 and row["mb_per_s"] > 0
    assert row["ratio"] == pytest.approx(row["events_per_s"] / row["perf_events_per_s"], rel=1e-2)
    assert row["perf_records"] == 20_000
    assert row["perf_payload"] == "sample file"
    assert row["perf_record_bytes"] == row["record_bytes"] == record_size("clickstream", Format.JSON, 20_000)
    assert row["sent_record_bytes"] == pytest.approx(row["record_bytes"], abs=1)
    assert 90 <= row["record_bytes"] <= 120  # a JSON page view
    (check,) = data["checks"].values()
    assert check["passed"], check["detail"]
    (perf_topic,) = [t for t in list_topics(settings.kafka) if t.startswith("bench.clickstream.perf.")]
    sent = consume_all(settings, perf_topic, 20_000, 2)
    sample = set(sample_values("clickstream", Format.JSON, 20_000))
    assert all(key is None and value in sample for _, key, value in sent)
    assert sum(len(value) for _, _, value in sent) / len(sent) == pytest.approx(row["record_bytes"], abs=1)
    assert not list((settings.state / "bench").glob("ingest-*"))
    assert report.table().row_count == 1
