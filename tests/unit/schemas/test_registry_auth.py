"""Basic auth for the registry's writes (the secure profile's ``users_dir``), over real HTTP: writes
need a user whose password file matches, reads stay open, and the client takes its credentials from
RegistrySettings.client_config only for the registry's own URL."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from registry_server import Registry

from streamwise.config import RegistrySettings
from streamwise.schemas import RegistryClient, RegistryError
from streamwise.secret_files import write_secret

CT = {"Content-Type": "application/vnd.schemaregistry.v1+json"}
SCHEMA = json.dumps({"type": "record", "name": "Order", "fields": [{"name": "id", "type": "string"}]})
BODY = json.dumps({"schema": SCHEMA})
PASSWORD = "correct-horse-battery"


@pytest.fixture
def users(tmp_path: Path) -> Path:
    folder = tmp_path / "registry-users"
    write_secret(folder / "alice.password", PASSWORD + "\n")  # a trailing newline is not part of it
    return folder


@pytest.fixture
def registry(users: Path) -> Iterator[Registry]:
    with Registry(users_dir=users) as running:
        yield running


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def write(registry: Registry, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{registry.url}/subjects/orders-value/versions", content=BODY, headers={**CT, **headers})


def refused(response: httpx.Response) -> None:
    assert response.status_code == 401
    assert response.json()["error_code"] == 40101
    assert response.headers["WWW-Authenticate"].startswith("Basic realm=")
    assert PASSWORD not in response.text


@pytest.mark.parametrize(
    "headers",
    [
        {},
        basic("alice", "wrong"),
        basic("alice", ""),
        basic("alice", PASSWORD + "x"),
        basic("bob", PASSWORD),  # no such user
        basic("../registry-users/alice", PASSWORD),  # a path, not a user name
        basic(".alice", PASSWORD),
        {"Authorization": "Basic !!!not-base64"},
        {"Authorization": "Bearer " + PASSWORD},
        {"Authorization": "Basic " + base64.b64encode(b"alice").decode()},  # no colon
    ],
    ids=["none", "wrong", "empty", "longer", "unknown-user", "path", "dot-name", "bad-base64", "bearer", "no-colon"],
)
def test_writes_without_valid_credentials_are_refused(registry: Registry, headers: dict[str, str]) -> None:
    """Setup: users_dir holds alice's password; a registration with no, wrong or malformed credentials.
    Invariant: 401 with error_code 40101 and WWW-Authenticate: Basic; nothing registered."""
    refused(write(registry, headers))
    assert httpx.get(f"{registry.url}/subjects").json() == []


def test_every_write_method_needs_auth_and_reads_stay_open(registry: Registry) -> None:
    """Setup: alice registers a schema; then PUT, DELETE and POST (lookup, compatibility) without auth,
    and every read without auth. Invariant: alice's write answers its id; unauthenticated writes 40101,
    including the lookup and the check, since they are POSTs; reads answer 200."""
    assert write(registry, basic("alice", PASSWORD)).json() == {"id": 1}
    url = registry.url
    refused(httpx.put(f"{url}/config", content='{"compatibility": "NONE"}', headers=CT))
    refused(httpx.put(f"{url}/config/orders-value", content='{"compatibility": "NONE"}', headers=CT))
    refused(httpx.delete(f"{url}/subjects/orders-value"))
    refused(httpx.delete(f"{url}/subjects/orders-value/versions/1"))
    refused(httpx.post(f"{url}/subjects/orders-value", content=BODY, headers=CT))
    for path in ("/", "/subjects", "/subjects/orders-value/versions/1", "/schemas/ids/1", "/config", "/schemas"):
        assert httpx.get(url + path).status_code == 200, path
    authed = httpx.put(f"{url}/config", content='{"compatibility": "NONE"}', headers={**CT, **basic("alice", PASSWORD)})
    assert authed.json() == {"compatibility": "NONE"}


def test_password_is_read_per_write(registry: Registry, users: Path) -> None:
    """Setup: alice's password file replaced while the registry runs. Invariant: the old password is
    refused and the new one accepted, without a restart."""
    write_secret(users / "alice.password", "rotated")
    refused(write(registry, basic("alice", PASSWORD)))
    assert write(registry, basic("alice", "rotated")).json() == {"id": 1}


def test_a_readable_password_file_fails_closed(registry: Registry, users: Path) -> None:
    """Setup: bob's password file is readable by others (someone widened it). Invariant: bob's right
    password is refused (40101): a password others could read may have leaked."""
    loose = users / "bob.password"
    fd = os.open(loose, os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"bobs-password")
    os.close(fd)
    os.chmod(loose, 0o644)  # whatever the umask: the point is a file others can read
    refused(write(registry, basic("bob", "bobs-password")))


def test_client_takes_credentials_from_settings(registry: Registry) -> None:
    """Setup: RegistryClient.from_settings with alice's username/password, and without any. Invariant:
    the first registers and reads back; the second reads but its write raises RegistryError 40101
    with a hint naming the settings to set, never the password."""
    with_user = registry.settings.model_copy(update={"username": "alice", "password": SecretStr(PASSWORD)})
    with RegistryClient.from_settings(with_user) as c:
        assert c.register("orders-value", SCHEMA) == 1
        assert c.version("orders-value").id == 1
    with RegistryClient.from_settings(registry.settings) as anonymous:
        assert anonymous.subjects() == ["orders-value"]
        with pytest.raises(RegistryError) as denied:
            anonymous.set_compatibility("none")
    assert denied.value.code == 40101
    assert "STREAMWISE_REGISTRY_USERNAME" in str(denied.value)


def test_credentials_go_only_to_the_registrys_own_url() -> None:
    """Setup: settings with a user, a password and a CA. Invariant: client_config for the registry's
    own URL carries basic.auth.user.info; for another URL only the URL and the CA; the password never
    shows in the settings' repr."""
    settings = RegistrySettings(username="alice", password=SecretStr(PASSWORD), ca_file=Path("/ca.pem"))
    assert settings.client_config() == {
        "url": "https://127.0.0.1:8081",
        "ssl.ca.location": "/ca.pem",
        "basic.auth.user.info": f"alice:{PASSWORD}",
    }
    assert settings.client_config("https://elsewhere:8081") == {
        "url": "https://elsewhere:8081",
        "ssl.ca.location": "/ca.pem",
    }
    assert PASSWORD not in repr(settings)
