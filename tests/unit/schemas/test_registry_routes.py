"""The registry's routers as mounted by create_app, in process (no server): each resource answers with
the registry media type, state is per app rather than per router, and the shared request and error paths
keep Confluent's shape."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from streamwise.schemas import MemoryLog, SchemaStore, create_app

MEDIA_TYPE = "application/vnd.schemaregistry.v1+json"
V1 = json.dumps({"type": "record", "name": "Order", "fields": [{"name": "id", "type": "string"}]})
NO_DEFAULT = json.dumps(
    {
        "type": "record",
        "name": "Order",
        "fields": [{"name": "id", "type": "string"}, {"name": "email", "type": "string"}],
    }
)


def client_over(store: SchemaStore) -> TestClient:
    # The default registry's own address: it answers no other Host (TestClient's is 'testserver').
    return TestClient(create_app(store), base_url="http://127.0.0.1:8081", headers={"Content-Type": MEDIA_TYPE})


@pytest.fixture
def http() -> Iterator[TestClient]:
    with client_over(SchemaStore(MemoryLog())) as client:
        yield client


def test_every_router_is_mounted_with_the_media_type(http: TestClient) -> None:
    """Setup: a fresh registry; one read per resource. Invariant: each answers 200, Confluent's empty
    answer, and the registry media type."""
    expected = {
        "/": {},
        "/mode": {"mode": "READWRITE"},
        "/mode/orders-value": {"mode": "READWRITE"},
        "/schemas/types": ["AVRO", "JSON"],
        "/schemas": [],
        "/subjects": [],
        "/config": {"compatibilityLevel": "BACKWARD"},
    }
    for path, body in expected.items():
        answer = http.get(path)
        assert (answer.status_code, answer.headers["content-type"], answer.json()) == (200, MEDIA_TYPE, body), path
    checked = http.post("/compatibility/subjects/new-value/versions/latest?verbose=true", json={"schema": V1})
    assert checked.json() == {"is_compatible": True, "messages": []}


def test_apps_over_different_stores_share_nothing() -> None:
    """Setup: two apps built from the same module-level routers over two stores; a schema registered in
    one. Invariant: the other neither lists nor serves it (the store reaches routes through app.state)."""
    with client_over(SchemaStore(MemoryLog())) as first, client_over(SchemaStore(MemoryLog())) as second:
        assert first.post("/subjects/orders-value/versions", json={"schema": V1}).json() == {"id": 1}
        assert first.get("/subjects").json() == ["orders-value"]
        assert second.get("/subjects").json() == []
        assert second.get("/schemas/ids/1").json()["error_code"] == 40403


def test_shared_body_and_error_paths(http: TestClient) -> None:
    """Setup: bodies that are not JSON objects, a query flag that is not a boolean, a soft-deleted subject.
    Invariant: Confluent's error shape with the registry media type, and deleted_only / referencedby answer
    as Confluent does."""
    bad_json = http.post("/subjects/orders-value/versions", content="{bad")
    assert (bad_json.status_code, bad_json.json()["error_code"]) == (400, 400)
    assert bad_json.headers["content-type"] == MEDIA_TYPE
    not_object = http.post("/subjects/orders-value/versions", content="[1]")
    assert not_object.json() == {"error_code": 422, "message": "The request body must be a JSON object"}
    not_bool = http.get("/subjects?deleted=maybe")
    assert (not_bool.status_code, not_bool.json()["error_code"]) == (422, 422)
    assert not_bool.json()["message"].startswith("Unprocessable request: query.deleted:")
    http.post("/subjects/orders-value/versions", json={"schema": V1})
    http.post("/subjects/clicks-value/versions", json={"schema": NO_DEFAULT})
    assert http.get("/subjects/orders-value/versions/1/referencedby").json() == []
    assert http.delete("/subjects/orders-value").json() == [1]
    assert http.get("/subjects?deleted_only=true").json() == ["orders-value"]
    wrong_method = http.patch("/subjects")
    assert wrong_method.json() == {"error_code": 405, "message": "HTTP 405 Method Not Allowed"}
