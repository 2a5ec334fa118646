"""Avro schemas as the registry keeps them: parsed and checked by fastavro, with one canonical text.

The canonical text is the schema's JSON without insignificant white space, so the same schema sent
twice (pretty-printed or not) gets the same id, as Confluent's registry does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import fastavro
from fastavro.schema import SchemaParseException, UnknownType

from streamwise.schemas.exceptions import InvalidSchemaError
from streamwise.schemas.limits import check_nesting, load_schema_json

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})


@dataclass(frozen=True)
class AvroSchema:
    """A parsed Avro schema: its canonical text, the fastavro form and its named types by full name."""

    canonical: str
    parsed: Any = field(compare=False, repr=False)
    names: dict[str, dict[str, Any]] = field(compare=False, repr=False)

    def resolve(self, node: Any) -> Any:
        """A named-type reference (``"com.x.Address"``) becomes its definition; anything else is kept."""
        if isinstance(node, str) and node not in PRIMITIVES:
            return self.names.get(node, node)
        return node

    @property
    def record_fields(self) -> list[dict[str, Any]]:
        """The top-level record's fields (empty for a non-record schema)."""
        root = self.resolve(self.parsed)
        return list(root.get("fields", [])) if isinstance(root, dict) and root.get("type") == "record" else []


def parse_avro(text: str | dict[str, Any] | list[Any]) -> AvroSchema:
    """Parse and check an Avro schema (JSON text or the decoded JSON); raise InvalidSchemaError."""
    try:
        raw = load_schema_json(text) if isinstance(text, str) else text
    except json.JSONDecodeError as exc:
        # A bare primitive name (string) is a valid schema although not JSON: accept it as Avro does.
        if isinstance(text, str) and text.strip() in PRIMITIVES:
            raw = text.strip()
        else:
            raise InvalidSchemaError(
                f"Invalid schema: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
            ) from None
    check_nesting(raw)
    try:
        parsed = fastavro.parse_schema(raw, named_schemas={})
    except UnknownType as exc:
        raise InvalidSchemaError(f"Invalid schema: unknown type {exc.name!r}") from None
    except (SchemaParseException, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise InvalidSchemaError(f"Invalid schema: {exc}") from None
    except RecursionError:
        raise InvalidSchemaError("Invalid schema: nested too deeply") from None
    names = dict(parsed.get("__named_schemas", {})) if isinstance(parsed, dict) else {}
    if isinstance(raw, dict) and set(raw) <= {"type"} and raw.get("type") in PRIMITIVES:
        raw = raw["type"]  # {"type": "string"} and "string" are one schema
    return AvroSchema(json.dumps(raw, separators=(",", ":"), ensure_ascii=False), parsed, names)


def type_name(schema: AvroSchema, node: Any) -> str:
    """A short name for a schema node in messages: ``int``, ``record com.x.User``, ``union [null, string]``."""
    node = schema.resolve(node)
    if isinstance(node, list):
        return "union [" + ", ".join(_short(schema, branch) for branch in node) + "]"
    return _short(schema, node)


def _short(schema: AvroSchema, node: Any) -> str:
    node = schema.resolve(node)
    if isinstance(node, str):
        return node
    if isinstance(node, list):
        return "union"
    kind = node.get("type")
    if kind in ("record", "error", "enum", "fixed"):
        return f"{kind} {node.get('name')}"
    if kind == "array":
        return f"array<{_short(schema, node['items'])}>"
    if kind == "map":
        return f"map<{_short(schema, node['values'])}>"
    return str(kind)
