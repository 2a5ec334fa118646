"""The CLI's side of the secure profile: --profile combinations, settings that follow a state folder
formatted secure, and the ACL options. No broker runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streamwise.cli import _common
from streamwise.cli._common import Profile, settings
from streamwise.cli.security import Op, _acls
from streamwise.errors import ConfigError, StreamwiseError
from streamwise.platform.security import OPERATIONS, Acl


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A scratch state folder given as --state-dir; no profile from the environment."""
    for name in ("STREAMWISE_SECURITY_ENABLED", "STREAMWISE_KAFKA_NODES", "STREAMWISE_KAFKA_SECURITY_PROTOCOL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(_common.root_options, "state_dir", tmp_path)
    return tmp_path


def test_profiles_combine(state: Path) -> None:
    """Setup: --profile cluster --profile secure on a new state folder, then single with cluster.
    Invariant: three nodes whose clients speak SASL_SSL as admin; single and cluster together are a
    ConfigError."""
    cfg = settings([Profile.cluster, Profile.secure])
    assert (cfg.kafka.nodes, cfg.security.enabled) == (3, True)
    assert (cfg.kafka.security_protocol, cfg.kafka.sasl_username) == ("SASL_SSL", "admin")
    assert cfg.kafka.ssl_ca_location == state / "security" / "ca.pem"
    with pytest.raises(ConfigError, match="contradict"):
        settings([Profile.single, Profile.cluster])


def test_commands_follow_a_storage_formatted_secure(state: Path) -> None:
    """Setup: a state folder whose Kafka was formatted for three secure nodes; a command with no profile.
    Invariant: its settings are the secure cluster's, speaking as admin; without the record they
    are plaintext."""
    assert settings().kafka.security_protocol == "PLAINTEXT"
    settings([Profile.secure])  # makes admin's password, as the first start does before formatting
    (state / "kafka").mkdir()
    (state / "kafka" / "topology.json").write_text(json.dumps({"cluster_id": "x", "nodes": 3, "secure": True}))
    cfg = settings()
    assert (cfg.kafka.nodes, cfg.security.enabled, cfg.kafka.sasl_username) == (3, True, "admin")


def test_the_cli_operations_are_the_acl_operations() -> None:
    """Invariant: --operation offers exactly the operations an Acl takes."""
    assert tuple(op.value for op in Op) == OPERATIONS


def test_acl_options_name_one_resource() -> None:
    """Setup: grant/revoke options. Invariant: each operation on the one resource named (repeats once);
    no resource or two are a StreamwiseError."""
    assert _acls("p", None, "p.", None, False, [Op.read, Op.read, Op.describe], True) == [
        Acl("p", "group", "p.", "read", "prefixed"),
        Acl("p", "group", "p.", "describe", "prefixed"),
    ]
    assert _acls("p", None, None, None, True, [Op.idempotent_write], False) == [
        Acl("p", "cluster", "kafka-cluster", "idempotent_write")
    ]
    for resources in ((None, None, None, False), ("t", "g", None, False)):
        with pytest.raises(StreamwiseError, match="name exactly one resource"):
            _acls("p", *resources, [Op.read], False)


def test_a_lost_admin_password_does_not_block_commands_without_kafka(
    state: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Setup: a state folder formatted secure whose admin password file is gone.
    Invariant: settings still load (so down --purge can clean up), in the secure profile, with a
    warning naming the missing file; Kafka clients get no credentials to speak with."""
    (state / "kafka").mkdir()
    (state / "kafka" / "topology.json").write_text(json.dumps({"cluster_id": "x", "nodes": 1, "secure": True}))
    cfg = settings()
    assert (cfg.security.enabled, cfg.kafka.security_protocol) == (True, "PLAINTEXT")
    assert "the Kafka admin password file" in caplog.text and "is missing" in caplog.text
