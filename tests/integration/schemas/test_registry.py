"""The schema registry as a real process on the real broker: evolution rules over HTTP, state that
survives a restart, confluent-kafka's own clients against it, the CLI's CI gate, and Spark decoding
every writer version of a topic into one evolved table, with undecodable records in the DLQ."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pandas as pd
import pytest
from cli_process import child_env, run_streamwise
from confluent_kafka import Producer
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer as ConfluentDeserializer
from confluent_kafka.schema_registry.avro import AvroSerializer as ConfluentSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from streamwise.config import Settings
from streamwise.pipeline import await_queries, decode
from streamwise.pipeline.avro import SubjectSchemas, decode_avro
from streamwise.pipeline.decode import KAFKA_COLUMNS
from streamwise.platform.topics import create_topic, describe_topic, read_to_end
from streamwise.schemas import (
    AvroDeserializer,
    AvroSerializer,
    RegistryClient,
    frame,
    start_registry,
    stop_registry,
)
from streamwise.schemas.service import registry_service


def avro(*fields: tuple[str, object] | tuple[str, object, object]) -> str:
    """A PageView record schema from (name, type[, default]) tuples."""
    out = [{"name": f[0], "type": f[1], **({"default": f[2]} if len(f) == 3 else {})} for f in fields]
    return json.dumps({"type": "record", "name": "PageView", "namespace": "streamwise.clickstream", "fields": out})


V1 = avro(("user_id", "string"), ("page", "string"), ("event_time", "long"))
V2 = avro(
    ("user_id", "string"),
    ("page", "string"),
    ("event_time", "long"),
    ("referrer", ["null", "string"], None),
    ("duration_ms", "long", -1),
)
V3_NO_DEFAULT = avro(
    ("user_id", "string"),
    ("page", "string"),
    ("event_time", "long"),
    ("referrer", ["null", "string"], None),
    ("duration_ms", "long", -1),
    ("email", "string"),
)
V3_EMAIL_DEFAULT = avro(
    ("user_id", "string"),
    ("page", "string"),
    ("event_time", "long"),
    ("referrer", ["null", "string"], None),
    ("duration_ms", "long", -1),
    ("email", "string", ""),
)
V3_WITHOUT_PAGE = avro(
    ("user_id", "string"), ("event_time", "long"), ("referrer", ["null", "string"], None), ("duration_ms", "long", -1)
)


@pytest.fixture(scope="session")
def registry_settings(settings: Settings) -> Settings:
    """The test settings; their registry port is a free one (never 8081)."""
    return settings


@pytest.fixture(scope="session")
def registry(schema_registry: str) -> str:
    """The session's registry process (streamwise.testing's ``schema_registry``, shared with the other
    tests: one registry per state folder). Its URL."""
    return schema_registry


def register(url: str, subject: str, schema: str) -> httpx.Response:
    body = json.dumps({"schema": schema})
    headers = {"Content-Type": "application/vnd.schemaregistry.v1+json"}
    return httpx.post(f"{url}/subjects/{subject}/versions", content=body, headers=headers, timeout=10)


def test_evolution_rules(registry: str, topic_name: str) -> None:
    """Setup: v1, v2 (adds fields with defaults), v3 adding 'email' without a default under BACKWARD,
    then the subject set to FORWARD and a version dropping 'page' (no default in v2).
    Invariant: v1 and v2 accepted with ids; both bad versions get HTTP 409 naming the field and the
    rule; the subject keeps exactly versions [1, 2]."""
    subject = f"{topic_name}-value"
    first, second = register(registry, subject, V1), register(registry, subject, V2)
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json()["id"] == first.json()["id"] + 1
    added = register(registry, subject, V3_NO_DEFAULT)
    assert (added.status_code, added.json()["error_code"]) == (409, 409)
    assert (
        "field 'email' was added without a default: readers of the new schema cannot read data written with version 2"
    ) in added.json()["message"]
    forward = httpx.put(f"{registry}/config/{subject}", json={"compatibility": "FORWARD"}, timeout=10)
    assert forward.json() == {"compatibility": "FORWARD"}
    removed = register(registry, subject, V3_WITHOUT_PAGE)
    assert removed.status_code == 409
    assert (
        "field 'page' was removed, and version 2 has no default for it: readers of version 2 cannot read "
        "data written with the new schema"
    ) in removed.json()["message"]
    assert httpx.get(f"{registry}/subjects/{subject}/versions", timeout=10).json() == [1, 2]


def test_restart_keeps_ids(registry_settings: Settings, registry: str, topic_name: str) -> None:
    """Setup: two subjects registered, a soft delete and a subject level; the registry process is
    stopped by pid and started again. Invariant: state rebuilt from the compacted topic: same ids,
    versions, schema texts, deletions and levels; the next new schema gets a fresh id."""
    a, b = f"{topic_name}-a", f"{topic_name}-b"
    with RegistryClient(registry) as client:
        ids = [client.register(a, V1), client.register(a, V2), client.register(b, V2)]
        client.set_compatibility("FULL", b)
        client._call("DELETE", f"/subjects/{a}/versions/1")
        before = httpx.get(f"{registry}/schemas", params={"deleted": "true"}, timeout=10).json()
    old_pid = registry_service(registry_settings).process().pid
    assert stop_registry(registry_settings) is True
    new_pid = start_registry(registry_settings)
    assert new_pid != old_pid
    with RegistryClient(registry) as client:
        assert httpx.get(f"{registry}/schemas", params={"deleted": "true"}, timeout=10).json() == before
        assert [client.version(a, 2).id, client.version(b, 1).id] == ids[1:]
        assert client.versions(a) == [2] and client.versions(a, deleted=True) == [1, 2]
        assert client.schema(ids[0]) == json.dumps(json.loads(V1), separators=(",", ":"))
        assert client.compatibility(b) == "FULL"
        assert client.register(b, V3_EMAIL_DEFAULT) == max(v["id"] for v in before) + 1
    configs = describe_topic(registry_settings.kafka, registry_settings.registry.topic).configs
    assert configs["cleanup.policy"] == "compact"


def test_confluent_clients(registry_settings: Settings, registry: str, topic_name: str) -> None:
    """Setup: confluent-kafka's SchemaRegistryClient, AvroSerializer and AvroDeserializer against the
    registry, next to streamwise's own serde. Invariant: registration, lookups, levels and the
    compatibility test work; bytes from either serializer decode with either deserializer."""
    sr = SchemaRegistryClient(registry_settings.registry.client_config())
    subject = f"{topic_name}-value"
    ctx = SerializationContext(topic_name, MessageField.VALUE)
    v1_id = sr.register_schema(subject, Schema(V1, "AVRO"))
    assert sr.get_latest_version(subject).schema_id == v1_id
    assert sr.lookup_schema(subject, Schema(V1, "AVRO")).version == 1
    assert sr.get_compatibility() == "BACKWARD"
    assert sr.test_compatibility(subject, Schema(V3_NO_DEFAULT, "AVRO")) is False
    assert sr.get_subjects().count(subject) == 1

    confluent_bytes = ConfluentSerializer(sr, V2)(
        {"user_id": "u1", "page": "/a", "event_time": 1, "referrer": "ad", "duration_ms": 7}, ctx
    )
    v2_id = sr.lookup_schema(subject, Schema(V2, "AVRO")).schema_id  # get_latest_version is cached
    assert confluent_bytes[:5] == b"\x00" + v2_id.to_bytes(4, "big")
    with RegistryClient(registry) as client:
        ours = AvroDeserializer(client.schema, reader=V2)
        assert ours(confluent_bytes) == {
            "user_id": "u1",
            "page": "/a",
            "event_time": 1,
            "referrer": "ad",
            "duration_ms": 7,
        }
    our_bytes = AvroSerializer(v1_id, V1)({"user_id": "u2", "page": "/b", "event_time": 2})
    assert ConfluentDeserializer(sr)(our_bytes, ctx) == {"user_id": "u2", "page": "/b", "event_time": 2}
    sr.set_compatibility(subject, "NONE")
    assert sr.get_compatibility(subject) == "NONE"
    assert sr.delete_subject(subject) == [1, 2]


def test_schema_check_cli_gate(registry: str, topic_name: str, tmp_path: Path) -> None:
    """Setup: a subject at v1; a folder with a compatible v2 file, an incompatible file of another
    subject at v1, and a file of an unregistered subject; `streamwise schema check DIR`.
    Invariant: exit 1, the bad file named with the field and rule; exit 0 once the bad file is gone."""
    good, bad = f"{topic_name}-good", f"{topic_name}-bad"
    with RegistryClient(registry) as client:
        client.register(good, V1)
        client.register(bad, V1)
    (tmp_path / f"{good}.avsc").write_text(V2)
    (tmp_path / f"{bad}.avsc").write_text(V3_NO_DEFAULT)
    (tmp_path / f"{topic_name}-new.avsc").write_text(V1)
    check = ("schema", "check", str(tmp_path), "--registry", registry)
    failing = run_streamwise(child_env(), *check)
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert f"✗ {tmp_path / f'{bad}.avsc'}: incompatible with {bad} version 1 (BACKWARD)" in failing.stdout
    assert (
        "field 'email' was added without a default: readers of the new schema cannot read data written with "
        "version 1 [READER_FIELD_MISSING_DEFAULT_VALUE]"
    ) in failing.stdout
    assert f"✓ {tmp_path / f'{good}.avsc'}: compatible with {good} version 1 (BACKWARD)" in failing.stdout
    assert f"{topic_name}-new is not registered yet (new subject)" in failing.stdout
    (tmp_path / f"{bad}.avsc").unlink()
    passing = run_streamwise(child_env(), *check)
    assert passing.returncode == 0, passing.stdout + passing.stderr


T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z in epoch millis


def produce(settings: Settings, topic: str, values: list[bytes]) -> None:
    """Produce in order (one partition keeps offsets = list positions), every record acknowledged."""
    producer = Producer(settings.kafka.client_config(**{"enable.idempotence": True, "linger.ms": 5}))
    for i, value in enumerate(values):
        producer.produce(topic, value, f"k{i}".encode())
        producer.poll(0)
    assert producer.flush(30) == 0


def test_spark_reads_v1_and_v2_as_one_evolved_table(
    spark, registry_settings: Settings, registry: str, topic_name: str
) -> None:
    """Setup: 600 records on a 2-partition topic, alternating v1 (confluent-kafka's AvroSerializer) and
    v2 (streamwise's serializer, adds 'referrer' default null and 'duration_ms' default -1); decoded by
    a batch Kafka read with the subject's schemas. Invariant: exactly 600 rows in the v2 shape, equal to
    the produced records, v1 rows with v2's defaults; no dead letters; parse_json's column layout."""
    create_topic(registry_settings.kafka, topic_name, partitions=2)
    subject = f"{topic_name}-value"
    sr = SchemaRegistryClient(registry_settings.registry.client_config())
    ctx = SerializationContext(topic_name, MessageField.VALUE)
    v1 = ConfluentSerializer(sr, V1)
    values, expected = [], []
    for i in range(0, 600, 2):
        row = {"user_id": f"u{i:03d}", "page": f"/p{i % 7}", "event_time": T0 + i}
        values.append(v1(row, ctx))
        expected.append({**row, "referrer": None, "duration_ms": -1})
    with RegistryClient(registry) as client:
        v2 = AvroSerializer(client.register(subject, V2), V2)
    for i in range(1, 600, 2):
        row = {
            "user_id": f"u{i:03d}",
            "page": f"/p{i % 7}",
            "event_time": T0 + i,
            "referrer": None if i % 3 else f"r{i}",
            "duration_ms": i * 10,
        }
        values.append(v2(row))
        expected.append(row)
    produce(registry_settings, topic_name, values)

    raw = (
        spark.read.format("kafka")
        .options(**registry_settings.kafka.spark_options())
        .option("subscribe", topic_name)
        .option("startingOffsets", "earliest")
        .option("endingOffsets", "latest")
        .load()
    )
    parsed = decode_avro(raw, SubjectSchemas.from_registry(registry, subject))
    assert parsed.columns == [
        *KAFKA_COLUMNS,
        "user_id",
        "page",
        "referrer",
        "duration_ms",
        "event_time",
        "dead_letter_reason",
    ]
    from pyspark.sql import functions as F

    got = (
        decode.valid(parsed)
        .select("user_id", "page", F.unix_millis("event_time").alias("event_time"), "referrer", "duration_ms")
        .toPandas()
    )
    want = pd.DataFrame(expected)[["user_id", "page", "event_time", "referrer", "duration_ms"]]
    assert len(got) == 600
    pd.testing.assert_frame_equal(
        got.sort_values("user_id").reset_index(drop=True),
        want.sort_values("user_id").reset_index(drop=True),
        check_dtype=False,
    )
    assert decode.dead_letters(parsed).count() == 0


def corrupt(kind: int, good: bytes, subject: str, schema_id: int) -> tuple[bytes, str]:
    """One of four corruptions of a valid record, with the reason the DLQ must carry."""
    if kind == 0:
        return b'{"user_id": "u1"}', "wrong magic byte 0x7b (expected 0x00, Confluent wire format)"
    if kind == 1:
        return frame(999_999, good[5:]), f"unknown schema id 999999 for subject {subject}"
    if kind == 2:
        return good[: 5 + (len(good) - 5) // 2], f"truncated or undecodable Avro body for schema id {schema_id}"
    return good[:3], "truncated: 3 bytes, shorter than the 5-byte Confluent header"


def test_corrupted_records_reach_the_dead_letter_topic(
    spark, registry_settings: Settings, registry: str, topic_name: str
) -> None:
    """Setup: 2,000 records on one partition, valid v1 records interleaved with 1,000 corrupted ones
    (250 each: wrong magic byte, unknown schema id, body cut in half, 3-byte value); a streaming
    query (availableNow) writes decoded rows to Parquet and dead letters to <topic>.dlq.
    Invariant: the queries finish; every valid record is in the output exactly once; every corrupted
    record is in the DLQ exactly once with its original bytes, source offset and exact reason."""
    kafka = registry_settings.kafka
    create_topic(kafka, topic_name, partitions=1)
    create_topic(kafka, f"{topic_name}.dlq", partitions=1)
    subject = f"{topic_name}-value"
    with RegistryClient(registry) as client:
        schema_id = client.register(subject, V1)
    serialize = AvroSerializer(schema_id, V1)
    values, valid, bad = [], {}, {}
    for offset in range(2000):
        good = serialize({"user_id": f"u{offset:04d}", "page": "/a", "event_time": T0 + offset})
        if offset % 2 == 0:
            values.append(good)
            valid[offset] = f"u{offset:04d}"
        else:
            value, reason = corrupt((offset // 2) % 4, good, subject, schema_id)
            values.append(value)
            bad[offset] = (value, reason)
    produce(registry_settings, topic_name, values)

    source = (
        spark.readStream.format("kafka")
        .options(**kafka.spark_options())
        .option("subscribe", topic_name)
        .option("startingOffsets", "earliest")
        .load()
    )
    parsed = decode_avro(source, SubjectSchemas.from_registry(registry, subject))
    root = registry_settings.state / "registry-tests" / topic_name
    rows = (
        decode.valid(parsed)
        .writeStream.format("parquet")
        .option("checkpointLocation", str(root / "cp-rows"))
        .trigger(availableNow=True)
        .start(str(root / "rows"))
    )
    letters = (
        decode.dead_letters(parsed)
        .writeStream.format("kafka")
        .options(**kafka.spark_options())
        .option("topic", f"{topic_name}.dlq")
        .option("checkpointLocation", str(root / "cp-dlq"))
        .trigger(availableNow=True)
        .start()
    )
    await_queries([rows, letters])

    out = spark.read.parquet(str(root / "rows")).select("kafka_offset", "user_id").toPandas()
    assert dict(zip(out["kafka_offset"], out["user_id"], strict=True)) == valid and len(out) == 1000

    got: dict[int, tuple[bytes, str]] = {}
    for msg in read_to_end(kafka, f"{topic_name}.dlq"):
        headers = {k: v.decode() for k, v in msg.headers()}
        assert headers["dlq.source.topic"] == topic_name
        offset = int(headers["dlq.source.offset"])
        assert offset not in got, f"offset {offset} dead-lettered twice"
        got[offset] = (msg.value(), headers["dlq.reason"])
    assert got == bad
