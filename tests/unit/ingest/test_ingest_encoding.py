"""Column-wise encoding: byte-for-byte what fastavro writes per record (Avro) and valid JSON that
decodes to the same record, for every scenario and for a schema of every supported type; and the
ground truth written beside a run reads back as sent."""

from __future__ import annotations

import base64
import io
import json
import math
from pathlib import Path

import fastavro
import numpy as np
import pyarrow as pa
import pytest

from streamwise.ingest import scenario as registry
from streamwise.ingest.disorder import Disorder
from streamwise.ingest.encoding import Encoder, varints
from streamwise.ingest.exceptions import EventSchemaError
from streamwise.ingest.truth import GroundTruthWriter, read_ground_truth

NOW = 1_800_000_000_000


def avro_bytes(schema: dict, row: dict) -> bytes:
    plain = json.loads(json.dumps(schema).replace('"logicalType"', '"x-logical"'))  # compare raw longs
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(plain), row)
    return out.getvalue()


@pytest.mark.parametrize("name", registry.names())
def test_scenario_records_encode_like_fastavro_and_json(name: str) -> None:
    """Setup: 2,000 events of the scenario. Invariant: each Avro value equals fastavro's encoding
    of the same record, and each JSON value parses to the record."""
    generator = registry.create(name, seed=2)
    batch = generator.batch(2_000, NOW)
    rows = batch.data.to_pylist()
    for value, row in zip(Encoder(generator.schema, "avro").encode(batch.data), rows, strict=True):
        assert value == avro_bytes(generator.schema, row)
    for value, row in zip(Encoder(generator.schema, "json").encode(batch.data), rows, strict=True):
        assert json.loads(value) == row


EVERY_TYPE = {
    "type": "record",
    "name": "T",
    "fields": [
        {"name": "a", "type": "long"},
        {"name": "b", "type": "double"},
        {"name": "c", "type": "string"},
        {"name": "d", "type": ["null", "long"], "default": None},
        {"name": "e", "type": "boolean"},
        {"name": "f", "type": ["string", "null"]},
        {"name": "g", "type": "float"},
        {"name": "h", "type": "bytes"},
        {"name": "i", "type": "int"},
        {"name": "j", "type": "string"},
        {"name": "k", "type": "string"},
        {"name": "event_time", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    ],
}


def every_type_batch(n: int = 1_000) -> pa.RecordBatch:
    rng = np.random.default_rng(0)
    a = rng.integers(-(2**62), 2**62, n)
    a[:5] = [0, -1, 1, 2**63 - 1, -(2**63)]
    b = rng.normal(0, 1e3, n)
    b[3], b[4], b[5] = np.nan, np.inf, 1e300
    columns = {
        "a": pa.array(a),
        "b": pa.array(b),
        "c": pa.array([f'q"\\{i}\n\x01é\u2028' if i % 7 == 0 else f"s{i}" for i in range(n)]),
        "d": pa.array([None if i % 3 == 0 else i for i in range(n)], pa.int64()),
        "e": pa.array(rng.random(n) < 0.5),
        "f": pa.DictionaryArray.from_arrays(
            pa.array([None if i % 5 == 0 else i % 4 for i in range(n)], pa.int32()), pa.array(["w", "x", 'y"y', "zzz"])
        ),
        "g": pa.array(rng.normal(0, 1, n).astype(np.float32)),
        "h": pa.array([bytes([i % 256, 0]) for i in range(n)], pa.binary()),
        "i": pa.array(rng.integers(-(2**31), 2**31, n).astype(np.int32)),
        "j": pa.DictionaryArray.from_arrays(
            pa.array(rng.integers(0, 3, n).astype(np.int32)), pa.array(["p", "q\\", "r"])
        ),
        "k": pa.DictionaryArray.from_arrays(pa.array(rng.integers(0, 2, n).astype(np.int32)), pa.array(["", "ü"])),
        "event_time": pa.array(NOW + np.arange(n)),
    }
    return pa.RecordBatch.from_pydict(columns)


def test_every_supported_type_encodes_exactly() -> None:
    """Setup: a batch with longs at the extremes, NaN and infinity, escapes and control characters,
    nulls in unions of both orders, categorical columns (with and without nulls), floats, bytes.
    Invariant: Avro equals fastavro byte for byte; JSON parses to the same values, NaN and
    infinity written as null, bytes as base64."""
    batch = every_type_batch()
    rows = batch.to_pylist()
    for value, row in zip(Encoder(EVERY_TYPE, "avro").encode(batch), rows, strict=True):
        assert value == avro_bytes(EVERY_TYPE, row)
    for value, row in zip(Encoder(EVERY_TYPE, "json").encode(batch), rows, strict=True):
        parsed = json.loads(value)
        for name, expected in row.items():
            got = parsed[name]
            if name == "h":
                assert base64.b64decode(got) == expected
            elif name == "b" and not math.isfinite(expected):
                assert got is None
            elif name == "g":
                assert got == pytest.approx(expected, rel=1e-6)
            else:
                assert got == expected, name


def test_header_comes_before_every_value() -> None:
    """Invariant: a header (Confluent's magic byte and schema id) prefixes each Avro value unchanged."""
    generator = registry.create("iot", seed=1)
    batch = generator.batch(100, NOW)
    header = b"\x00" + (42).to_bytes(4, "big")
    plain = Encoder(generator.schema, "avro").encode(batch.data)
    assert Encoder(generator.schema, "avro", header=header).encode(batch.data) == [header + v for v in plain]


def test_varints_match_avro_zigzag() -> None:
    values = np.array([0, -1, 1, -64, 63, 64, 2**31, -(2**63), 2**63 - 1], dtype=np.int64)
    expected = [
        avro_bytes({"type": "record", "name": "L", "fields": [{"name": "v", "type": "long"}]}, {"v": int(v)})
        for v in values
    ]
    assert varints(values).to_pylist() == expected


def test_missing_column_and_unexpected_nulls_are_schema_errors() -> None:
    schema = {"type": "record", "name": "S", "fields": [{"name": "x", "type": "long"}]}
    with pytest.raises(EventSchemaError, match="the batch has no column 'x'"):
        Encoder(schema, "avro").encode(pa.RecordBatch.from_pydict({"y": [1]}))
    with pytest.raises(EventSchemaError, match="field 'x' is not nullable"):
        Encoder(schema, "avro").encode(pa.RecordBatch.from_pydict({"x": pa.array([1, None])}))
    with pytest.raises(EventSchemaError, match="only flat records"):
        Encoder(
            {"type": "record", "name": "N", "fields": [{"name": "m", "type": {"type": "map", "values": "long"}}]},
            "json",
        )


def test_ground_truth_reads_back_what_was_sent(tmp_path: Path) -> None:
    """Setup: three disordered payments batches written by the ground-truth writer.
    Invariant: the Parquet file holds one row per record in send order (seq), with its key,
    event id, event time and every flag; run.json and schema.avsc sit beside it."""
    generator = registry.create("payments", seed=3)
    disorder = Disorder(0.05, 5_000, 0.05, 0.05, seed=3)
    writer = GroundTruthWriter(
        tmp_path, "pay", schema=generator.schema, key_field=generator.key_field, meta={"source": "payments"}
    )
    sent = []
    for i in range(3):
        batch = disorder.apply(generator.batch(4_000, NOW + i * 1000))
        writer.write(batch)
        sent.append(batch)
    folder = writer.close(events=12_000)
    truth = read_ground_truth(tmp_path, "pay").to_pydict()
    assert truth["seq"] == list(range(sum(len(b) for b in sent)))
    assert truth["key"] == [k.decode() for b in sent for k in b.keys]
    assert truth["event_id"] == [int(i) for b in sent for i in b.event_ids]
    times = [int(t.timestamp() * 1000) for t in truth["event_time"]]
    assert times == [int(t) for b in sent for t in b.event_time_ms]
    for flag in ("is_fraud", "is_late", "is_out_of_order", "is_duplicate"):
        assert truth[flag] == [bool(f) for b in sent for f in b.flags[flag]]
    meta = json.loads((folder / "run.json").read_text())
    assert meta["source"] == "payments" and meta["records"] == len(truth["seq"]) and meta["events"] == 12_000
    assert json.loads((folder / "schema.avsc").read_text()) == generator.schema
