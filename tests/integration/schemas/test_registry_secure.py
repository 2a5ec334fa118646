"""The registry's secure profile as a real process on the real broker: HTTPS with a certificate from
the project's CA, basic auth for writes, reads open, confluent-kafka's own client over HTTPS with
basic auth, and a start over a _schemas topic holding malformed records."""

from __future__ import annotations

import json
import ssl
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from confluent_kafka import Producer
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError
from pydantic import SecretStr
from tls_probe import s_client

from streamwise.config import Settings
from streamwise.platform.certificates import certificate
from streamwise.platform.kafka import KafkaCluster
from streamwise.platform.ports import free_port
from streamwise.platform.topics import create_topic
from streamwise.schemas import RegistryClient, RegistryError, password_file, start_registry, stop_registry
from streamwise.schemas.service import registry_service
from streamwise.secret_files import new_password, write_secret

CT = {"Content-Type": "application/vnd.schemaregistry.v1+json"}
SCHEMA = json.dumps({"type": "record", "name": "Order", "fields": [{"name": "id", "type": "string"}]})
GOOD = {"subject": "kept-value", "version": 1, "id": 1, "schema": '"string"', "deleted": False}


@dataclass(frozen=True)
class SecureRegistry:
    settings: Settings
    password: str

    @property
    def url(self) -> str:
        return self.settings.registry.url

    @property
    def ca(self) -> Path:
        assert self.settings.registry.ca_file is not None
        return self.settings.registry.ca_file

    def http(self, auth: tuple[str, str] | None = None) -> httpx.Client:
        """An HTTPS client trusting the project's CA, with basic auth when given."""
        return httpx.Client(
            base_url=self.url,
            verify=ssl.create_default_context(cafile=str(self.ca)),
            auth=httpx.BasicAuth(*auth) if auth else None,
            headers=CT,
            timeout=10,
        )


def _seed_with_garbage(settings: Settings, topic: str) -> None:
    """The registry's topic before its first start: malformed records around one good schema."""
    create_topic(settings.kafka, topic, partitions=1, cleanup_policy="compact", exist_ok=True)
    producer = Producer(settings.kafka.client_config())
    key = json.dumps({"keytype": "SCHEMA", "subject": "kept-value", "version": 1, "magic": 1}).encode()
    for k, v in [
        (b"not json at all", b"{}"),  # offset 0
        (key, json.dumps(GOOD).encode()),  # offset 1
        (json.dumps({"keytype": "SURPRISE"}).encode(), b"{}"),  # offset 2
        (json.dumps({"keytype": "SCHEMA", "subject": "x", "version": 1}).encode(), b"[]"),  # offset 3
    ]:
        producer.produce(topic, v, k, partition=0)
    assert producer.flush(30) == 0


@pytest.fixture(scope="module")
def secure_registry(
    streamwise_settings: Settings, kafka_broker: KafkaCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SecureRegistry]:
    """A registry of its own (own state folder, port and topic) on the session's broker, with a
    certificate from certificate(settings, "registry"), user alice in its users_dir, and alice as the
    client identity of its settings."""
    base = streamwise_settings.model_copy(update={"state_dir": tmp_path_factory.mktemp("secure-registry")})
    tls = certificate(base, "registry")
    users = base.security.folder(base.state) / "registry-users"
    password = new_password()
    write_secret(password_file(users, "alice"), password)
    registry = base.registry.model_copy(
        update={
            "port": free_port(),
            "topic": f"_schemas_secure_{uuid.uuid4().hex[:8]}",
            "tls_cert_file": tls.cert,
            "tls_key_file": tls.key,
            "ca_file": tls.ca,
            "users_dir": users,
            "username": "alice",
            "password": SecretStr(password),
        }
    )
    settings = base.model_copy(update={"registry": registry})
    _seed_with_garbage(settings, registry.topic)
    start_registry(settings)
    try:
        yield SecureRegistry(settings, password)
    finally:
        stop_registry(settings)


def _error(response: httpx.Response) -> tuple[int, int]:
    return response.status_code, response.json()["error_code"]


def test_unauthenticated_and_wrong_password_writes_are_refused(secure_registry: SecureRegistry) -> None:
    """Setup: the registry over HTTPS with users; a registration without credentials, with alice's
    name and a wrong password, and with a user that does not exist. Invariant: each answers 401 with
    error_code 40101 and WWW-Authenticate: Basic; nothing is registered."""
    body = json.dumps({"schema": SCHEMA})
    for auth in (None, ("alice", "not-" + secure_registry.password), ("mallory", secure_registry.password)):
        with secure_registry.http(auth) as http:
            response = http.post("/subjects/refused-value/versions", content=body)
            assert _error(response) == (401, 40101), auth and auth[0]
            assert response.headers["WWW-Authenticate"].startswith("Basic")
    with secure_registry.http() as http:
        assert "refused-value" not in http.get("/subjects").json()


def test_right_password_writes_and_reads_are_open(secure_registry: SecureRegistry) -> None:
    """Setup: alice registers over HTTPS; an anonymous client reads. Invariant: the write answers an
    id; the anonymous client reads the subject, version and schema by id (200 each)."""
    with secure_registry.http(("alice", secure_registry.password)) as alice:
        schema_id = alice.post("/subjects/orders-value/versions", content=json.dumps({"schema": SCHEMA})).json()["id"]
    with secure_registry.http() as anonymous:
        assert "orders-value" in anonymous.get("/subjects").json()
        assert anonymous.get("/subjects/orders-value/versions/1").json()["id"] == schema_id
        assert json.loads(anonymous.get(f"/schemas/ids/{schema_id}").json()["schema"]) == json.loads(SCHEMA)


def test_our_client_from_settings(secure_registry: SecureRegistry) -> None:
    """Setup: RegistryClient.from_settings with the settings' user, and with the user removed.
    Invariant: the first registers over HTTPS; the second reads but its write raises RegistryError 40101."""
    with RegistryClient.from_settings(secure_registry.settings.registry) as client:
        assert client.register("client-value", SCHEMA) >= 1
    anonymous = secure_registry.settings.registry.model_copy(update={"username": None, "password": None})
    with RegistryClient.from_settings(anonymous) as client:
        assert "client-value" in client.subjects()
        with pytest.raises(RegistryError) as denied:
            client.register("client-value", SCHEMA)
    assert denied.value.code == 40101


def test_confluent_client_over_https_with_basic_auth(secure_registry: SecureRegistry) -> None:
    """Setup: confluent-kafka's SchemaRegistryClient configured by RegistrySettings.client_config
    (https URL, basic.auth.user.info, ssl.ca.location). Invariant: it registers a schema and fetches
    it back by id and as the latest version; without the user info its registration is refused with
    40101."""
    conf = secure_registry.settings.registry.client_config()
    assert conf["url"].startswith("https://") and set(conf) == {"url", "basic.auth.user.info", "ssl.ca.location"}
    sr = SchemaRegistryClient(conf)
    schema_id = sr.register_schema("confluent-value", Schema(SCHEMA, "AVRO"))
    assert json.loads(sr.get_schema(schema_id).schema_str) == json.loads(SCHEMA)
    assert sr.get_latest_version("confluent-value").schema_id == schema_id
    anonymous = SchemaRegistryClient({k: v for k, v in conf.items() if k != "basic.auth.user.info"})
    with pytest.raises(SchemaRegistryError) as denied:
        anonymous.register_schema("confluent-anonymous-value", Schema(SCHEMA, "AVRO"))
    assert (denied.value.http_status_code, denied.value.error_code) == (401, 40101)


def test_tls_verifies_with_the_project_ca(secure_registry: SecureRegistry) -> None:
    """Setup: openssl s_client against the registry's port with the project's CA file. Invariant: the
    chain verifies (Verify return code: 0); plain HTTP to the same port gets no HTTP answer."""
    port = secure_registry.settings.registry.port
    handshake = s_client(port, secure_registry.ca)
    assert handshake.verified, handshake.output[-500:]
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(f"http://127.0.0.1:{port}/subjects", timeout=10)


def test_malformed_log_records_are_skipped_at_start(secure_registry: SecureRegistry) -> None:
    """Setup: the registry's topic held three malformed records around one good schema before it
    started. Invariant: it started and serves the good schema; its log names each skipped offset."""
    with secure_registry.http() as http:
        assert http.get("/subjects/kept-value/versions/1").json()["schema"] == '"string"'
    log = registry_service(secure_registry.settings).log_file.read_text()
    for offset in (0, 2, 3):
        assert f"skipped the record at offset {offset}:" in log
    assert "skipped the record at offset 1:" not in log
