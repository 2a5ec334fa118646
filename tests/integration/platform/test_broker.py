"""The real broker: topics with the asked-for settings, durable data across a stop/start."""

from __future__ import annotations

import pytest
from confluent_kafka import Consumer, TopicPartition

from streamwise.config import Settings
from streamwise.ingest.producer import EventProducer
from streamwise.platform.exceptions import TopicError
from streamwise.platform.kafka import KafkaCluster
from streamwise.platform.topics import create_topic, describe_topic, end_offsets, list_topics


def test_create_and_describe_topic_with_settings(broker: KafkaCluster, settings: Settings, topic_name: str) -> None:
    assert create_topic(
        settings.kafka, topic_name, partitions=4, retention_ms=3_600_000, cleanup_policy="compact,delete"
    )
    assert create_topic(settings.kafka, topic_name, partitions=4, exist_ok=True) is False
    assert topic_name in list_topics(settings.kafka)
    info = describe_topic(settings.kafka, topic_name)
    assert [p.partition for p in info.partitions] == [0, 1, 2, 3]
    assert info.replication == 1
    assert all(p.leader == settings.kafka.node_id and p.isr == [settings.kafka.node_id] for p in info.partitions)
    assert info.configs["retention.ms"] == "3600000"
    assert info.configs["cleanup.policy"] == "compact,delete"


def test_topic_errors_are_explained(broker: KafkaCluster, settings: Settings, topic_name: str) -> None:
    create_topic(settings.kafka, topic_name, partitions=1)
    with pytest.raises(TopicError, match=f"cannot create topic {topic_name}.*already exists"):
        create_topic(settings.kafka, topic_name, partitions=1)
    with pytest.raises(TopicError, match="replication factor"):
        create_topic(settings.kafka, topic_name + "x", partitions=1, replication=3)
    with pytest.raises(TopicError, match="does not exist"):
        describe_topic(settings.kafka, topic_name + "-missing")


def test_data_survives_broker_restart(broker: KafkaCluster, settings: Settings, topic_name: str) -> None:
    """Setup: 500 keyed records, then stop and start the broker by pid.
    Invariant: the same 500 records (values in order per partition) are read back."""
    create_topic(settings.kafka, topic_name, partitions=2)
    producer = EventProducer(settings.kafka, topic_name)
    sent = [(b"k%d" % (i % 7), b"v%d" % i, None) for i in range(500)]
    producer.send_many(sent)
    assert producer.flush().delivered == 500

    old_pids = [node.service.process().pid for node in broker.nodes]
    assert broker.stop()
    assert not broker.serving(timeout_s=1)
    assert broker.start() != old_pids

    try:
        assert sum(end_offsets(settings.kafka, topic_name, [0, 1]).values()) == 500
    except TopicError as exc:  # keep the broker's side of the story for whoever reads the failure
        raise AssertionError(f"{exc}\nbroker log:\n{broker.nodes[0].service.tail(60)}") from exc
    consumer = Consumer(settings.kafka.client_config(**{"group.id": topic_name, "auto.offset.reset": "earliest"}))
    consumer.assign([TopicPartition(topic_name, 0, 0), TopicPartition(topic_name, 1, 0)])
    got = []
    while len(got) < 500:
        msg = consumer.poll(10)
        assert msg is not None, f"only {len(got)} of 500 records came back"
        got.append((msg.key(), msg.value()))
    consumer.close()
    assert sorted(got) == sorted((k, v) for k, v, _ in sent)
