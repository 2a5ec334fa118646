"""The schema types the registry accepts (Confluent's ``schemaType``), each with its parser and rules."""

from __future__ import annotations

from collections.abc import Sequence

from streamwise.schemas.avro import AvroSchema, parse_avro
from streamwise.schemas.compat import Compatibility, CompatibilityResult
from streamwise.schemas.compat import check_compatibility as check_levels
from streamwise.schemas.json_schema import JsonSchema, json_incompatibilities, parse_json_schema

SCHEMA_TYPES: tuple[str, ...] = ("AVRO", "JSON")
ParsedSchema = AvroSchema | JsonSchema


def parse_schema(text: str, schema_type: str = "AVRO") -> ParsedSchema:
    """Parse ``text`` as ``schema_type``; InvalidSchemaError when it is not a valid schema."""
    return parse_json_schema(text) if schema_type == "JSON" else parse_avro(text)


def check_compatibility(
    schema_type: str, new: ParsedSchema, earlier: Sequence[tuple[int, ParsedSchema]], level: Compatibility
) -> CompatibilityResult:
    """The verdict on ``new`` against earlier (version, schema) pairs of the same type."""
    if schema_type == "JSON":
        return check_levels(new, earlier, level, json_incompatibilities)
    return check_levels(new, earlier, level)
