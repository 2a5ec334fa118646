"""The secure profile's pure parts: a node's server.properties, the record of the profile, the
credentials a principal's settings carry, and ACLs as confluent-kafka bindings. No broker runs."""

from __future__ import annotations

import json
import re
import stat
from itertools import product
from pathlib import Path

import pytest
from confluent_kafka.admin import AclBinding, AclOperation, AclPermissionType, ResourcePatternType, ResourceType
from cryptography import x509

from streamwise.config import Settings, load_settings
from streamwise.platform.exceptions import PlatformError, SecurityError
from streamwise.platform.kafka import KafkaCluster, KafkaNode
from streamwise.platform.security import (
    ADMIN,
    OPERATIONS,
    RESOURCES,
    Acl,
    add_user,
    as_principal,
    from_binding,
    password_file,
    secure_recorded,
    to_binding,
)
from streamwise.secret_files import write_secret


def make_settings(state: Path, *, secure: bool, nodes: int = 1) -> Settings:
    return load_settings(
        state_dir=state,
        kafka={"port": 19092, "controller_port": 19093, "nodes": nodes},
        security={"enabled": secure},
    )


def read_properties(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if line)


def record(state: Path, **fields: object) -> None:
    (state / "kafka").mkdir(parents=True, exist_ok=True)
    (state / "kafka" / "topology.json").write_text(json.dumps({"cluster_id": "x", "nodes": 1, **fields}))


def test_secure_server_properties_have_no_plaintext_listener(tmp_path: Path) -> None:
    """Setup: node 2 of a three-node cluster in the secure profile writes its server.properties.
    Invariant: the client listener (also inter-broker) is SASL_SSL with SCRAM-SHA-512 where the node logs
    in as admin with the password in admin's file; the controller listener is SSL requiring client
    certificates; PEM key and trust stores are the node's own certificate and the CA; the authorizer
    denies what no ACL allows and only admin and the three nodes are super users; nothing is
    plaintext; the file is 0600, as it holds a password."""
    settings = make_settings(tmp_path, secure=True, nodes=3)
    node = KafkaNode(settings, settings.kafka.addresses()[1])
    node.write_config()
    props = read_properties(node.config_file)
    password = password_file(settings, ADMIN).read_text()
    certs = tmp_path / "security" / "certs"

    assert stat.S_IMODE(node.config_file.stat().st_mode) == 0o600
    assert "PLAINTEXT" not in node.config_file.read_text()
    assert props["listeners"] == "CLIENT://127.0.0.1:19094,CONTROLLER://127.0.0.1:19095"
    assert props["advertised.listeners"] == "CLIENT://127.0.0.1:19094"
    assert props["listener.security.protocol.map"] == "CLIENT:SASL_SSL,CONTROLLER:SSL"
    assert (props["inter.broker.listener.name"], props["controller.listener.names"]) == ("CLIENT", "CONTROLLER")
    assert props["listener.name.client.sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["sasl.mechanism.inter.broker.protocol"] == "SCRAM-SHA-512"
    assert props["listener.name.client.scram-sha-512.sasl.jaas.config"] == (
        f'org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="{password}";'
    )
    assert props["listener.name.controller.ssl.client.auth"] == "required"
    assert "ssl.client.auth" not in props  # SCRAM clients on the client listener show no certificate
    assert props["ssl.keystore.type"] == props["ssl.truststore.type"] == "PEM"
    assert props["ssl.keystore.location"] == str(certs / "kafka-2.bundle.pem")
    assert props["ssl.truststore.location"] == str(tmp_path / "security" / "ca.pem")
    assert props["authorizer.class.name"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["super.users"] == "User:admin;User:kafka-1;User:kafka-2;User:kafka-3"


def test_the_mapping_rule_turns_a_node_certificate_into_its_principal(tmp_path: Path) -> None:
    """Setup: the certificate node 2 shows the controllers, its subject in RFC 2253 form (as Java's
    X500Principal.getName() gives it), and the node's ssl.principal.mapping.rules.
    Invariant: the rule maps it to kafka-2, one of the super users."""
    settings = make_settings(tmp_path, secure=True, nodes=3)
    node = KafkaNode(settings, settings.kafka.addresses()[1])
    node.write_config()
    props = read_properties(node.config_file)
    subject = x509.load_pem_x509_certificate((tmp_path / "security" / "certs" / "kafka-2.pem").read_bytes()).subject
    rule = re.fullmatch(r"RULE:(.+)/(.+)/,DEFAULT", props["ssl.principal.mapping.rules"])
    assert rule is not None
    principal = re.sub(rule.group(1), rule.group(2).replace("$1", r"\1"), subject.rfc4514_string())
    assert subject.rfc4514_string() == "CN=kafka-2,O=streamwise local platform"
    assert principal == "kafka-2"
    assert f"User:{principal}" in props["super.users"].split(";")


def test_plaintext_server_properties_make_no_secrets(tmp_path: Path) -> None:
    """Setup: a node of the default profile writes its server.properties.
    Invariant: one PLAINTEXT client listener, no TLS, SASL or authorizer setting, and no security
    folder (no CA, no password) made as a side effect."""
    settings = make_settings(tmp_path, secure=False)
    node = KafkaNode(settings, settings.kafka.addresses()[0])
    node.write_config()
    props = read_properties(node.config_file)
    assert props["listener.security.protocol.map"] == "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
    assert not [key for key in props if "ssl" in key or "sasl" in key or "authorizer" in key or "super" in key]
    assert not (tmp_path / "security").exists()


def test_a_storage_starts_only_in_the_profile_it_was_formatted_for(tmp_path: Path) -> None:
    """Setup: topology records of a plaintext and of a secure storage.
    Invariant: starting either in the other profile is refused before anything runs, with what the
    storage is and how to proceed."""
    plain_state, secure_state = tmp_path / "plain", tmp_path / "secure"
    record(plain_state)  # formatted before the profile existed: no 'secure' key
    record(secure_state, secure=True)
    assert (secure_recorded(plain_state), secure_recorded(secure_state)) == (False, True)

    with pytest.raises(PlatformError, match="formatted without the secure profile") as plain:
        KafkaCluster(make_settings(plain_state, secure=True)).start()
    assert plain.value.hint.startswith("start it without --profile secure")
    with pytest.raises(PlatformError, match="formatted for the secure profile") as secure:
        KafkaCluster(make_settings(secure_state, secure=False)).start()
    assert secure.value.hint == "start it with --profile secure, or delete it (streamwise down --purge)"


def test_a_principals_settings_carry_its_credentials(tmp_path: Path) -> None:
    """Setup: settings with the profile off and on; a user's password file; a secure storage whose admin
    password file is gone.
    Invariant: off, the settings are returned as they are; on, the Kafka section speaks SASL_SSL as
    the principal with its file's password and the project's CA (config show masks the password);
    a user without a file, or admin's lost file, is a SecurityError saying what to do."""
    off = make_settings(tmp_path / "off", secure=False)
    assert as_principal(off, ADMIN) is off

    on = make_settings(tmp_path / "on", secure=True)
    write_secret(password_file(on, "alice"), "alice-secret\n")
    alice = as_principal(on, "alice").kafka
    assert (alice.security_protocol, alice.sasl_username) == ("SASL_SSL", "alice")
    assert alice.sasl_password is not None and alice.sasl_password.get_secret_value() == "alice-secret"
    assert alice.ssl_ca_location == tmp_path / "on" / "security" / "ca.pem"
    assert "alice-secret" not in repr(alice)
    assert alice.client_config()["sasl.mechanism"] == "SCRAM-SHA-512"

    with pytest.raises(SecurityError, match="'bob' has no password file") as missing:
        as_principal(on, "bob")
    assert missing.value.hint == "create the user: streamwise users add bob"
    record(on.state, secure=True)
    with pytest.raises(SecurityError, match="admin password file .* is missing"):
        as_principal(on, ADMIN)


def test_users_need_the_profile_and_a_free_name(tmp_path: Path) -> None:
    """Setup: add_user with the profile off, then on with names the brokers use or Kafka cannot take.
    Invariant: each is refused with a SecurityError before any request is sent."""
    with pytest.raises(SecurityError, match="exist only in the secure profile"):
        add_user(make_settings(tmp_path, secure=False), "alice")
    on = make_settings(tmp_path, secure=True)
    for name in (ADMIN, "kafka-3"):
        with pytest.raises(SecurityError, match="is reserved"):
            add_user(on, name)
    for name in ("a,b", "x=y", "", "../etc"):
        with pytest.raises(SecurityError, match="is not a valid user name"):
            add_user(on, name)


# A cluster ACL is only ever literal.
MANAGED = [c for c in product(RESOURCES, OPERATIONS, ("literal", "prefixed")) if c[::2] != ("cluster", "prefixed")]


@pytest.mark.parametrize(("resource", "operation", "pattern"), MANAGED)
def test_an_acl_round_trips_through_its_binding(resource: str, operation: str, pattern: str) -> None:
    """Setup: every resource, operation and pattern streamwise manages (a cluster only literally).
    Invariant: the binding names User:<principal>, host *, ALLOW and Kafka's resource and operation;
    reading it back gives the same Acl."""
    acl = Acl("pipeline-clickstream", resource, "" if resource == "cluster" else "clickstream", operation, pattern)  # type: ignore[arg-type]
    binding = to_binding(acl)
    assert (binding.principal, binding.host, binding.permission_type) == (
        "User:pipeline-clickstream",
        "*",
        AclPermissionType.ALLOW,
    )
    assert binding.operation == AclOperation[operation.upper()]
    assert binding.resource_pattern_type == ResourcePatternType[pattern.upper()]
    kafka_types = {"topic": ResourceType.TOPIC, "group": ResourceType.GROUP, "cluster": ResourceType.BROKER}
    assert binding.restype == kafka_types.get(resource, ResourceType.TRANSACTIONAL_ID)
    assert binding.name == ("kafka-cluster" if resource == "cluster" else "clickstream")
    assert from_binding(binding) == acl


def test_bindings_streamwise_does_not_make_are_not_read_as_its_acls() -> None:
    """Setup: bindings Kafka could hold that streamwise never makes: another principal type, a host.
    Invariant: neither reads back as an Acl; a DENY reads back as one with permission deny."""
    base = (ResourceType.TOPIC, "t", ResourcePatternType.LITERAL)
    assert from_binding(AclBinding(*base, "Group:x", "*", AclOperation.READ, AclPermissionType.ALLOW)) is None
    assert from_binding(AclBinding(*base, "User:x", "10.0.0.1", AclOperation.READ, AclPermissionType.ALLOW)) is None
    deny = from_binding(AclBinding(*base, "User:x", "*", AclOperation.READ, AclPermissionType.DENY))
    assert deny == Acl("x", "topic", "t", "read", permission="deny")


def test_malformed_acls_are_refused() -> None:
    """Setup: ACLs a caller could get wrong. Invariant: each is a SecurityError naming the mistake."""
    with pytest.raises(SecurityError, match="names the resource 'kafka-cluster' literally"):
        Acl("x", "cluster", "my-cluster", "idempotent_write")
    with pytest.raises(SecurityError, match="must be a bare user name"):
        Acl("User:x", "topic", "t", "read")
    with pytest.raises(SecurityError, match="needs its name"):
        Acl("x", "topic", "", "read")
    with pytest.raises(SecurityError, match="unknown ACL operation 'delete'"):
        Acl("x", "topic", "t", "delete")  # type: ignore[arg-type]
