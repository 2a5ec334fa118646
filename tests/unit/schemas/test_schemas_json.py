"""JSON Schema in the registry: parsing and compatibility as "every document the writer accepts, the
reader accepts too"."""

from __future__ import annotations

from typing import Any

import pytest

from streamwise.schemas import Compatibility, InvalidSchemaError, MemoryLog, RegistryError, SchemaStore
from streamwise.schemas.json_schema import JsonKind, json_incompatibilities, parse_json_schema


def obj(closed: bool = False, required: tuple[str, ...] = (), **props: Any) -> Any:
    schema: dict[str, Any] = {"type": "object", "properties": props, "required": list(required)}
    if closed:
        schema["additionalProperties"] = False
    return parse_json_schema(schema)


def kinds(reader: Any, writer: Any) -> list[tuple[JsonKind, str | None]]:
    return [(i.kind, i.field) for i in json_incompatibilities(reader, writer)]


STR, INT, NUM = {"type": "string"}, {"type": "integer"}, {"type": "number"}


def test_parse_and_canonical_text() -> None:
    """Setup: one schema with keys in two orders; invalid schemas. Invariant: one canonical text;
    InvalidSchemaError naming the place for a bad type, a dangling $ref and a non-object."""
    a = parse_json_schema('{"type": "object", "properties": {"a": {"type": "string"}}}')
    b = parse_json_schema('{"properties": {"a": {"type": "string"}}, "type": "object"}')
    assert a.canonical == b.canonical == '{"properties":{"a":{"type":"string"}},"type":"object"}'
    with pytest.raises(InvalidSchemaError, match="#/properties/a/type 'text' is not one of"):
        parse_json_schema({"type": "object", "properties": {"a": {"type": "text"}}})
    with pytest.raises(InvalidSchemaError, match="points nowhere"):
        parse_json_schema({"properties": {"a": {"$ref": "#/definitions/missing"}}})
    with pytest.raises(InvalidSchemaError, match="must be an object or a boolean"):
        parse_json_schema("[1, 2]")


def test_properties_under_open_and_closed_content_models() -> None:
    """Setup: a property added or removed, with the writer open or closed. Invariant: adding is safe
    only after a closed writer; removing is safe only for an open reader."""
    assert kinds(obj(id=STR, email=STR), obj(id=STR)) == [(JsonKind.PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL, "email")]
    assert kinds(obj(id=STR, email=STR), obj(closed=True, id=STR)) == []
    assert kinds(obj(id=STR), obj(id=STR, email=STR)) == []
    assert kinds(obj(closed=True, id=STR), obj(closed=True, id=STR, email=STR)) == [
        (JsonKind.PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL, "email")
    ]
    assert kinds(obj(closed=True, id=STR), obj(id=STR)) == [(JsonKind.ADDITIONAL_PROPERTIES_NARROWED, None)]


def test_types_required_enums_and_ranges() -> None:
    """Setup: type, required, enum and bound changes. Invariant: only widening is compatible."""
    assert kinds(obj(n=NUM), obj(n=INT)) == []
    assert kinds(obj(n=INT), obj(n=NUM)) == [(JsonKind.TYPE_NARROWED, "n")]
    assert kinds(obj(n={"type": ["string", "null"]}), obj(n=STR)) == []
    assert kinds(obj(required=("id",), id=STR), obj(id=STR)) == [(JsonKind.REQUIRED_PROPERTY_ADDED, "id")]
    assert kinds(obj(id=STR), obj(required=("id",), id=STR)) == []
    colour = {"type": "string", "enum": ["red", "green"]}
    assert kinds(obj(c={**colour, "enum": ["red", "green", "blue"]}), obj(c=colour)) == []
    [lost] = json_incompatibilities(obj(c={**colour, "enum": ["red"]}), obj(c=colour))
    assert (lost.kind, lost.writer) == (JsonKind.ENUM_NARROWED, '["green"]')
    assert kinds(obj(s={"type": "string", "maxLength": 10}), obj(s={"type": "string", "maxLength": 20})) == [
        (JsonKind.RANGE_NARROWED, "s")
    ]
    assert kinds(obj(s={"type": "string", "maxLength": 20}), obj(s={"type": "string", "maxLength": 10})) == []


def test_nested_objects_arrays_and_refs() -> None:
    """Setup: a nested object behind a $ref and an array of objects. Invariant: issues at dotted paths."""

    def schema(zip_type: str) -> Any:
        return parse_json_schema(
            {
                "type": "object",
                "definitions": {"address": {"type": "object", "properties": {"zip": {"type": zip_type}}}},
                "properties": {
                    "home": {"$ref": "#/definitions/address"},
                    "tags": {"type": "array", "items": {"type": zip_type}},
                },
            }
        )

    issues = json_incompatibilities(schema("integer"), schema("string"))
    assert [(i.kind, i.where) for i in issues] == [
        (JsonKind.TYPE_NARROWED, "property 'home.zip'"),
        (JsonKind.TYPE_NARROWED, "property 'tags[]'"),
    ]
    assert issues[0].explain("the new schema", "version 1", reader_is_new=True) == (
        "property 'home.zip' accepts only integer where version 1 allows string: readers of the new schema cannot "
        "read data written with version 1"
    )


def test_store_registers_json_schemas_under_levels() -> None:
    """Setup: a store; JSON schemas registered under BACKWARD, then FORWARD. Invariant: a compatible
    change gets a version with schemaType JSON; a required property added is refused with 409 naming
    it; Avro and JSON versions do not mix in one subject."""
    store = SchemaStore(MemoryLog())
    v1 = '{"type": "object", "properties": {"id": {"type": "string"}}}'
    v2 = '{"type": "object", "properties": {"id": {"type": "string"}, "n": {"type": "number"}}, "additionalProperties": false}'
    assert store.register("o-value", v1, "JSON").id == 1
    with pytest.raises(RegistryError) as added:
        store.register("o-value", v2, "JSON")  # 'n' is new, and v1 is open: it may already hold any 'n'
    assert added.value.code == 409 and "property 'n' is new in the new schema" in added.value.message
    store.set_compatibility(Compatibility.FORWARD, "o-value")
    entry = store.register("o-value", v2, "JSON")
    assert (entry.version, entry.to_json()["schemaType"]) == (2, "JSON")
    with pytest.raises(RegistryError) as mixed:
        store.register("o-value", '{"type": "record", "name": "O", "fields": []}', "AVRO")
    assert mixed.value.code == 409 and "the new schema is AVRO but version 2 is JSON" in mixed.value.message
