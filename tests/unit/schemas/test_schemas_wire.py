"""The Confluent wire format: framing, and Avro bodies written with one version and read with another."""

from __future__ import annotations

import json

import pytest

from streamwise.schemas import AvroDeserializer, AvroSerializer, SchemaError, WireFormatError, frame, unframe

V1 = json.dumps(
    {
        "type": "record",
        "name": "View",
        "fields": [{"name": "user_id", "type": "string"}, {"name": "event_time", "type": "long"}],
    }
)
V2 = json.dumps(
    {
        "type": "record",
        "name": "View",
        "fields": [
            {"name": "user_id", "type": "string"},
            {"name": "event_time", "type": "long"},
            {"name": "referrer", "type": ["null", "string"], "default": None},
        ],
    }
)


def test_header_layout() -> None:
    """Setup: schema id 258 and a 3-byte body. Invariant: magic 0, id big-endian in 4 bytes, body after."""
    assert frame(258, b"abc") == b"\x00\x00\x00\x01\x02abc"
    assert unframe(b"\x00\x00\x00\x01\x02abc") == (258, b"abc")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (None, "empty value"),
        (b"\x00\x00\x01", "truncated: 3 bytes, shorter than the 5-byte Confluent header"),
        (b'{"user_id": "u1"}', "wrong magic byte 0x7b (expected 0x00, Confluent wire format)"),
    ],
)
def test_unframe_says_why(data: bytes | None, reason: str) -> None:
    """Setup: a tombstone, a short value, a JSON value. Invariant: WireFormatError with the exact reason
    Spark's dead-letter path uses too."""
    with pytest.raises(WireFormatError) as caught:
        unframe(data)
    assert caught.value.message == reason


def test_v1_record_read_in_v2_shape() -> None:
    """Setup: records serialized with v1 (id 1) and v2 (id 2), one deserializer with v2 as reader.
    Invariant: both come out in the v2 shape, the v1 one with v2's default."""
    read = AvroDeserializer({1: V1, 2: V2}, reader=V2)
    old = AvroSerializer(1, V1)({"user_id": "u1", "event_time": 5})
    new = AvroSerializer(2, V2)({"user_id": "u2", "event_time": 6, "referrer": "search"})
    assert old[:5] == b"\x00\x00\x00\x00\x01"
    assert read(old) == {"user_id": "u1", "event_time": 5, "referrer": None}
    assert read(new) == {"user_id": "u2", "event_time": 6, "referrer": "search"}
    assert AvroDeserializer({2: V2})(new) == {"user_id": "u2", "event_time": 6, "referrer": "search"}


def test_bad_bodies_and_ids() -> None:
    """Setup: an unknown id, a truncated body, trailing garbage, and a record missing a field.
    Invariant: each raises with its reason; nothing is decoded into a wrong value silently."""
    read = AvroDeserializer({1: V1})
    good = AvroSerializer(1, V1)({"user_id": "u1", "event_time": 5})
    with pytest.raises(WireFormatError, match="^unknown schema id 7$"):
        read(frame(7, good[5:]))
    with pytest.raises(WireFormatError, match="^truncated or undecodable Avro body for schema id 1"):
        read(good[:-1])
    with pytest.raises(WireFormatError, match="^undecodable Avro body for schema id 1: 2 bytes left over$"):
        read(good + b"\x01\x02")
    with pytest.raises(SchemaError, match="record does not match schema id 1"):
        AvroSerializer(1, V1)({"user_id": "u1"})
