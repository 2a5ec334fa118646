"""The Confluent wire format: magic byte 0, the schema id as 4 bytes big-endian, then the Avro body.

Records framed here are read by confluent-kafka's ``AvroDeserializer`` and by Spark
(:mod:`streamwise.pipeline.avro`), and records framed by ``AvroSerializer`` are read here.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable, Mapping
from typing import Any

import fastavro
from fastavro._read_common import SchemaResolutionError

from streamwise.schemas.avro import AvroSchema, parse_avro
from streamwise.schemas.exceptions import SchemaError, WireFormatError

MAGIC_BYTE = 0
HEADER = struct.Struct(">bI")
HEADER_SIZE = HEADER.size  # 5


def frame(schema_id: int, body: bytes) -> bytes:
    """Prefix an encoded body with the magic byte and the schema id."""
    return HEADER.pack(MAGIC_BYTE, schema_id) + body


def unframe(data: bytes | None) -> tuple[int, bytes]:
    """Split a record into (schema id, body); WireFormatError says why it is not one.

    The reasons read like the dead-letter reasons Spark writes, so both paths report alike.
    """
    if data is None:
        raise WireFormatError("empty value")
    if len(data) < HEADER_SIZE:
        raise WireFormatError(f"truncated: {len(data)} bytes, shorter than the 5-byte Confluent header")
    magic, schema_id = HEADER.unpack_from(data)
    if magic != MAGIC_BYTE:
        raise WireFormatError(f"wrong magic byte 0x{data[0]:02x} (expected 0x00, Confluent wire format)")
    return schema_id, bytes(data[HEADER_SIZE:])


class AvroSerializer:
    """Encodes dicts with one schema under one schema id (``schemaless_writer`` + the header)."""

    def __init__(self, schema_id: int, schema: str | AvroSchema) -> None:
        self.schema_id = schema_id
        self.schema = schema if isinstance(schema, AvroSchema) else parse_avro(schema)

    def __call__(self, record: Mapping[str, Any]) -> bytes:
        buffer = io.BytesIO()
        buffer.write(HEADER.pack(MAGIC_BYTE, self.schema_id))
        try:
            fastavro.schemaless_writer(buffer, self.schema.parsed, record)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise SchemaError(f"record does not match schema id {self.schema_id}: {exc}") from None
        return buffer.getvalue()


class AvroDeserializer:
    """Decodes wire-format records written with any schema ``lookup`` knows, into ``reader`` when given
    (so v1 and v2 records come out in the v2 shape), else into the writer's own shape."""

    def __init__(
        self, lookup: Callable[[int], str] | Mapping[int, str], reader: str | AvroSchema | None = None
    ) -> None:
        self._lookup = lookup.__getitem__ if isinstance(lookup, Mapping) else lookup
        self._writers: dict[int, AvroSchema] = {}
        self.reader = parse_avro(reader) if isinstance(reader, str) else reader

    def writer(self, schema_id: int) -> AvroSchema:
        """The writer schema of ``schema_id`` (looked up once)."""
        if schema_id not in self._writers:
            try:
                text = self._lookup(schema_id)
            except KeyError:
                raise WireFormatError(f"unknown schema id {schema_id}") from None
            self._writers[schema_id] = parse_avro(text)
        return self._writers[schema_id]

    def __call__(self, data: bytes | None) -> dict[str, Any]:
        schema_id, body = unframe(data)
        writer = self.writer(schema_id)
        buffer = io.BytesIO(body)
        reader = self.reader.parsed if self.reader is not None else None
        try:
            record = fastavro.schemaless_reader(buffer, writer.parsed, reader)
        except (EOFError, ValueError, TypeError, IndexError, UnicodeDecodeError, SchemaResolutionError) as exc:
            raise WireFormatError(f"truncated or undecodable Avro body for schema id {schema_id}: {exc}") from None
        if buffer.tell() != len(body):
            raise WireFormatError(
                f"undecodable Avro body for schema id {schema_id}: {len(body) - buffer.tell()} bytes left over"
            )
        return record  # type: ignore[return-value]
