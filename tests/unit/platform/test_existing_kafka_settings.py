"""Settings for an existing Kafka: its bootstrap servers, and each security protocol and SASL
mechanism it may ask for, as both client stacks (librdkafka, Kafka's Java client) receive them."""

from __future__ import annotations

import pytest

from streamwise.config import KafkaSettings, load_settings, settings_env
from streamwise.errors import ConfigError


def test_bootstrap_servers_name_an_existing_kafka(tmp_path) -> None:
    """Invariants: the list is kept (spaces dropped) and is what every client bootstraps from; topics
    get the brokers' default replication (-1); a child process sees the same list."""
    cfg = load_settings(state_dir=tmp_path, kafka={"bootstrap_servers": "k1.example.com:9092, [::1]:9093"})
    kafka = cfg.kafka
    assert (kafka.external, kafka.bootstrap, kafka.replication_factor) == (
        True,
        "k1.example.com:9092,[::1]:9093",
        -1,
    )
    assert kafka.first_server() == ("k1.example.com", 9092)
    assert kafka.client_config()["bootstrap.servers"] == kafka.java_client_properties()["bootstrap.servers"]
    assert settings_env(cfg)["STREAMWISE_KAFKA_BOOTSTRAP_SERVERS"] == kafka.bootstrap
    local = KafkaSettings(port=19092, controller_port=19093, nodes=3)
    assert (local.external, local.bootstrap, local.replication_factor, local.first_server()) == (
        False,
        "127.0.0.1:19092,127.0.0.1:19094,127.0.0.1:19096",
        3,
        ("127.0.0.1", 19092),
    )


@pytest.mark.parametrize("bad", ["kafka.example.com", "PLAINTEXT://k:9092", "k:0", "k:99999", "k:9092,", ":9092"])
def test_a_malformed_bootstrap_list_is_refused_naming_the_setting(tmp_path, bad: str) -> None:
    with pytest.raises(ConfigError, match=r"kafka\.bootstrap_servers: .*is not host:port: give a comma-separated"):
        load_settings(state_dir=tmp_path, kafka={"bootstrap_servers": bad})


def test_sasl_ssl_with_plain_logins_and_the_system_trust_store() -> None:
    """Invariants: librdkafka gets the mechanism, the login and 'probe' for the system's CAs; Java gets
    a PlainLoginModule JAAS line and no trust store (the JVM's own)."""
    kafka = KafkaSettings(
        bootstrap_servers="b:9096", security_protocol="SASL_SSL", sasl_mechanism="PLAIN",
        sasl_username="svc", sasl_password="p",
    )  # fmt: skip
    assert kafka.client_config() == {
        "bootstrap.servers": "b:9096",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "PLAIN",
        "sasl.username": "svc",
        "sasl.password": "p",
        "ssl.ca.location": "probe",
    }
    assert kafka.java_client_properties() == {
        "bootstrap.servers": "b:9096",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "PLAIN",
        "sasl.jaas.config": 'org.apache.kafka.common.security.plain.PlainLoginModule required username="svc" password="p";',
    }


def test_jaas_values_are_escaped_and_scram_256_is_passed_through() -> None:
    kafka = KafkaSettings(
        bootstrap_servers="b:9092", security_protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-256",
        sasl_username='we"ird', sasl_password='back\\slash"quote',
    )  # fmt: skip
    props = kafka.java_client_properties()
    assert props["sasl.jaas.config"] == (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        'username="we\\"ird" password="back\\\\slash\\"quote";'
    )
    assert (props["security.protocol"], props["sasl.mechanism"]) == ("SASL_PLAINTEXT", "SCRAM-SHA-256")
    assert "ssl.ca.location" not in kafka.client_config()  # no TLS on SASL_PLAINTEXT


def test_ssl_without_sasl_trusts_the_given_ca(tmp_path) -> None:
    ca = tmp_path / "ca.pem"
    kafka = KafkaSettings(bootstrap_servers="b:9093", security_protocol="SSL", ssl_ca_location=ca)
    assert kafka.client_config() == {
        "bootstrap.servers": "b:9093",
        "security.protocol": "SSL",
        "ssl.ca.location": str(ca),
    }
    assert kafka.spark_options() == {
        "kafka.bootstrap.servers": "b:9093",
        "kafka.security.protocol": "SSL",
        "kafka.ssl.truststore.type": "PEM",
        "kafka.ssl.truststore.location": str(ca),
    }


def test_a_sasl_protocol_without_its_login_is_refused(tmp_path) -> None:
    with pytest.raises(ConfigError, match="security_protocol SASL_PLAINTEXT needs sasl_username, sasl_password"):
        load_settings(state_dir=tmp_path, kafka={"bootstrap_servers": "b:9092", "security_protocol": "SASL_PLAINTEXT"})


def test_bench_bootstrap_option_names_an_existing_kafka_like_the_setting(tmp_path) -> None:
    """`bench ... --bootstrap` takes the same list (and refuses what the setting refuses)."""
    from streamwise.bench import bench_settings

    project = load_settings(state_dir=tmp_path, kafka={"heap": "256m"})
    cfg = bench_settings(project, "127.0.0.1:9092,127.0.0.1:9094")
    assert (cfg.kafka.bootstrap, cfg.kafka.external, cfg.kafka.heap, cfg.state) == (
        "127.0.0.1:9092,127.0.0.1:9094",
        True,
        "256m",
        project.state,
    )
    with pytest.raises(ConfigError, match="kafka.bootstrap_servers"):
        bench_settings(project, "localhost")
