"""Kafka alerts sink on the real broker and Spark: a read_committed consumer sees each alert exactly
once, through a fenced zombie transaction and a replayed batch."""

from __future__ import annotations

import json
from pathlib import Path

from confluent_kafka import Producer
from sink_helpers import events_stream, forget_last_commit, make_events, read_topic, run_available_now

from streamwise.config import QUIET
from streamwise.platform.topics import create_topic
from streamwise.sinks import KafkaAlertsSink, sink_writer

PER_BATCH = 8


def test_read_committed_consumer_sees_each_alert_exactly_once(
    spark, sink_settings, broker, fill_topic, topic_name: str, tmp_path: Path
) -> None:
    """Setup: a "dead driver" - a producer with the sink's transactional.id - leaves an open transaction
    holding 3 ghost records on the alerts topic. Then 40 events, 8 per micro-batch (batches 0-4); rows
    with amount > 80 go to the alerts sink (availableNow). Then the checkpoint's last commit is deleted
    and the query restarted: Spark replays batch 4 against a new writer.
    Invariant: a read_committed consumer sees exactly the events with amount > 80, once each, in order,
    keyed by user and headed with query and batch id (= seq // 8); never a ghost; the replay adds
    nothing. A read_uncommitted reader does see the ghosts: they were in the log, aborted."""
    events = make_events(40)
    fill_topic(topic_name, events)
    alerts, query = f"{topic_name}.alerts", f"{topic_name}_kafka_alerts_0"
    create_topic(sink_settings.kafka, alerts, partitions=1)
    zombie = Producer(sink_settings.kafka.client_config(**QUIET, **{"transactional.id": f"streamwise-{query}"}))
    zombie.init_transactions(30)
    zombie.begin_transaction()
    for n in range(3):
        zombie.produce(alerts, json.dumps({"ghost": n}).encode())
    zombie.flush(10)

    sink = KafkaAlertsSink(type="kafka_alerts", topic=alerts, key="user_id")
    df = (
        events_stream(spark, sink_settings, topic_name, PER_BATCH)
        .where("amount > 80")
        .select("user_id", "seq", "amount")
    )
    checkpoint = tmp_path / "checkpoint"
    run_available_now(df, sink_writer(sink, sink_settings, query), checkpoint, query)
    assert forget_last_commit(checkpoint) == 4
    replay = sink_writer(sink, sink_settings, query)
    run_available_now(df, replay, checkpoint, query)
    assert (replay.status.batches_written, replay.status.batches_skipped) == (0, 1)

    expected = [{"user_id": e["user_id"], "seq": e["seq"], "amount": e["amount"]} for e in events if e["amount"] > 80]
    assert len(expected) == 17
    seen = read_topic(sink_settings, alerts, isolation="read_committed")
    assert [json.loads(m.value()) for m in seen] == expected
    assert [m.key().decode() for m in seen] == [e["user_id"] for e in expected]
    assert [dict(m.headers()) for m in seen] == [
        {"streamwise.query": query.encode(), "streamwise.batch_id": str(e["seq"] // PER_BATCH).encode()}
        for e in expected
    ]
    everything = read_topic(sink_settings, alerts, isolation="read_uncommitted")
    assert [json.loads(m.value()) for m in everything] == [{"ghost": n} for n in range(3)] + expected


def test_same_batch_id_twice_is_one_transaction(spark, sink_settings, broker, topic_name: str) -> None:
    """Setup: the writer called directly with batch 0 = 2 rows, batch 0 again with other rows, batch 1 =
    1 row; then a second writer (a restarted driver) is given batch 1 again.
    Invariant: a read_committed consumer sees exactly batch 0's first rows and batch 1's row, once."""
    schema = "alert STRING, level INT"
    sink = KafkaAlertsSink(type="kafka_alerts", topic=f"{topic_name}.alerts")
    query = f"{topic_name}_direct"
    writer = sink_writer(sink, sink_settings, query)
    writer(spark.createDataFrame([("a", 1), ("b", 2)], schema), 0)
    writer(spark.createDataFrame([("x", 9)], schema), 0)
    writer(spark.createDataFrame([("c", 3)], schema), 1)
    sink_writer(sink, sink_settings, query)(spark.createDataFrame([("y", 9)], schema), 1)
    seen = read_topic(sink_settings, f"{topic_name}.alerts")
    assert [json.loads(m.value()) for m in seen] == [
        {"alert": "a", "level": 1},
        {"alert": "b", "level": 2},
        {"alert": "c", "level": 3},
    ]
    assert (writer.status.batches_written, writer.status.batches_skipped) == (2, 1)
