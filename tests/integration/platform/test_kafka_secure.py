"""The secure profile's Kafka: TLS on every listener, SCRAM-SHA-512 logins, ACLs that deny by default.

One secure node of its own (the session fixture ``secure_kafka``: scratch state folder and ports) serves
the module, and a secure cluster of three the one test that asks for it. Each user a test makes is its own, named after the test, so
tests never see each other's grants.
"""

from __future__ import annotations

import re
import socket
import stat
import struct
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient
from tls_probe import s_client

from streamwise.config import Settings
from streamwise.platform.exceptions import PlatformError
from streamwise.platform.kafka import KafkaCluster
from streamwise.platform.kafka_tools import consumer_group_lag
from streamwise.platform.ports import free_port_block
from streamwise.platform.security import (
    ADMIN,
    Acl,
    add_user,
    as_principal,
    grant,
    list_acls,
    list_users,
    password_file,
    remove_user,
    revoke,
)
from streamwise.platform.topics import create_topic, describe_topic

SAFETY_S = 60  # a bound for waits on the broker (ACLs reach its authorizer through the metadata log)


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + SAFETY_S
    while not condition():
        assert time.monotonic() < deadline, f"still waiting for {what} after {SAFETY_S}s"
        time.sleep(0.3)


@pytest.fixture
def admin(secure_kafka: KafkaCluster, secure_settings: Settings) -> Settings:
    """The settings as ``admin`` (the super user) speaks."""
    return as_principal(secure_settings, ADMIN)


def new_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def broker_log(cluster: KafkaCluster) -> str:
    return cluster.nodes[0].service.log_file.read_text(errors="replace")


def client_errors(config: dict[str, object]) -> list[KafkaError]:
    """The errors a client with ``config`` reports (librdkafka's error callback) while connecting."""
    errors: list[KafkaError] = []
    producer = Producer({**config, "log_level": 0, "error_cb": errors.append})
    deadline = time.monotonic() + SAFETY_S
    while not errors and time.monotonic() < deadline:
        producer.poll(0.5)
    return errors


def produce_one(settings: Settings, topic: str) -> KafkaError | None:
    """Produce one record with a fresh producer (librdkafka caches a topic's authorization error);
    the delivery error, or None once delivered."""
    outcome: list[KafkaError | None] = []
    producer = Producer(settings.kafka.client_config(log_level=0, **{"message.timeout.ms": 20_000}))
    try:
        producer.produce(topic, b"v", key=b"k", on_delivery=lambda err, _msg: outcome.append(err))
    except KafkaException as exc:  # the topic's error is known before the record is queued
        return exc.args[0]
    producer.flush(SAFETY_S)
    assert outcome, "no delivery report"
    return outcome[0]


def consume_one(settings: Settings, topic: str, group: str) -> KafkaError | bytes:
    """Subscribe with a fresh consumer in ``group``; the first record's value (its offset committed),
    or the first error."""
    consumer = Consumer(
        settings.kafka.client_config(
            log_level=0, **{"group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False}
        )
    )
    consumer.subscribe([topic])
    try:
        deadline = time.monotonic() + SAFETY_S
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            error = msg.error()
            if error is not None:
                return error
            consumer.commit(message=msg, asynchronous=False)  # the group's offset, for the lag tool
            return msg.value()
        raise AssertionError(f"neither a record nor an error from {topic} in {SAFETY_S}s")
    finally:
        consumer.close()


def code(outcome: KafkaError | bytes | None) -> int | bytes | None:
    return outcome.code() if isinstance(outcome, KafkaError) else outcome


def test_a_plaintext_client_is_refused(secure_kafka: KafkaCluster, secure_settings: Settings) -> None:
    """Setup: a client without security.protocol (plaintext) dials the client listener.
    Invariant: it gets no metadata (a transport failure: all brokers down for it), and the broker
    logs the connection as a failed SSL handshake."""
    bootstrap = secure_settings.kafka.bootstrap
    handshakes = broker_log(secure_kafka).count("(SSL handshake failed)")

    with pytest.raises(KafkaException) as refused:
        AdminClient({"bootstrap.servers": bootstrap, "log_level": 0}).list_topics(timeout=5)
    assert refused.value.args[0].code() == KafkaError._TRANSPORT
    errors = client_errors({"bootstrap.servers": bootstrap})
    assert errors[0].code() in (KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT), errors
    wait_for(
        lambda: broker_log(secure_kafka).count("(SSL handshake failed)") > handshakes,
        "the broker to log the plaintext connection as a failed SSL handshake",
    )


def test_a_wrong_password_is_refused(secure_kafka: KafkaCluster, secure_settings: Settings) -> None:
    """Setup: a user exists; a client logs in with another password, and one as a user that does not exist.
    Invariant: both are refused with librdkafka's _AUTHENTICATION error, the broker's 'Authentication
    failed ... invalid credentials with SASL mechanism SCRAM-SHA-512'; the right password is accepted."""
    user = new_name("wrong-pw")
    add_user(secure_settings, user)
    good = as_principal(secure_settings, user)

    for config in (
        good.kafka.client_config(**{"sasl.password": "not-" + good.kafka.sasl_password.get_secret_value()}),
        good.kafka.client_config(**{"sasl.username": new_name("nobody")}),
    ):
        errors = client_errors(config)
        assert errors[0].code() == KafkaError._AUTHENTICATION, errors
        assert "Authentication failed during authentication due to invalid credentials" in errors[0].str()
        assert "SCRAM-SHA-512" in errors[0].str()
    assert list(AdminClient(good.kafka.client_config(log_level=0)).list_topics(timeout=SAFETY_S).brokers) == [1]
    remove_user(secure_settings, user)


def test_without_an_acl_produce_and_consume_are_refused_until_granted(
    admin: Settings, secure_settings: Settings
) -> None:
    """Setup: a topic made by admin; a user who may use its own consumer group but, at first, not the topic.
    Invariant: produce and consume fail with TOPIC_AUTHORIZATION_FAILED; after grant (write, read,
    describe) the record goes through and comes back, and Kafka's consumer-groups tool (run as admin)
    sees its commit; after revoke both fail again with the same error."""
    topic, user = new_name("acl-topic"), new_name("acl-user")
    create_topic(admin.kafka, topic, partitions=1)
    add_user(secure_settings, user)
    me = as_principal(secure_settings, user)
    group = f"{user}.group"
    grant(secure_settings, [Acl(user, "group", group, "read")])

    assert code(produce_one(me, topic)) == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert code(consume_one(me, topic, group)) == KafkaError.TOPIC_AUTHORIZATION_FAILED

    on_topic = [Acl(user, "topic", topic, op) for op in ("write", "read", "describe")]
    grant(secure_settings, on_topic)
    assert set(on_topic) <= set(list_acls(secure_settings, user))
    wait_for(lambda: produce_one(me, topic) is None, "the granted write to take effect")
    assert consume_one(me, topic, group) == b"v"
    # Kafka's own consumer-groups tool, as admin through its 0600 --command-config, sees the commit.
    assert consumer_group_lag(secure_settings, group) == {(topic, 0): 0}

    revoke(secure_settings, on_topic)
    assert list_acls(secure_settings, user) == [Acl(user, "group", group, "read")]
    wait_for(
        lambda: code(produce_one(me, topic)) == KafkaError.TOPIC_AUTHORIZATION_FAILED,
        "the revoked write to be refused",
    )
    assert code(consume_one(me, topic, group)) == KafkaError.TOPIC_AUTHORIZATION_FAILED
    revoke(secure_settings, list_acls(secure_settings, user))
    remove_user(secure_settings, user)


def test_a_principal_cannot_join_another_pipelines_group(admin: Settings, secure_settings: Settings) -> None:
    """Setup: two pipelines' users, each granted its topic and the groups under its own prefix ending
    in a delimiter (``<pipeline>.``); pipeline a's name is a prefix of pipeline b's.
    Invariant: a reads in its own group; joining b's group, or a group named like its own without the
    delimiter, fails with GROUP_AUTHORIZATION_FAILED."""
    topic = new_name("groups")
    create_topic(admin.kafka, topic, partitions=1)
    pipeline_a = new_name("pipeline")
    pipeline_b = pipeline_a + "x"  # 'pipeline-…' is a prefix of 'pipeline-…x' without the delimiter
    for user in (pipeline_a, pipeline_b):
        add_user(secure_settings, user)
        grant(
            secure_settings,
            [
                Acl(user, "topic", topic, "read"),
                Acl(user, "topic", topic, "describe"),
                Acl(user, "group", f"{user}.", "read", "prefixed"),
            ],
        )
    assert produce_one(admin, topic) is None
    a = as_principal(secure_settings, pipeline_a)

    wait_for(lambda: consume_one(a, topic, f"{pipeline_a}.main") == b"v", "pipeline a to read in its own group")
    assert code(consume_one(a, topic, f"{pipeline_b}.main")) == KafkaError.GROUP_AUTHORIZATION_FAILED
    assert code(consume_one(a, topic, pipeline_a)) == KafkaError.GROUP_AUTHORIZATION_FAILED
    for user in (pipeline_a, pipeline_b):
        revoke(secure_settings, list_acls(secure_settings, user))
        remove_user(secure_settings, user)


def test_every_listener_speaks_tls(secure_kafka: KafkaCluster, secure_settings: Settings) -> None:
    """Setup: openssl s_client trusting only the project's CA, on the client and the controller listener;
    then a Kafka ApiVersions request in plaintext to the controller listener.
    Invariant: both present kafka-1's certificate, verified (return code 0); the controller refuses a
    client without a certificate (a TLS alert) and answers admin's (the quorum status a JVM tool reads
    with it); the plaintext request gets a fatal TLS alert, never a Kafka answer, and the broker logs a
    failed SSL handshake on the controller listener."""
    ca = secure_settings.state / "security" / "ca.pem"
    address = secure_settings.kafka.addresses()[0]

    for port in (address.port, address.controller_port):
        handshake = s_client(port, ca)
        assert handshake.verified, handshake.output
        assert re.search(r"subject=.*CN ?= ?kafka-1\b", handshake.output), handshake.output
    # TLS 1.3 refuses a missing client certificate after the handshake: -ign_eof reads on until the
    # server closes, so the alert is seen.
    uncertified = s_client(address.controller_port, ca, "-ign_eof").output
    assert re.search(r"alert (bad certificate|certificate required)", uncertified), uncertified

    handshakes = broker_log(secure_kafka).count("listenerType=CONTROLLER, nodeId=1] Failed authentication")
    request = struct.pack(">hhih", 18, 0, 7, 5) + b"probe"  # ApiVersions v0, correlation id 7
    with socket.create_connection(("127.0.0.1", address.controller_port), timeout=SAFETY_S) as sock:
        sock.sendall(struct.pack(">i", len(request)) + request)
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    assert answer[:1] == b"\x15" and answer[5:6] == b"\x02", answer.hex()  # TLS record: alert, fatal
    wait_for(
        lambda: broker_log(secure_kafka).count("listenerType=CONTROLLER, nodeId=1] Failed authentication") > handshakes,
        "the controller listener to log the plaintext connection",
    )
    status = secure_kafka.status()  # the quorum's leader comes from the controllers over mutual TLS
    assert status.serving and status.controller_leader == 1


def test_secrets_are_owner_only_and_stay_out_of_the_log(secure_kafka: KafkaCluster, secure_settings: Settings) -> None:
    """Setup: the running secure node's state folder, and a user made through the API.
    Invariant: server.properties (holding admin's password), every password file, private key and
    key bundle are mode 0600 under 0700 folders; the admin password is in server.properties but
    nowhere in the broker's log; no temporary file (format arguments, tool configs) is left."""
    state = secure_settings.state
    user = new_name("secret")
    add_user(secure_settings, user)
    password = password_file(secure_settings, ADMIN).read_text().strip()
    certs = state / "security" / "certs"
    secrets = [
        secure_kafka.nodes[0].config_file,
        password_file(secure_settings, ADMIN),
        password_file(secure_settings, user),
        state / "security" / "ca.key",
        certs / "kafka-1.key",
        certs / "kafka-1.bundle.pem",
    ]
    assert {path.name: stat.S_IMODE(path.stat().st_mode) for path in secrets} == {p.name: 0o600 for p in secrets}
    folders = {path.parent for path in secrets[1:]}
    assert {str(f): stat.S_IMODE(f.stat().st_mode) for f in folders} == {str(f): 0o700 for f in folders}
    assert password in secure_kafka.nodes[0].config_file.read_text()
    assert password not in broker_log(secure_kafka)
    assert list((state / "security" / "tmp").iterdir()) == []
    assert user in list_users(secure_settings)
    remove_user(secure_settings, user)
    assert not password_file(secure_settings, user).exists()


def test_the_storage_keeps_the_profile_it_was_formatted_for(
    secure_kafka: KafkaCluster, secure_settings: Settings
) -> None:
    """Setup: the secure node's state folder, asked to start without the secure profile.
    Invariant: refused before anything starts, saying it was formatted secure and how to proceed."""
    plain = secure_settings.model_copy(
        update={"security": secure_settings.security.model_copy(update={"enabled": False})}
    )
    with pytest.raises(PlatformError, match="formatted for the secure profile") as refused:
        KafkaCluster(plain).start()
    assert refused.value.hint == "start it with --profile secure, or delete it (streamwise down --purge)"


@pytest.fixture(scope="module")
def secure_cluster(tmp_path_factory: pytest.TempPathFactory, streamwise_settings: Settings) -> Iterator[KafkaCluster]:
    """Three secure nodes (the cluster and secure profiles together) on a state folder and a block of
    six ports of their own; every node stopped by pid afterwards."""
    first = free_port_block(6)
    settings = streamwise_settings.model_copy(
        update={
            "state_dir": tmp_path_factory.mktemp("streamwise-secure-cluster"),
            "security": streamwise_settings.security.model_copy(update={"enabled": True}),
            "kafka": streamwise_settings.kafka.model_copy(
                update={"port": first, "controller_port": first + 1, "nodes": 3, "heap": "384m"}
            ),
        }
    )
    cluster = KafkaCluster(settings)
    cluster.start()
    yield cluster
    cluster.stop()


# Three more JVMs and a node restart: kept out of the default run's 30-minute budget (run it with
# `./dev test -m slow tests/integration/platform/test_kafka_secure.py`).
@pytest.mark.slow
def test_a_secure_cluster_replicates_and_rejoins_over_tls(secure_cluster: KafkaCluster) -> None:
    """Setup: three secure nodes; a topic with three replicas written (acks=all) by a user granted
    only that topic; then a node that does not lead the quorum is killed and restarted.
    Invariant: every node registered (each proved itself to the controllers with its certificate and
    replicates as admin over SASL_SSL), a quorum leader is named over mutual TLS, every replica is in
    sync; the restarted node logs in again and is back in every ISR with nothing under-replicated."""
    settings = secure_cluster.settings
    admin = as_principal(settings, ADMIN)
    status = secure_cluster.status()
    assert [(n.node_id, n.registered) for n in status.nodes] == [(1, True), (2, True), (3, True)]
    assert status.serving and status.controller_leader in (1, 2, 3)

    topic, user = new_name("replicated"), new_name("writer")
    create_topic(admin.kafka, topic, partitions=3)
    add_user(settings, user)
    grant(settings, [Acl(user, "topic", topic, "write"), Acl(user, "topic", topic, "describe")])
    writer = as_principal(settings, user)
    wait_for(lambda: produce_one(writer, topic) is None, "the granted write to be acknowledged by the cluster")
    info = describe_topic(admin.kafka, topic)
    assert info.replication == 3 and all(sorted(p.isr) == [1, 2, 3] for p in info.partitions)

    victim = next(n for n in (1, 2, 3) if n != status.controller_leader)
    assert secure_cluster.kill(victim)
    assert produce_one(writer, topic) is None  # two in-sync replicas of three still take acks=all
    secure_cluster.restart(victim)
    assert secure_cluster.lagging(victim) == []
    wait_for(lambda: secure_cluster.under_replicated() == [], "every partition to be fully replicated again")
