"""Avro reader/writer resolution rules and the registry's compatibility levels, on schemas alone."""

from __future__ import annotations

from typing import Any

import pytest

from streamwise.schemas import (
    Compatibility,
    InvalidSchemaError,
    can_read,
    check_compatibility,
    diff_fields,
    incompatibilities,
    parse_avro,
)
from streamwise.schemas.compat import FieldChange, Kind


def record(*fields: dict[str, Any], name: str = "User", **extra: Any) -> Any:
    return parse_avro({"type": "record", "name": name, "namespace": "shop", "fields": list(fields), **extra})


def f(name: str, type_: Any, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, **extra}


V1 = record(f("id", "string"), f("age", "int"))


def test_identical_schemas_read_each_other() -> None:
    """Setup: one record schema as reader and writer. Invariant: no incompatibility either way."""
    assert incompatibilities(V1, V1) == []


def test_added_field_with_default_is_fully_compatible() -> None:
    """Setup: v2 adds a field with a default. Invariant: v2 reads v1 data and v1 reads v2 data."""
    v2 = record(f("id", "string"), f("age", "int"), f("email", ["null", "string"], default=None))
    assert can_read(v2, V1) and can_read(V1, v2)


def test_added_field_without_default_breaks_backward_naming_the_field() -> None:
    """Setup: v2 adds 'email' without a default. Invariant: one READER_FIELD_MISSING_DEFAULT_VALUE at
    /fields/2 naming 'email'; the BACKWARD message says what broke and who cannot read what."""
    v2 = record(f("id", "string"), f("age", "int"), f("email", "string"))
    [issue] = incompatibilities(v2, V1)
    assert (issue.kind, issue.location, issue.field) == (Kind.READER_FIELD_MISSING_DEFAULT_VALUE, "/fields/2", "email")
    result = check_compatibility(v2, [(1, V1)], "BACKWARD")
    assert result.messages == [
        "field 'email' was added without a default: readers of the new schema cannot read data written with version 1"
    ]
    assert check_compatibility(v2, [(1, V1)], "FORWARD").compatible


def test_removed_field_without_default_breaks_forward() -> None:
    """Setup: v2 drops 'age', which v1 declares without a default. Invariant: BACKWARD passes (readers
    ignore extra writer fields); FORWARD fails with a message naming 'age' and version 1."""
    v2 = record(f("id", "string"))
    assert check_compatibility(v2, [(1, V1)], "BACKWARD").compatible
    result = check_compatibility(v2, [(1, V1)], "FORWARD")
    assert result.messages == [
        "field 'age' was removed, and version 1 has no default for it: readers of version 1 cannot read data "
        "written with the new schema"
    ]


def test_removed_field_with_default_in_old_schema_keeps_forward() -> None:
    """Setup: v1 gives 'age' a default; v2 drops it. Invariant: FULL compatible."""
    old = record(f("id", "string"), f("age", "int", default=0))
    assert check_compatibility(record(f("id", "string")), [(1, old)], "FULL").compatible


@pytest.mark.parametrize(
    ("writer", "reader"),
    [
        ("int", "long"),
        ("int", "float"),
        ("int", "double"),
        ("long", "float"),
        ("long", "double"),
        ("float", "double"),
        ("string", "bytes"),
        ("bytes", "string"),
    ],
)
def test_promotions_are_readable(writer: str, reader: str) -> None:
    """Setup: a field's type changes along an Avro promotion. Invariant: the reader reads the writer."""
    assert can_read(record(f("x", reader)), record(f("x", writer)))


@pytest.mark.parametrize(
    ("writer", "reader"),
    [
        ("long", "int"),
        ("double", "float"),
        ("float", "long"),
        ("double", "int"),
        ("string", "int"),
        ("boolean", "int"),
        ("int", "string"),
        ("null", "string"),
    ],
)
def test_demotions_and_unrelated_types_mismatch(writer: str, reader: str) -> None:
    """Setup: a field's type changes against the promotions. Invariant: TYPE_MISMATCH naming the field
    and both types, with the rule in the message."""
    [issue] = incompatibilities(record(f("x", reader)), record(f("x", writer)))
    assert (issue.kind, issue.location, issue.reader, issue.writer) == (
        Kind.TYPE_MISMATCH,
        "/fields/0/type",
        reader,
        writer,
    )
    assert issue.explain("the new schema", "version 3", reader_is_new=True) == (
        f"field 'x' is {reader} in the new schema but {writer} in version 3, and Avro cannot read {writer} as "
        f"{reader}: readers of the new schema cannot read data written with version 3"
    )


def test_enum_symbols() -> None:
    """Setup: enum versions adding and removing symbols, with and without an enum default.
    Invariant: a reader must know every writer symbol unless it has a default symbol."""

    def enum(*symbols: str, **extra: Any) -> Any:
        return record(f("status", {"type": "enum", "name": "Status", "symbols": list(symbols), **extra}))

    assert can_read(enum("NEW", "PAID", "SHIPPED"), enum("NEW", "PAID"))
    [issue] = incompatibilities(enum("NEW", "PAID"), enum("NEW", "PAID", "SHIPPED"))
    assert (issue.kind, issue.field, issue.writer) == (Kind.MISSING_ENUM_SYMBOLS, "status", "['SHIPPED']")
    assert can_read(enum("NEW", "PAID", "UNKNOWN", default="UNKNOWN"), enum("NEW", "PAID", "SHIPPED"))


def test_unions() -> None:
    """Setup: fields moving in and out of unions. Invariant: every writer branch must be readable; a
    reader union needs one branch that reads the writer; promotions apply inside unions."""
    assert can_read(record(f("x", ["null", "string"], default=None)), record(f("x", "string")))
    [null_branch] = incompatibilities(record(f("x", "string")), record(f("x", ["null", "string"], default=None)))
    assert (null_branch.kind, null_branch.reader, null_branch.writer) == (Kind.TYPE_MISMATCH, "string", "null")
    [missing] = incompatibilities(record(f("x", ["null", "int"], default=None)), record(f("x", "string")))
    assert (missing.kind, missing.reader, missing.writer) == (Kind.MISSING_UNION_BRANCH, "union [null, int]", "string")
    assert can_read(record(f("x", ["long", "string"])), record(f("x", ["int", "string"])))


def test_record_names_and_aliases() -> None:
    """Setup: a renamed record, with and without the old name as alias; a renamed field with an alias.
    Invariant: names must match (unqualified) or be aliased; field aliases find the writer's field."""
    old = record(f("id", "string"), name="Customer")
    [issue] = incompatibilities(record(f("id", "string"), name="Client"), old)
    assert (issue.kind, issue.reader, issue.writer) == (Kind.NAME_MISMATCH, "shop.Client", "shop.Customer")
    assert can_read(record(f("id", "string"), name="Client", aliases=["Customer"]), old)
    moved = parse_avro({"type": "record", "name": "Customer", "namespace": "crm", "fields": [f("id", "string")]})
    assert can_read(moved, old)  # only the namespace changed: Avro compares unqualified names
    assert can_read(record(f("user_id", "string", aliases=["id"]), name="Customer"), old)


def test_fixed_size_and_nested_paths() -> None:
    """Setup: a fixed inside a nested record, an array of records and a map. Invariant: the size clash
    and the nested missing default are reported at dotted paths with JSON-pointer locations."""

    def schema(size: int, zip_field: list[dict[str, Any]]) -> Any:
        address = {"type": "record", "name": "Address", "fields": [f("city", "string"), *zip_field]}
        return record(
            f("address", address),
            f("hash", {"type": "fixed", "name": "Hash", "size": size}),
            f("items", {"type": "array", "items": {"type": "record", "name": "Item", "fields": [f("sku", "string")]}}),
            f("attrs", {"type": "map", "values": "long"}),
        )

    old = schema(16, [])
    issues = incompatibilities(schema(32, [f("zip", "string")]), old)
    assert [(i.kind, i.where, i.location) for i in issues] == [
        (Kind.READER_FIELD_MISSING_DEFAULT_VALUE, "field 'address.zip'", "/fields/0/type/fields/1"),
        (Kind.FIXED_SIZE_MISMATCH, "field 'hash'", "/fields/1/type/size"),
    ]
    narrowed = parse_avro(old.canonical.replace('"values":"long"', '"values":"int"'))
    [issue] = incompatibilities(narrowed, old)
    assert (issue.where, issue.reader, issue.writer) == ("field 'attrs{}'", "int", "long")


def test_recursive_types_terminate() -> None:
    """Setup: a linked list referring to itself by name. Invariant: the check ends and passes."""
    node = {"type": "record", "name": "Node", "fields": [f("value", "int"), f("next", ["null", "Node"], default=None)]}
    wider = {
        "type": "record",
        "name": "Node",
        "fields": [f("value", "long"), f("next", ["null", "Node"], default=None)],
    }
    assert can_read(parse_avro(wider), parse_avro(node))
    assert not can_read(parse_avro(node), parse_avro(wider))


def test_logical_types_are_ignored() -> None:
    """Setup: a long that becomes timestamp-millis. Invariant: compatible (only the underlying type counts)."""
    assert can_read(record(f("t", {"type": "long", "logicalType": "timestamp-millis"})), record(f("t", "long")))


def test_levels_and_transitivity() -> None:
    """Setup: v1 (id), v2 (adds 'age' with default), then a candidate that drops the default of 'age'.
    Invariant: BACKWARD checks only v2 (passes); BACKWARD_TRANSITIVE also checks v1 (fails on 'age');
    FULL adds the forward direction; NONE accepts anything."""
    v1 = record(f("id", "string"))
    v2 = record(f("id", "string"), f("age", "int", default=0))
    candidate = record(f("id", "string"), f("age", "int"))
    history = [(1, v1), (2, v2)]
    assert check_compatibility(candidate, history, Compatibility.BACKWARD).compatible
    transitive = check_compatibility(candidate, history, "backward_transitive")
    assert [(i.version, i.direction, i.incompatibility.field) for i in transitive.issues] == [(1, "backward", "age")]
    breaking = record(f("id", "long"))
    full = check_compatibility(breaking, history, "FULL")
    assert [(i.version, i.direction) for i in full.issues] == [(2, "backward"), (2, "forward")]
    assert check_compatibility(breaking, history, "NONE").compatible
    assert Compatibility.FULL_TRANSITIVE.backward and Compatibility.FULL_TRANSITIVE.forward
    assert not Compatibility.FORWARD.backward and Compatibility.FORWARD_TRANSITIVE.transitive


def test_parse_rejects_invalid_schemas() -> None:
    """Setup: text that is not JSON, a record without name, a default of the wrong type.
    Invariant: InvalidSchemaError with the reason."""
    with pytest.raises(InvalidSchemaError, match="not JSON"):
        parse_avro("{nope")
    with pytest.raises(InvalidSchemaError, match='"name" is a required field'):
        parse_avro({"type": "record", "fields": []})
    with pytest.raises(InvalidSchemaError, match="Default value <x> must match schema type: int"):
        parse_avro({"type": "record", "name": "R", "fields": [f("a", "int", default="x")]})


def test_canonical_text_ignores_white_space() -> None:
    """Setup: one schema pretty-printed and compact, and a primitive in two spellings.
    Invariant: one canonical text each (so the registry gives them one id)."""
    pretty = '{\n  "type": "record",\n  "name": "A",\n  "fields": [ {"name": "x", "type": "int"} ]\n}'
    assert parse_avro(pretty).canonical == '{"type":"record","name":"A","fields":[{"name":"x","type":"int"}]}'
    assert parse_avro('{"type": "string"}').canonical == parse_avro('"string"').canonical == '"string"'


def test_diff_fields() -> None:
    """Setup: a version adding, removing and changing fields, one inside a nested record.
    Invariant: exactly those changes, nested ones with dotted names."""
    address = {"type": "record", "name": "Address", "fields": [f("city", "string")]}
    old = record(f("id", "string"), f("age", "int"), f("address", address))
    address2 = {**address, "fields": [f("city", "string"), f("zip", "string", default="")]}
    new = record(
        f("id", "string"), f("age", "long"), f("address", address2), f("email", ["null", "string"], default=None)
    )
    assert diff_fields(old, new) == [
        FieldChange("changed", "age", "int", "long"),
        FieldChange("added", "address.zip", "", 'string (default "")'),
        FieldChange("added", "email", "", "union [null, string] (default null)"),
    ]
