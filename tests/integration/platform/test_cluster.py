"""The cluster profile: three KRaft nodes on loopback, each a broker and a controller."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer, TopicPartition

from streamwise.config import Settings
from streamwise.ingest.producer import EventProducer
from streamwise.platform.exceptions import PlatformError
from streamwise.platform.kafka import KafkaCluster
from streamwise.platform.topics import create_topic, describe_topic, end_offsets

SAFETY_S = 120  # a bound for waits on the cluster's own recovery, never expected to be reached


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + SAFETY_S
    while not condition():
        assert time.monotonic() < deadline, f"still waiting for {what} after {SAFETY_S}s"
        time.sleep(0.5)


def read_all(settings: Settings, topic: str, partitions: int, count: int) -> list[tuple[bytes, bytes]]:
    consumer = Consumer(settings.kafka.client_config(**{"group.id": topic, "auto.offset.reset": "earliest"}))
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    got = []
    deadline = time.monotonic() + SAFETY_S
    while len(got) < count and time.monotonic() < deadline:
        msg = consumer.poll(1)
        if msg is not None and msg.error() is None:
            got.append((msg.key(), msg.value()))
    consumer.close()
    return got


def test_topics_are_replicated_three_times_and_refuse_unclean_leaders(
    kafka_cluster: KafkaCluster, cluster_settings: Settings, topic_name: str
) -> None:
    """Setup: a topic created with no replication given, on the cluster profile.
    Invariant: three replicas on three different nodes, all in sync; min.insync.replicas 2 and no
    unclean leader election in force; every node registered and a controller leader among them."""
    create_topic(cluster_settings.kafka, topic_name, partitions=3)
    info = describe_topic(cluster_settings.kafka, topic_name)
    assert info.replication == 3
    assert all(sorted(p.replicas) == [1, 2, 3] and sorted(p.isr) == [1, 2, 3] for p in info.partitions)
    assert (info.configs["min.insync.replicas"], info.configs["unclean.leader.election.enable"]) == ("2", "false")
    status = kafka_cluster.status()
    assert [(n.node_id, n.process.running, n.registered) for n in status.nodes] == [(i, True, True) for i in (1, 2, 3)]
    assert status.serving and status.controller_leader in (1, 2, 3) and status.under_replicated == []


def test_killing_the_quorum_leader_loses_no_acknowledged_record(
    kafka_cluster: KafkaCluster, cluster_settings: Settings, topic_name: str
) -> None:
    """Setup: 3,000 keyed records produced (acks=all, idempotent) in three rounds: before, while and
    after the node leading the controller quorum is SIGKILLed; then it is restarted.
    Invariant: every record is acknowledged and read back exactly once; while the node is down
    another node leads the quorum and the partitions it held are under-replicated; after its
    restart it is back in every ISR and nothing is under-replicated."""
    kafka = cluster_settings.kafka
    create_topic(kafka, topic_name, partitions=3)
    producer = EventProducer(kafka, topic_name)
    sent = [(b"k%d" % (i % 11), b"v%d" % i, None) for i in range(3_000)]

    producer.send_many(sent[:1_000])
    assert producer.flush().delivered == 1_000
    victim = kafka_cluster.status().controller_leader
    assert victim is not None
    assert kafka_cluster.kill(victim)
    producer.send_many(sent[1_000:2_000])  # sent while the cluster elects new leaders
    wait_for(lambda: kafka_cluster.controller_leader() not in (None, victim), "a new quorum leader")
    wait_for(lambda: len(kafka_cluster.under_replicated()) > 0, "under-replicated partitions to show")
    down = kafka_cluster.status()
    assert not down.nodes[victim - 1].process.running
    assert down.serving and down.controller_leader not in (None, victim)

    kafka_cluster.restart(victim)
    producer.send_many(sent[2_000:])
    stats = producer.flush()
    assert (stats.delivered, stats.failed) == (3_000, 0)
    assert kafka_cluster.lagging(victim) == []
    wait_for(lambda: kafka_cluster.under_replicated() == [], "every partition to be fully replicated again")

    assert sum(end_offsets(kafka, topic_name, [0, 1, 2]).values()) == 3_000
    got = read_all(cluster_settings, topic_name, 3, 3_000)
    assert sorted(got) == sorted((k, v) for k, v, _ in sent)


def test_storage_keeps_the_node_count_it_was_formatted_for(
    kafka_cluster: KafkaCluster, cluster_settings: Settings
) -> None:
    """Setup: the cluster's state folder, asked to start as a single node.
    Invariant: refused with the count it was formatted for and how to proceed."""
    single = cluster_settings.model_copy(update={"kafka": cluster_settings.kafka.model_copy(update={"nodes": 1})})
    with pytest.raises(PlatformError, match="formatted for 3 node"):
        KafkaCluster(single).start()
    with pytest.raises(PlatformError, match="no Kafka node 7"):
        kafka_cluster.kill(7)
