"""The registry's hardened default, request by request: JSON content types only (415), a Host
allow-list and no cross-site writes (421, 403), a body limit enforced while reading (413), a missing or
invalid compatibility level refused (42203), every malformed schema answered with its Confluent code,
bad records in the schemas log skipped, and subjects URL-encoded by the client."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from registry_server import Registry

from streamwise.config import RegistrySettings, load_settings, settings_env
from streamwise.schemas import MemoryLog, RegistryClient, RegistryError, SchemaStore, create_app
from streamwise.schemas.limits import MAX_NESTING

V1 = "application/vnd.schemaregistry.v1+json"
URL = "http://127.0.0.1:8081"  # the default settings' own address
RECORD = {"type": "record", "name": "Order", "fields": [{"name": "id", "type": "string"}]}


def client(settings: RegistrySettings | None = None, store: SchemaStore | None = None) -> TestClient:
    app = create_app(store or SchemaStore(MemoryLog()), settings)
    return TestClient(app, base_url=URL, headers={"Content-Type": V1}, raise_server_exceptions=False)


@pytest.fixture
def http() -> Iterator[TestClient]:
    with client() as c:
        yield c


def answer(response: httpx.Response) -> tuple[int, int | None]:
    """The status and Confluent error code of an answer (None for a success)."""
    body = response.json()
    return response.status_code, body.get("error_code") if isinstance(body, dict) else None


def register_body(schema: Any = RECORD, **extra: Any) -> bytes:
    return json.dumps({"schema": schema if isinstance(schema, str) else json.dumps(schema), **extra}).encode()


# --- content types ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        V1,
        "application/vnd.schemaregistry+json",
        "application/json",
        "application/json; charset=utf-8",
        "application/octet-stream",
    ],
)
def test_json_content_types_are_read(http: TestClient, content_type: str) -> None:
    """Setup: a registration sent with each type Confluent's registry consumes. Invariant: 200 and id 1."""
    response = http.post("/subjects/s/versions", content=register_body(), headers={"Content-Type": content_type})
    assert (response.status_code, response.json()) == (200, {"id": 1})


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml", None],
)
def test_other_content_types_are_refused(http: TestClient, content_type: str | None) -> None:
    """Setup: a valid registration body sent as text, a form (what a browser sends cross-site without
    a preflight), XML, or with no Content-Type at all. Invariant: 415 with error_code 415, nothing stored."""
    headers = {"Content-Type": content_type} if content_type else {}
    request = http.build_request("POST", "/subjects/s/versions", content=register_body(), headers=headers)
    if content_type is None:
        del request.headers["Content-Type"]
    response = http.send(request)
    assert answer(response) == (415, 415)
    assert http.get("/subjects").json() == []


# --- Host allow-list and cross-site writes -----------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1:8081", "localhost:8081", "LOCALHOST:8081"])
def test_own_hosts_are_answered(http: TestClient, host: str) -> None:
    """Setup: the default registry asked under each name it is bound to. Invariant: 200."""
    assert http.get("/subjects", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize("host", ["attacker.example:8081", "attacker.example", "127.0.0.1", "127.0.0.1:9999", ""])
def test_foreign_hosts_are_refused(http: TestClient, host: str) -> None:
    """Setup: requests with a Host the registry is not bound to (a DNS-rebound name, another port, none).
    Invariant: reads and writes both answer 421 with error_code 421; nothing is registered."""
    assert answer(http.get("/subjects", headers={"Host": host})) == (421, 421)
    assert answer(http.post("/subjects/s/versions", content=register_body(), headers={"Host": host})) == (421, 421)
    assert http.get("/subjects").json() == []


def test_allowed_hosts_extend_the_list() -> None:
    """Setup: allowed_hosts names one extra host (without a port: the registry's) and one with a port.
    Invariant: both are answered, a third name still gets 421; ["*"] answers any."""
    settings = RegistrySettings(allowed_hosts=["registry.internal", "proxy.internal:443"])
    with client(settings) as c:
        assert c.get("/subjects", headers={"Host": "registry.internal:8081"}).status_code == 200
        assert c.get("/subjects", headers={"Host": "proxy.internal:443"}).status_code == 200
        assert answer(c.get("/subjects", headers={"Host": "registry.internal:9999"})) == (421, 421)
    with client(RegistrySettings(allowed_hosts=["*"])) as c:
        assert c.get("/subjects", headers={"Host": "anything:1"}).status_code == 200


def test_allowed_hosts_reach_the_registry_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Setup: settings with two allowed hosts turned into the environment the registry's child process
    is started with. Invariant: the child's settings hold the same list, and so the same hosts."""
    parent = load_settings(registry={"allowed_hosts": ["registry.internal", "proxy.internal:443"]})
    for name, value in settings_env(parent).items():
        monkeypatch.setenv(name, value)
    child = load_settings()
    assert child.registry.allowed_hosts == ["registry.internal", "proxy.internal:443"]
    assert child.registry.hosts() == parent.registry.hosts()


@pytest.mark.parametrize(
    "origin", ["http://attacker.example", "http://127.0.0.1:9999", "https://127.0.0.1:8081", "null"]
)
def test_cross_site_writes_are_refused(http: TestClient, origin: str) -> None:
    """Setup: a write carrying a browser's Origin from another site (or port, or scheme, or an opaque
    'null' origin). Invariant: 403 with error_code 40301 for POST, PUT and DELETE; nothing changes."""
    headers = {"Origin": origin}
    assert answer(http.post("/subjects/s/versions", content=register_body(), headers=headers)) == (403, 40301)
    assert answer(http.put("/config", content=b'{"compatibility": "NONE"}', headers=headers)) == (403, 40301)
    assert answer(http.delete("/subjects/s", headers=headers)) == (403, 40301)
    assert http.get("/subjects").json() == []
    assert http.get("/config").json() == {"compatibilityLevel": "BACKWARD"}


def test_same_origin_writes_and_foreign_origin_reads_pass(http: TestClient) -> None:
    """Setup: a write whose Origin is the registry itself, a read with a foreign Origin. Invariant: both
    answer 200 (reads are guarded by the Host check: a rebound page sends a foreign Host)."""
    response = http.post("/subjects/s/versions", content=register_body(), headers={"Origin": URL})
    assert response.json() == {"id": 1}
    assert http.get("/subjects", headers={"Origin": "http://attacker.example"}).json() == ["s"]


# --- body size ----------------------------------------------------------------------------------


def test_declared_large_body_is_refused(http: TestClient) -> None:
    """Setup: a registration whose body is 1 byte over the default 1 MiB limit. Invariant: 413 with
    error_code 413; nothing stored. A body just under the limit is read (its schema is then judged)."""
    limit = RegistrySettings().max_body_bytes
    big = register_body({**RECORD, "doc": "x" * limit})
    assert answer(http.post("/subjects/s/versions", content=big)) == (413, 413)
    fits = register_body({**RECORD, "doc": "x" * (limit - 200)})
    assert len(fits) <= limit
    assert http.post("/subjects/s/versions", content=fits).status_code == 200


def _raw_exchange(port: int, head: bytes, body_parts: list[bytes]) -> bytes:
    """Send a request head and body parts over a socket, without ever ending the body, and read the
    first answer the server gives."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        for part in body_parts:
            sock.sendall(part)
        reply = b""
        while b"\r\n\r\n" not in reply or len(reply.partition(b"\r\n\r\n")[2]) < _length(reply):
            data = sock.recv(4096)
            if not data:
                break
            reply += data
        return reply


def _length(reply: bytes) -> int:
    for line in reply.partition(b"\r\n\r\n")[0].split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def test_body_limit_is_enforced_while_reading() -> None:
    """Setup: a registry with a 4 KiB limit over real HTTP; (a) a chunked body with no Content-Length,
    (b) a Content-Length of a terabyte; neither body is ever finished by the client. Invariant: the
    server answers 413 (error_code 413) before the body ends, so it never waited to hold it whole."""
    with Registry(max_body_bytes=4096) as registry:
        host = f"127.0.0.1:{registry.port}".encode()
        chunk = b"%x\r\n%s\r\n" % (2048, b" " * 2048)
        chunked = (
            b"POST /subjects/s/versions HTTP/1.1\r\nHost: " + host + b"\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        reply = _raw_exchange(registry.port, chunked, [chunk] * 4)  # 8 KiB sent, no closing 0-chunk
        assert reply.startswith(b"HTTP/1.1 413 "), reply[:80]
        assert b'"error_code":413' in reply
        declared = (
            b"POST /subjects/s/versions HTTP/1.1\r\nHost: " + host + b"\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000000000000\r\n\r\n"
        )
        reply = _raw_exchange(registry.port, declared, [b"{"])
        assert reply.startswith(b"HTTP/1.1 413 "), reply[:80]
        assert RegistryClient(registry.url).subjects() == []


# --- compatibility levels -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{}",
        b'{"compatibility": null}',
        b'{"compatibility": 5}',
        b'{"compatibility": ""}',
        b'{"compatibility": "bogus"}',
        b'{"level": "NONE"}',
    ],
)
@pytest.mark.parametrize("path", ["/config", "/config/orders-value"])
def test_invalid_compatibility_is_refused(http: TestClient, path: str, body: bytes) -> None:
    """Setup: PUT /config (global and per subject) with no level, a null, a number, an empty string, an
    unknown level or the wrong key. Invariant: 422 with error_code 42203, and the level in force stays
    BACKWARD (a missing level is never read as NONE)."""
    assert answer(http.put(path, content=body)) == (422, 42203)
    assert http.get("/config").json() == {"compatibilityLevel": "BACKWARD"}
    assert answer(http.get("/config/orders-value")) == (404, 40408)


def test_valid_compatibility_in_any_case(http: TestClient) -> None:
    """Setup: a level in lower case with spaces. Invariant: accepted and answered upper case."""
    assert http.put("/config", content=b'{"compatibility": " full_transitive "}').json() == {
        "compatibility": "FULL_TRANSITIVE"
    }


# --- malformed schemas --------------------------------------------------------------------------

DEEP = "[" * 100_000 + "]" * 100_000
DEEP_RECORD: Any = "int"
for _ in range(MAX_NESTING + 1):
    DEEP_RECORD = {"type": "array", "items": DEEP_RECORD}
DEEP_PROPERTIES: Any = {}
for _ in range(MAX_NESTING + 1):
    DEEP_PROPERTIES = {"type": "object", "properties": {"a": DEEP_PROPERTIES}}


def json_schema(schema: Any) -> dict[str, Any]:
    return {"schemaType": "JSON", "schema": schema if isinstance(schema, str) else json.dumps(schema)}


def avro_schema(schema: Any) -> dict[str, Any]:
    return {"schema": schema if isinstance(schema, str) else json.dumps(schema)}


REF = {"name": "Base", "subject": "base-value", "version": 1}
# (case, body, status, error_code): what Confluent answers for each, from the docs' error codes.
MALFORMED: list[tuple[str, Any, int, int]] = [
    ("json: $ref to itself", json_schema({"$ref": "#"}), 422, 42201),
    (
        "json: $ref cycle",
        json_schema(
            {
                "definitions": {"a": {"$ref": "#/definitions/b"}, "b": {"$ref": "#/definitions/a"}},
                "$ref": "#/definitions/a",
            }
        ),
        422,
        42201,
    ),
    ("json: $ref nowhere", json_schema({"properties": {"a": {"$ref": "#/definitions/x"}}}), 422, 42201),
    ("json: $ref at a list", json_schema({"required": ["a"], "properties": {"a": {"$ref": "#/required"}}}), 422, 42201),
    ("json: $ref not a string", json_schema({"$ref": 5}), 422, 42201),
    ("json: 100k levels of lists", json_schema(DEEP), 422, 42201),
    ("json: 201 levels of properties", json_schema(DEEP_PROPERTIES), 422, 42201),
    ("json: type 5", json_schema({"type": 5}), 422, 42201),
    ("json: type an object", json_schema({"type": {}}), 422, 42201),
    ("json: type unknown", json_schema({"type": "text"}), 422, 42201),
    ("json: properties a list", json_schema({"properties": []}), 422, 42201),
    ("json: property not a schema", json_schema({"properties": {"a": 5}}), 422, 42201),
    ("json: required not names", json_schema({"required": [1]}), 422, 42201),
    ("json: enum not a list", json_schema({"enum": 5}), 422, 42201),
    ("json: maximum a string", json_schema({"maximum": "10"}), 422, 42201),
    ("json: definitions a list", json_schema({"definitions": []}), 422, 42201),
    ("json: items a number", json_schema({"items": 5}), 422, 42201),
    ("json: not JSON", json_schema("{"), 422, 42201),
    (
        "avro: default of the wrong type",
        avro_schema({"type": "record", "name": "R", "fields": [{"name": "a", "type": "int", "default": "x"}]}),
        422,
        42201,
    ),
    (
        "avro: unknown type",
        avro_schema({"type": "record", "name": "R", "fields": [{"name": "a", "type": "Nope"}]}),
        422,
        42201,
    ),
    ("avro: fields not a list", avro_schema({"type": "record", "name": "R", "fields": 5}), 422, 42201),
    ("avro: 100k levels of lists", avro_schema(DEEP), 422, 42201),
    ("avro: 201 nested arrays", avro_schema(DEEP_RECORD), 422, 42201),
    ("avro: empty text", avro_schema(""), 422, 42201),
    ("schema: a number", {"schema": 5}, 422, 42201),
    ("schema: an object", {"schema": RECORD}, 422, 42201),
    ("schema: missing", {}, 422, 42201),
    ("schemaType: a number", {"schema": '"string"', "schemaType": 5}, 422, 42201),
    ("schemaType: unknown", {"schema": '"string"', "schemaType": "PROTOBUF"}, 422, 42201),
    ("references: a number", {**avro_schema("string"), "references": 5}, 422, 42201),
    ("references: a string", {**avro_schema("string"), "references": "base"}, 422, 42201),
    ("references: item a number", {**avro_schema("string"), "references": [5]}, 422, 42201),
    ("references: no subject", {**avro_schema("string"), "references": [{"name": "B", "version": 1}]}, 422, 42201),
    (
        "references: no version",
        {**avro_schema("string"), "references": [{"name": "B", "subject": "base-value"}]},
        422,
        42201,
    ),
    ("references: version a string", {**avro_schema("string"), "references": [{**REF, "version": "1"}]}, 422, 42201),
    ("references: no name", {**avro_schema("string"), "references": [{**REF, "name": ""}]}, 422, 42201),
    ("references: to itself", {**avro_schema("string"), "references": [{**REF, "subject": "s"}]}, 422, 42201),
    ("references: unknown subject", {**avro_schema("string"), "references": [{**REF, "subject": "nope"}]}, 422, 42201),
    ("references: unknown version", {**avro_schema("string"), "references": [{**REF, "version": 9}]}, 422, 42201),
    ("references: well formed", {**avro_schema("string"), "references": [REF]}, 422, 42201),
    ("body: a list", [1], 422, 422),
    ("body: not JSON", "{", 400, 400),
    ("body: 200k levels of lists", "[" * 200_000 + "]" * 200_000, 400, 400),
]


@pytest.mark.parametrize(("case", "body", "status", "code"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_schemas_get_confluent_codes(http: TestClient, case: str, body: Any, status: int, code: int) -> None:
    """Setup: subject base-value holds one schema; each malformed registration in the table is sent to
    register, to lookup and to the compatibility check. Invariant: each answers the table's status and
    error code (never a 500), and nothing new is registered."""
    assert http.post("/subjects/base-value/versions", content=register_body()).json() == {"id": 1}
    content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    assert answer(http.post("/subjects/s/versions", content=content)) == (status, code), case
    if "references" not in case:  # lookup and checks take no references
        assert answer(http.post("/subjects/base-value", content=content)) == (status, code), case
        assert answer(http.post("/compatibility/subjects/base-value/versions/latest", content=content)) == (
            status,
            code,
        ), case
    assert http.get("/subjects").json() == ["base-value"]


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/subjects/base-value/versions/abc", 422, 42202),
        ("/subjects/base-value/versions/0", 422, 42202),
        ("/subjects/base-value/versions/2147483648", 422, 42202),
        ("/subjects/base-value/versions/7", 404, 40402),
        ("/subjects/nope/versions/1", 404, 40401),
        ("/schemas/ids/99", 404, 40403),
    ],
)
def test_bad_versions_and_ids(http: TestClient, path: str, status: int, code: int) -> None:
    """Setup: one registered version. Invariant: an invalid version 42202, a missing one 40402, an
    unknown subject 40401, an unknown schema id 40403."""
    http.post("/subjects/base-value/versions", content=register_body())
    assert answer(http.get(path)) == (status, code)


def test_recursive_json_schemas_evolve() -> None:
    """Setup: a JSON Schema tree whose child is itself ($ref '#'), evolved twice. Invariant: the
    compatibility check ends (a recursion is compared once) and still finds a narrowed type inside."""
    store = SchemaStore(MemoryLog())

    def tree(**props: Any) -> str:
        properties = {"name": {"type": "string"}, "child": {"$ref": "#"}, **props}
        return json.dumps({"type": "object", "properties": properties, "additionalProperties": False})

    assert store.register("tree", tree(), "JSON").version == 1
    assert store.register("tree", tree(size={"type": "integer"}), "JSON").version == 2
    with pytest.raises(RegistryError) as refused:
        store.register("tree", tree(size={"type": "integer"}, name={"type": "integer"}), "JSON")
    assert refused.value.code == 409
    assert "TYPE_NARROWED" in refused.value.message


def test_tuple_items_are_compared_as_text() -> None:
    """Setup: an array schema with one item schema, then one with a list of item schemas (tuple
    validation) under BACKWARD. Invariant: the change is refused with 409 naming SCHEMA_CHANGED at
    items, not a server error; the same list again is accepted."""
    store = SchemaStore(MemoryLog())
    store.register("arr", json.dumps({"type": "array", "items": {"type": "integer"}}), "JSON")
    tuple_items = json.dumps({"type": "array", "items": [{"type": "string"}]})
    with pytest.raises(RegistryError) as refused:
        store.register("arr", tuple_items, "JSON")
    assert refused.value.code == 409
    assert "SCHEMA_CHANGED" in refused.value.message and "/items" in refused.value.message
    store.set_compatibility("NONE", "arr")
    assert store.register("arr", tuple_items, "JSON").version == 2
    store.set_compatibility("BACKWARD", "arr")
    assert store.register("arr", tuple_items, "JSON").version == 2


# --- the schemas log ----------------------------------------------------------------------------


def _key(**key: Any) -> bytes:
    return json.dumps(key).encode()


def test_malformed_log_records_are_skipped(caplog: pytest.LogCaptureFixture) -> None:
    """Setup: a log of good records with malformed ones between them: not JSON, a list, an unknown
    keytype, a schema record without an id, a version that is a string, no key, a config with an
    unknown level, a value that is not an object, a schema that does not parse. Invariant: the store
    starts, serves exactly the good records, and logs one WARNING per bad record naming its offset;
    Confluent's NOOP keys pass silently."""
    log = MemoryLog()
    good = {"subject": "a", "version": 1, "id": 1, "schema": '"string"', "deleted": False}
    log.records = [
        (_key(keytype="SCHEMA", subject="a", version=1, magic=1), json.dumps(good).encode()),  # 0
        (b"not json", b"{}"),  # 1
        (b"[1, 2]", b"{}"),  # 2
        (_key(keytype="WHATEVER"), b"{}"),  # 3
        (_key(keytype="SCHEMA", subject="b", version=1), b'{"schema": "\\"int\\""}'),  # 4
        (_key(keytype="SCHEMA", subject="b", version="1"), json.dumps({**good, "subject": "b"}).encode()),  # 5
        (None, b"{}"),  # 6
        (_key(keytype="CONFIG", subject="a"), b'{"compatibilityLevel": "SOMETIMES"}'),  # 7
        (_key(keytype="CONFIG", subject=None), b'"FULL"'),  # 8
        (_key(keytype="NOOP", magic=0), None),  # 9
        (_key(keytype="CONFIG", subject=None), b'{"compatibilityLevel": "FULL"}'),  # 10
        (_key(keytype="SCHEMA", subject="c", version=1), json.dumps({**good, "subject": "c", "id": 2, "schema": '"int"'}).encode()),  # 11
        (_key(keytype="SCHEMA", subject="e", version=1), json.dumps({**good, "subject": "e", "id": 9, "schema": '{"type": "nope"}'}).encode()),  # 12
    ]  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="streamwise.schemas.store"):
        store = SchemaStore(log)
    assert store.subjects() == ["a", "c"]
    assert store.version("c", 1).schema == '"int"'
    assert store.compatibility() == "FULL"
    assert store.compatibility("a", default_to_global=True) == "FULL"
    skipped = sorted(int(r.getMessage().split("offset ")[1].split(":")[0]) for r in caplog.records)
    assert skipped == [1, 2, 3, 4, 5, 6, 7, 8, 12]
    assert all(r.levelno == logging.WARNING for r in caplog.records)
    assert store.register("d", '"long"').id == 3  # ids go on after the highest good one


# --- the client ---------------------------------------------------------------------------------

AWKWARD = ["team/orders-value", "what?-value", "a#b", "with space", "100%", "x%2Fy", "../config", "ünïcode"]


def test_client_encodes_subjects() -> None:
    """Setup: subjects holding '/', '?', '#', a space, '%', an already-encoded '%2F', '../' and
    non-ASCII, each registered, read, looked up, checked, configured and deleted through RegistryClient
    over real HTTP. Invariant: every name round-trips exactly and stays one subject of its own."""
    with Registry() as registry, RegistryClient(registry.url) as c:
        for i, subject in enumerate(AWKWARD):
            schema = json.dumps({**RECORD, "name": f"R{i}"})
            schema_id = c.register(subject, schema)
            assert c.versions(subject) == [1]
            assert c.version(subject).subject == subject
            assert c.version(subject, 1).id == schema_id
            assert c.lookup(subject, schema).subject == subject
            assert c.check(subject, schema).compatible
            assert c.set_compatibility("full", subject) == "FULL"
            assert c.compatibility(subject) == "FULL"
        assert c.subjects() == sorted(AWKWARD)
        assert c.compatibility() == "BACKWARD"  # '../config' configured itself, not the global level
        for subject in AWKWARD:
            assert c.delete_subject(subject) == [1]
        assert c.subjects() == []
