"""Avro schemas of events: the scenarios' local ``.avsc`` files, and schemas inferred from a replayed
file's Arrow types.

Only flat records are used on the wire (primitive fields, optionally nullable), which is what
:mod:`streamwise.ingest.encoding` encodes column-wise. The registry and the Confluent wire format
belong to :mod:`streamwise.schemas`; this module only reads and writes plain schema documents.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastavro
import pyarrow as pa

from streamwise.ingest.exceptions import EventSchemaError

SCHEMA_DIR = Path(__file__).parent / "schemas"
PRIMITIVES = ("boolean", "int", "long", "float", "double", "string", "bytes")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Field:
    """One field of a flat record: its primitive type, logical type and whether it may be null."""

    name: str
    kind: str
    logical: str | None = None
    nullable: bool = False
    null_branch: int = 0  # index of "null" in the union; the value's branch is the other one


def load_schema(name: str, directory: Path = SCHEMA_DIR) -> dict[str, Any]:
    """The schema document in ``directory/<name>.avsc``, checked by fastavro."""
    path = directory / f"{name}.avsc"
    try:
        schema = json.loads(path.read_text())
    except FileNotFoundError:
        raise EventSchemaError(f"no schema file {path}") from None
    except json.JSONDecodeError as exc:
        raise EventSchemaError(f"{path} is not valid JSON: {exc}") from None
    check(schema, where=str(path))
    return schema


def check(schema: dict[str, Any], *, where: str = "schema") -> None:
    """Raise EventSchemaError unless ``schema`` is a valid Avro schema that :func:`fields` can read."""
    try:
        fastavro.parse_schema(schema)
    except Exception as exc:
        raise EventSchemaError(f"{where} is not a valid Avro schema: {exc}") from None
    fields(schema)


def fields(schema: dict[str, Any]) -> list[Field]:
    """The fields of a flat record schema; EventSchemaError for nested or complex types."""
    if schema.get("type") != "record":
        raise EventSchemaError(f"schema {schema.get('name')!r} must be a record")
    return [_field(f) for f in schema["fields"]]


def _field(spec: dict[str, Any]) -> Field:
    name, kind = spec["name"], spec["type"]
    nullable, null_branch = False, 0
    if isinstance(kind, list):
        others = [t for t in kind if t != "null"]
        if len(kind) != 2 or len(others) != 1:
            raise EventSchemaError(f"field {name!r}: only unions of null and one type are supported (got {kind})")
        nullable, null_branch, kind = True, kind.index("null"), others[0]
    logical = None
    if isinstance(kind, dict):
        logical, kind = kind.get("logicalType"), kind.get("type")
    if kind not in PRIMITIVES:
        raise EventSchemaError(
            f"field {name!r} has type {kind!r}; only flat records of {', '.join(PRIMITIVES)} are supported"
        )
    return Field(name, kind, logical, nullable, null_branch)


def event_time_field(schema: dict[str, Any]) -> str:
    """The name of the record's event-time field (``event_time``, long timestamp-millis)."""
    for field in fields(schema):
        if field.name == "event_time":
            if field.kind != "long" or field.logical != "timestamp-millis" or field.nullable:
                raise EventSchemaError(
                    f"schema {schema['name']}: event_time must be a long with logicalType timestamp-millis"
                )
            return field.name
    raise EventSchemaError(f"schema {schema['name']} has no event_time field")


def infer_schema(
    arrow: pa.Schema, *, name: str, event_time: str | None = None, nullable: set[str] | None = None
) -> dict[str, Any]:
    """An Avro record schema for a table with these Arrow columns (as replayed by ``--from-file``).

    ``event_time`` names the column that becomes a long timestamp-millis; ``nullable`` names the
    columns that hold nulls (they become ``["null", T]`` unions). A column without an Avro
    counterpart raises EventSchemaError naming it.
    """
    nullable = nullable or set()
    out = []
    for column in arrow:
        if not _NAME.match(column.name):
            raise EventSchemaError(
                f"column {column.name!r} is not a valid Avro field name",
                hint="rename it to letters, digits and underscores (not starting with a digit)",
            )
        avro_type = (
            {"type": "long", "logicalType": "timestamp-millis"} if column.name == event_time else _avro_type(column)
        )
        if column.name in nullable:
            out.append({"name": column.name, "type": ["null", avro_type], "default": None})
        else:
            out.append({"name": column.name, "type": avro_type})
    schema = {"type": "record", "name": _record_name(name), "namespace": "streamwise.replay", "fields": out}
    check(schema, where=f"the schema inferred for {name}")
    return schema


def _avro_type(column: pa.Field) -> str | dict[str, str]:
    t = column.type
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_boolean(t):
        return "boolean"
    if (
        pa.types.is_int8(t)
        or pa.types.is_int16(t)
        or pa.types.is_int32(t)
        or pa.types.is_uint8(t)
        or pa.types.is_uint16(t)
    ):
        return "int"
    if pa.types.is_int64(t) or pa.types.is_uint32(t):
        return "long"
    if pa.types.is_float16(t) or pa.types.is_float32(t):
        return "float"
    if pa.types.is_float64(t):
        return "double"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t):
        return "string"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return "bytes"
    if pa.types.is_timestamp(t):
        return {"type": "long", "logicalType": "timestamp-millis" if t.unit in ("s", "ms") else "timestamp-micros"}
    if pa.types.is_date(t):
        return {"type": "int", "logicalType": "date"}
    hint = "cast it to a string or a number in the file, or drop it"
    if pa.types.is_uint64(t):
        hint = "its values may not fit Avro's signed long; cast it to int64 or string"
    raise EventSchemaError(f"column {column.name!r} has type {t}, which has no Avro mapping", hint=hint)


def _record_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_]", "_", name) or "Record"
    return cleaned if _NAME.match(cleaned) else f"R_{cleaned}"
