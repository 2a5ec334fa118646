"""An existing Kafka, named by ``bootstrap_servers`` alone, with its own TLS and SASL: the secure
session broker (``secure_kafka``) stands for it, reached by a name it was not configured with
(``localhost``) and a user whose password has the characters a JAAS line must escape.

Both client stacks speak to it from those settings: librdkafka (``client_config``) and Kafka's Java
client inside Spark (``spark_options``), so a pipeline's source, sinks and tools can."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from streamwise.config import Settings, load_settings
from streamwise.errors import ConfigError
from streamwise.platform.exceptions import PlatformError
from streamwise.platform.kafka import KafkaCluster
from streamwise.platform.security import ADMIN, Acl, add_user, as_principal, grant
from streamwise.platform.topics import create_topic

PASSWORD = 'a "quoted" pass\\word with spaces'  # JAAS reads \" and \\ back as " and \


@pytest.fixture(scope="module")
def existing(secure_kafka: KafkaCluster, secure_settings: Settings, tmp_path_factory) -> Settings:
    """Settings of a process that knows only the existing cluster's address, CA and one login: a
    fresh state folder and no secure profile (its certificates, users and ACLs are the cluster's)."""
    admin = as_principal(secure_settings, ADMIN)
    user = f"ext-{uuid.uuid4().hex[:6]}"
    add_user(admin, user, PASSWORD)
    grant(
        admin,
        [Acl(user, "topic", "ext-", op, pattern="prefixed") for op in ("create", "write", "read", "describe")]
        + [Acl(user, "group", prefix, "read", pattern="prefixed") for prefix in ("ext-", "spark-kafka-")],
    )
    return load_settings(
        state_dir=tmp_path_factory.mktemp("existing-kafka"),
        cache_dir=secure_settings.cache,
        kafka={
            "bootstrap_servers": f"localhost:{secure_settings.kafka.port}",
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_username": user,
            "sasl_password": PASSWORD,
            "ssl_ca_location": admin.kafka.ssl_ca_location,
        },
    )


def test_both_clients_reach_an_existing_secured_kafka_by_its_bootstrap_servers(spark, existing: Settings) -> None:
    """Setup: a topic created with no replication given; 20 records produced with librdkafka.
    Invariants: the topic got the brokers' default replication (1 here); librdkafka reads the 20 back,
    and Spark's Kafka source (Java client, the escaped JAAS line, the PEM trust store) reads exactly the
    same keys and values."""
    kafka = existing.kafka
    assert kafka.external and kafka.bootstrap == f"localhost:{existing.kafka.first_server()[1]}"
    topic = f"ext-{uuid.uuid4().hex[:8]}"
    assert create_topic(kafka, topic, partitions=2)
    sent = [(f"k{i}".encode(), f"v{i}".encode()) for i in range(20)]
    producer = Producer(kafka.client_config(**{"enable.idempotence": True}))
    for key, value in sent:
        producer.produce(topic, value, key)
    assert producer.flush(30) == 0

    consumer = Consumer(kafka.client_config(**{"group.id": topic, "enable.auto.commit": False}))
    consumer.assign([TopicPartition(topic, p, 0) for p in (0, 1)])
    got: list[tuple[bytes, bytes]] = []
    for _ in range(200):
        if len(got) == len(sent):
            break
        msg = consumer.poll(0.5)
        if msg is not None and msg.error() is None:
            got.append((msg.key(), msg.value()))
    consumer.close()
    assert sorted(got) == sorted(sent)

    rows = (
        spark.read.format("kafka")
        .options(**kafka.spark_options())
        .option("subscribe", topic)
        .option("startingOffsets", "earliest")
        .load()
        .selectExpr("key", "value")
        .collect()
    )
    assert sorted((bytes(r.key), bytes(r.value)) for r in rows) == sorted(sent)


def test_streamwise_starts_no_broker_for_an_existing_kafka(existing: Settings) -> None:
    """Invariants: starting the local Kafka is refused, naming the cluster and the setting; `status`
    lists no local node and shows it serving; the secure profile cannot be combined with it."""
    cluster = KafkaCluster(existing)
    with pytest.raises(PlatformError, match="existing cluster here .localhost:") as refused:
        cluster.start()
    assert "STREAMWISE_KAFKA_BOOTSTRAP_SERVERS" in (refused.value.hint or "")
    status = cluster.status(quorum=False)
    assert (status.nodes, status.serving, status.bootstrap_servers) == ([], True, existing.kafka.bootstrap)
    with pytest.raises(ConfigError, match="secure profile secures the Kafka streamwise starts"):
        load_settings(
            state_dir=existing.state, kafka={"bootstrap_servers": "localhost:9092"}, security={"enabled": True}
        )
