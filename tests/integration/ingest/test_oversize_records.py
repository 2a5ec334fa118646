"""A record larger than the topic takes never stops the producer and never vanishes: it goes to the
topic's dead-letter topic, truncated, with its size and the limit, and every other record is delivered."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic

from streamwise.config import Settings
from streamwise.ingest.options import ProduceOptions, plan
from streamwise.ingest.producer import EventProducer
from streamwise.ingest.run import ensure_topic, produce
from streamwise.platform.kafka import KafkaCluster
from streamwise.platform.topics import partition_count, read_to_end
from streamwise.testing import wait_for

PREFIX = 64 * 1024


def records(settings: Settings, topic: str) -> list[tuple[bytes | None, bytes, dict[str, str]]]:
    """Every record of ``topic`` (one partition) as (key, value, headers), in offset order."""
    return [
        (msg.key(), msg.value(), {k: v.decode() for k, v in (msg.headers() or [])})
        for msg in read_to_end(settings.kafka, topic, committed=False)
    ]


def reason(topic: str, value: int, key: int, limit: str, kept: int = PREFIX) -> str:
    """The dead letter's reason, written out again here."""
    return (
        f"too large for topic {topic}: {value + key:,} bytes (value {value:,}, key {key:,}), over the limit of "
        f"{limit}; never written to {topic}, and this dead letter holds the first {min(value, kept):,} bytes "
        "of its value. Shrink or split the event, or raise the limit (the topic's max.message.bytes and the "
        "producer's message.max.bytes)"
    )


def test_a_record_over_the_producers_limit_is_dead_lettered(
    broker: KafkaCluster, settings: Settings, topic_name: str
) -> None:
    """Setup: a topic with the broker's default limit; five keyed records sent in one call, the third
    a 1,500,000-byte value (over librdkafka's message.max.bytes of 1,000,000, refused at produce()).
    Invariant: the topic holds exactly the four others, in order; its dead-letter topic exactly one
    record: the big one's key, the first 64 KiB of its value, and headers with the reason (its size
    and the limit), the source topic and its original size; the stats count 5 queued, 4 delivered,
    1 dead-lettered, 0 failed."""
    ensure_topic(settings.kafka, topic_name, 1)
    big = bytes(range(256)) * (1_500_000 // 256) + b"tail"
    values = [b"one", b"two", big, b"four", b"five"]
    keys = [b"k1", b"k2", b"big", b"k4", b"k5"]
    producer = EventProducer(settings.kafka, topic_name)
    producer.send(values, keys, [1000, 2000, 3000, 4000, 5000])
    stats = producer.flush()

    assert (stats.queued, stats.delivered, stats.dead_lettered, stats.failed) == (5, 4, 1, 0)
    assert [(k, v) for k, v, _ in records(settings, topic_name)] == [
        (b"k1", b"one"),
        (b"k2", b"two"),
        (b"k4", b"four"),
        (b"k5", b"five"),
    ]
    assert partition_count(settings.kafka, f"{topic_name}.dlq") == 1
    assert records(settings, f"{topic_name}.dlq") == [
        (
            b"big",
            big[:PREFIX],
            {
                "dlq.reason": reason(topic_name, len(big), 3, "1,000,000 bytes (the producer's message.max.bytes)"),
                "dlq.source.topic": topic_name,
                "dlq.original.size": str(len(big)),
            },
        )
    ]


def test_a_row_over_the_topics_limit_is_dead_lettered_and_the_replay_goes_on(
    broker: KafkaCluster, settings: Settings, topic_name: str, tmp_path: Path
) -> None:
    """Setup: a topic whose max.message.bytes is 20,000 (far below the broker's); a 500-row file
    replayed as fast as possible in JSON by the run loop of ``streamwise produce``, each row ~1 KB
    (so ~500 KB in all, many batches' worth at that limit), row 250 with a 30,000-character note.
    Invariant: the run completes; the topic holds exactly the 499 other rows, each once (no batch of
    small rows was refused as too large); the dead-letter topic holds exactly row 250: the first
    10,000 bytes of its JSON (half the topic's limit, so that the dead letter fits the producer's
    limit too), its size and the topic's limit in the reason."""
    admin = AdminClient(settings.kafka.client_config())
    admin.create_topics([NewTopic(topic_name, 1, 1, config={"max.message.bytes": "20000"})])[topic_name].result()
    wait_for(lambda: partition_count(settings.kafka, topic_name) == 1, bound_s=30, what=f"topic {topic_name}")
    rows = 500
    table = pa.table(
        {
            "id": list(range(rows)),
            "station": [f"st-{i % 7}" for i in range(rows)],
            "note": ["x" * 30_000 if i == 250 else f"{i:04d}" * 250 for i in range(rows)],
        }
    )
    path = tmp_path / "notes.parquet"
    pq.write_table(table, path)
    p = plan(ProduceOptions(from_file=path, key="station", speedup="max", topic=topic_name))
    report = produce(EventProducer(settings.kafka, topic_name), p.source, pace=p.pace, fmt=p.format)

    assert (report.events, report.stats.delivered, report.stats.dead_lettered, report.stats.failed) == (
        rows,
        rows - 1,
        1,
        0,
    )
    kept = records(settings, topic_name)
    assert sorted(json.loads(v)["id"] for _, v, _ in kept) == [i for i in range(rows) if i != 250]
    sent = json.dumps({"id": 250, "station": "st-5", "note": "x" * 30_000}, separators=(",", ":")).encode()
    assert records(settings, f"{topic_name}.dlq") == [
        (
            b"st-5",
            sent[:10_000],
            {
                "dlq.reason": reason(
                    topic_name, len(sent), 4, f"20,000 bytes (topic {topic_name}'s max.message.bytes)", kept=10_000
                ),
                "dlq.source.topic": topic_name,
                "dlq.original.size": str(len(sent)),
            },
        )
    ]


def test_a_record_the_broker_refuses_is_dead_lettered(
    broker: KafkaCluster, settings: Settings, topic_name: str
) -> None:
    """Setup: a topic with the broker's default limit and a producer started on it (so its own limit
    is 1,000,000 bytes); then the topic's max.message.bytes is lowered to 20,000; a 30,000-byte
    incompressible value is sent and flushed, then two small records. Invariant: the broker refuses
    the big one and it is dead-lettered (its first 64 KiB: all of it) with the broker's refusal in the
    reason; the two small records are delivered; nothing is counted failed."""
    ensure_topic(settings.kafka, topic_name, 1)
    producer = EventProducer(settings.kafka, topic_name)
    admin = AdminClient(settings.kafka.client_config())
    lowered = ConfigResource(
        ConfigResource.Type.TOPIC,
        topic_name,
        incremental_configs=[ConfigEntry("max.message.bytes", "20000", incremental_operation=AlterConfigOpType.SET)],
    )
    admin.incremental_alter_configs([lowered])[lowered].result()
    big = random.Random(3).randbytes(30_000)
    producer.send([big], [b"big"])
    producer.flush()
    producer.send([b"a", b"b"], [b"ka", b"kb"])
    stats = producer.flush()

    assert (stats.queued, stats.delivered, stats.dead_lettered, stats.failed) == (3, 2, 1, 0)
    assert [(k, v) for k, v, _ in records(settings, topic_name)] == [(b"ka", b"a"), (b"kb", b"b")]
    ((key, value, headers),) = records(settings, f"{topic_name}.dlq")
    assert (key, value) == (b"big", big)
    assert headers == {
        "dlq.reason": f"too large for topic {topic_name}: 30,003 bytes (value 30,000, key 3), refused by the "
        "broker as over its limit (Broker: Message size too large: was the topic's max.message.bytes lowered?); "
        f"never written to {topic_name}, and this dead letter holds the first 30,000 bytes of its value. Shrink "
        "or split the event, or raise the limit (the topic's max.message.bytes and the producer's "
        "message.max.bytes)",
        "dlq.source.topic": topic_name,
        "dlq.original.size": "30000",
    }
