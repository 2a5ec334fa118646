"""The registry's REST API over real HTTP (uvicorn in a thread, state in an in-memory log): Confluent's
paths, bodies, status and error codes, and a state rebuilt from the log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from registry_server import Registry

from streamwise.platform.ports import free_port
from streamwise.schemas import RegistryClient, RegistryError, SchemaStore

CT = {"Content-Type": "application/vnd.schemaregistry.v1+json"}
V1 = {"type": "record", "name": "Order", "fields": [{"name": "id", "type": "string"}]}
V2 = {
    "type": "record",
    "name": "Order",
    "fields": [{"name": "id", "type": "string"}, {"name": "amount", "type": "double", "default": 0.0}],
}
NO_DEFAULT = {
    "type": "record",
    "name": "Order",
    "fields": [{"name": "id", "type": "string"}, {"name": "email", "type": "string"}],
}


@pytest.fixture
def registry() -> Iterator[Registry]:
    with Registry() as running:
        yield running


@pytest.fixture
def http(registry: Registry) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=registry.url, headers=CT, timeout=10) as client:
        yield client


def post(http: httpx.Client, path: str, body: dict[str, Any]) -> httpx.Response:
    return http.post(path, content=json.dumps(body))


def register(http: httpx.Client, subject: str, schema: dict[str, Any]) -> httpx.Response:
    return post(http, f"/subjects/{subject}/versions", {"schema": json.dumps(schema)})


def error(response: httpx.Response) -> tuple[int, int, str]:
    body = response.json()
    return response.status_code, body["error_code"], body["message"]


def test_register_versions_and_ids(http: httpx.Client) -> None:
    """Setup: v1 and v2 under one subject, v1 again pretty-printed, v1 under a second subject.
    Invariant: ids are global per schema (v1 keeps id 1 everywhere), versions per subject, and every
    read path answers Confluent's bodies with the registry media type."""
    assert register(http, "orders-value", V1).json() == {"id": 1}
    assert register(http, "orders-value", V2).json() == {"id": 2}
    again = post(http, "/subjects/orders-value/versions", {"schema": json.dumps(V1, indent=2)})
    assert again.json() == {"id": 1}
    assert register(http, "archive-value", V1).json() == {"id": 1}
    assert http.get("/subjects").json() == ["archive-value", "orders-value"]
    assert http.get("/subjects/orders-value/versions").json() == [1, 2]
    latest = http.get("/subjects/orders-value/versions/latest")
    assert latest.headers["content-type"] == "application/vnd.schemaregistry.v1+json"
    assert latest.json() == {
        "subject": "orders-value",
        "version": 2,
        "id": 2,
        "schema": json.dumps(V2, separators=(",", ":")),
    }
    assert http.get("/subjects/orders-value/versions/1/schema").json() == V1
    assert http.get("/schemas/ids/1").json() == {"schema": json.dumps(V1, separators=(",", ":"))}
    assert http.get("/schemas/ids/1/schema").json() == V1
    assert http.get("/schemas/ids/1/versions").json() == [
        {"subject": "archive-value", "version": 1},
        {"subject": "orders-value", "version": 1},
    ]
    assert http.get("/schemas/ids/1/subjects").json() == ["archive-value", "orders-value"]
    assert http.get("/schemas/types").json() == ["AVRO", "JSON"]
    lookup = post(http, "/subjects/orders-value", {"schema": json.dumps(V2)})
    assert lookup.json()["version"] == 2 and lookup.json()["id"] == 2


def test_error_codes(http: httpx.Client) -> None:
    """Setup: one registered subject, then requests that must fail. Invariant: Confluent's status,
    error_code and message for each."""
    register(http, "orders-value", V1)
    assert error(http.get("/subjects/nope/versions")) == (404, 40401, "Subject 'nope' not found.")
    assert error(http.get("/subjects/orders-value/versions/7")) == (404, 40402, "Version 7 not found.")
    assert error(http.get("/schemas/ids/99")) == (404, 40403, "Schema 99 not found")
    for bad in ("abc", "0"):
        status, code, message = error(http.get(f"/subjects/orders-value/versions/{bad}"))
        assert (status, code) == (422, 42202) and message.startswith(f"The specified version '{bad}' is not a valid")
    status, code, message = error(post(http, "/subjects/orders-value/versions", {"schema": '{"type": "record"}'}))
    assert (status, code) == (422, 42201) and '"name" is a required field' in message
    assert error(post(http, "/subjects/orders-value/versions", {}))[:2] == (422, 42201)
    assert error(post(http, "/subjects/orders-value", {"schema": json.dumps(V2)})) == (404, 40403, "Schema not found")
    assert error(post(http, "/subjects/nope", {"schema": json.dumps(V1)}))[:2] == (404, 40401)
    assert error(http.put("/config", content=json.dumps({"compatibility": "SIDEWAYS"})))[:2] == (422, 42203)
    assert error(http.get("/config/orders-value")) == (
        404,
        40408,
        "Subject 'orders-value' does not have subject-level compatibility configured",
    )
    assert error(http.get("/no/such/path")) == (404, 404, "HTTP 404 Not Found")


def test_incompatible_schema_is_409_naming_the_field(http: httpx.Client) -> None:
    """Setup: v1, then a version adding 'email' without a default under the default BACKWARD level.
    Invariant: 409 whose message names the field and the rule; the verbose check says the same and
    the non-verbose check only is_compatible."""
    register(http, "orders-value", V1)
    status, code, message = error(register(http, "orders-value", NO_DEFAULT))
    assert (status, code) == (409, 409)
    assert message.startswith(
        'Schema being registered is incompatible with an earlier schema for subject "orders-value"'
    )
    assert (
        "field 'email' was added without a default: readers of the new schema cannot read data written with version 1"
        in message
    )
    verbose = post(
        http, "/compatibility/subjects/orders-value/versions/latest?verbose=true", {"schema": json.dumps(NO_DEFAULT)}
    )
    assert verbose.json()["is_compatible"] is False
    assert verbose.json()["messages"][0].startswith("{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE'")
    quiet = post(http, "/compatibility/subjects/orders-value/versions/1", {"schema": json.dumps(V2)})
    assert quiet.json() == {"is_compatible": True}
    assert http.get("/subjects/orders-value/versions").json() == [1]


def test_config_global_and_per_subject(http: httpx.Client) -> None:
    """Setup: global level BACKWARD, then NONE for one subject. Invariant: the subject accepts a breaking
    version, the global level is untouched, and deleting the subject level restores BACKWARD."""
    assert http.get("/config").json() == {"compatibilityLevel": "BACKWARD"}
    register(http, "orders-value", V1)
    assert http.put("/config/orders-value", content=json.dumps({"compatibility": "none"})).json() == {
        "compatibility": "NONE"
    }
    assert http.get("/config/orders-value").json() == {"compatibilityLevel": "NONE"}
    assert register(http, "orders-value", NO_DEFAULT).json() == {"id": 2}
    assert http.get("/config").json() == {"compatibilityLevel": "BACKWARD"}
    assert http.get("/config/other?defaultToGlobal=true").json() == {"compatibilityLevel": "BACKWARD"}
    assert http.delete("/config/orders-value").json() == {"compatibilityLevel": "NONE"}
    assert http.get("/config/orders-value?defaultToGlobal=true").json() == {"compatibilityLevel": "BACKWARD"}
    assert http.put("/config", content=json.dumps({"compatibility": "FULL_TRANSITIVE"})).json() == {
        "compatibility": "FULL_TRANSITIVE"
    }


def test_soft_and_hard_delete(http: httpx.Client) -> None:
    """Setup: a subject with two versions, deleted soft then hard, and a single version deleted.
    Invariant: Confluent's order (soft first, 40405/40407 otherwise; 40404/40406 twice soft), soft-deleted versions hidden but
    their ids readable, hard-deleted ids gone."""
    register(http, "orders-value", V1)
    register(http, "orders-value", V2)
    assert error(http.delete("/subjects/orders-value?permanent=true"))[:2] == (404, 40405)
    assert http.delete("/subjects/orders-value").json() == [1, 2]
    assert error(http.get("/subjects/orders-value/versions"))[:2] == (404, 40401)
    assert http.get("/subjects/orders-value/versions?deleted=true").json() == [1, 2]
    assert http.get("/subjects").json() == [] and http.get("/subjects?deleted=true").json() == ["orders-value"]
    assert http.get("/schemas/ids/2").status_code == 200
    assert error(http.delete("/subjects/orders-value"))[:2] == (404, 40404)
    assert http.delete("/subjects/orders-value?permanent=true").json() == [1, 2]
    assert error(http.get("/schemas/ids/2"))[:2] == (404, 40403)
    register(http, "payments-value", V1)
    assert error(http.delete("/subjects/payments-value/versions/1?permanent=true"))[:2] == (404, 40407)
    assert http.delete("/subjects/payments-value/versions/latest").json() == 1
    assert error(http.delete("/subjects/payments-value/versions/1"))[:2] == (404, 40406)
    assert error(http.delete("/subjects/payments-value/versions/2"))[:2] == (404, 40402)
    assert http.delete("/subjects/payments-value/versions/1?permanent=true").json() == 1


def test_state_rebuilt_from_the_log(registry: Registry, http: httpx.Client) -> None:
    """Setup: subjects, a per-subject level and a soft delete through the API; then a new store replays
    the same log. Invariant: the same subjects, versions, ids, levels and deletions."""
    register(http, "orders-value", V1)
    register(http, "orders-value", V2)
    register(http, "clicks-value", V2)
    http.put("/config/clicks-value", content=json.dumps({"compatibility": "FULL"}))
    http.delete("/subjects/orders-value/versions/1")
    replayed = SchemaStore(registry.log)
    assert replayed.subjects(deleted=True) == ["clicks-value", "orders-value"]
    assert replayed.versions("orders-value") == [2]
    assert replayed.version("orders-value", 1, deleted=True).deleted
    assert replayed.version("clicks-value", "latest").id == 2
    assert replayed.compatibility("clicks-value") == "FULL"
    assert replayed.register("new-value", json.dumps(NO_DEFAULT)).id == 3


def test_client(registry: Registry) -> None:
    """Setup: streamwise's RegistryClient against the server. Invariant: its calls return the server's
    answers and errors carry Confluent's codes."""
    with RegistryClient(registry.url) as client:
        assert client.register("orders-value", json.dumps(V1)) == 1
        assert client.version("orders-value").id == 1
        assert client.check("orders-value", json.dumps(NO_DEFAULT)).compatible is False
        assert client.compatibility("orders-value") == "BACKWARD"
        with pytest.raises(RegistryError) as caught:
            client.register("orders-value", json.dumps(NO_DEFAULT))
        assert (caught.value.code, caught.value.status) == (409, 409)
    with RegistryClient(f"http://127.0.0.1:{free_port()}") as nobody, pytest.raises(RegistryError) as down:
        nobody.subjects()
    assert "does not answer" in down.value.message and "streamwise registry start" in str(down.value.hint)
