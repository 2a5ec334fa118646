"""Settings: defaults that work with nothing set, environment overrides, and errors that name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamwise.config import load_settings
from streamwise.errors import ConfigError


def test_defaults_point_at_a_local_broker_and_state_folder() -> None:
    cfg = load_settings()
    assert cfg.kafka.bootstrap == "127.0.0.1:9092"
    assert cfg.state == Path(".streamwise").resolve()
    assert cfg.cache == (Path(".streamwise") / "cache").resolve()
    assert cfg.kafka.spark_options() == {"kafka.bootstrap.servers": "127.0.0.1:9092"}


def test_environment_overrides_each_section(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STREAMWISE_KAFKA_PORT", "19092")
    monkeypatch.setenv("STREAMWISE_SPARK_MASTER", "local[2]")
    monkeypatch.setenv("STREAMWISE_STATE_DIR", str(tmp_path))
    cfg = load_settings()
    assert cfg.kafka.bootstrap == "127.0.0.1:19092"
    assert cfg.spark.master == "local[2]"
    assert cfg.state == tmp_path


def test_explicit_overrides_beat_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMWISE_KAFKA_PORT", "19092")
    assert load_settings(kafka={"port": 29092}).kafka.port == 29092


def test_out_of_range_port_names_the_field_and_value() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(kafka={"port": 70000})
    assert "kafka.port" in err.value.message
    assert "70000" in err.value.message
    assert "less than or equal to 65535" in err.value.message


def test_controller_port_must_differ_from_client_port() -> None:
    with pytest.raises(ConfigError, match=r"client ports \[9500\] and controller ports \[9500\] of 1 node"):
        load_settings(kafka={"port": 9500, "controller_port": 9500})


def test_cluster_nodes_take_every_other_port_and_must_not_overlap() -> None:
    kafka = load_settings(kafka={"nodes": 3}).kafka
    assert kafka.bootstrap == "127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096"
    assert [(a.node_id, a.port, a.controller_port) for a in kafka.addresses()] == [
        (1, 9092, 9093),
        (2, 9094, 9095),
        (3, 9096, 9097),
    ]
    assert (kafka.replication_factor, kafka.min_insync_replicas) == (3, 2)
    assert (load_settings().kafka.replication_factor, load_settings().kafka.min_insync_replicas) == (1, 1)
    # Node 2's client port would be node 1's controller port.
    with pytest.raises(
        ConfigError, match=r"client ports \[9092, 9094, 9096\] and controller ports \[9094, 9096, 9098\]"
    ):
        load_settings(kafka={"nodes": 3, "controller_port": 9094})


def test_unknown_setting_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="kafka.prot"):
        load_settings(kafka={"prot": 1})
