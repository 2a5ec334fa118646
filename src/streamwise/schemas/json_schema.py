"""JSON Schema for the registry: parsing, a canonical text, and compatibility as set inclusion.

A reader schema can read a writer's data when every document the writer's schema accepts is also
accepted by the reader's. The check covers what evolves in practice, in the spirit of Confluent's
JSON Schema rules (and with their names):

- types: the reader's types must cover the writer's (``integer`` counts as a ``number``);
- objects: a property new to the reader is safe only if the writer's content model is closed
  (``additionalProperties: false``), since an open writer may already have written that property
  with any value; a closed reader rejects properties it does not list; a reader may not require
  what the writer did not;
- enums may only grow; ``maxLength``/``maximum``/``maxItems`` may not shrink and ``minLength``/
  ``minimum``/``minItems`` may not grow; arrays by their ``items``; local ``$ref``s are followed.

Anything else (``oneOf``, ``patternProperties``, ``if``...) is compared as text: a change there is
reported rather than guessed at.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from streamwise.schemas.compat import Incompatibility
from streamwise.schemas.exceptions import InvalidSchemaError
from streamwise.schemas.limits import check_nesting, load_schema_json

TYPES = frozenset({"null", "boolean", "object", "array", "number", "integer", "string"})
_UPPER = ("maxLength", "maximum", "exclusiveMaximum", "maxItems", "maxProperties")
_LOWER = ("minLength", "minimum", "exclusiveMinimum", "minItems", "minProperties")
_HANDLED = {
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "$ref",
    "$schema",
    "$id",
    "title",
    "description",
    "default",
    "examples",
    "definitions",
    "$defs",
    "format",
    *_UPPER,
    *_LOWER,
}


@dataclass(frozen=True)
class JsonSchema:
    """A parsed JSON Schema and its canonical text (keys sorted, no insignificant white space)."""

    canonical: str
    raw: Any = field(compare=False, repr=False)

    def resolve(self, node: Any) -> Any:
        """Follow a local ``$ref`` (``#/definitions/x``, ``#/$defs/x``)."""
        seen = 0
        while isinstance(node, dict) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#"):
            target: Any = self.raw
            for part in node["$ref"].lstrip("#").strip("/").split("/"):
                if part:
                    target = target[part.replace("~1", "/").replace("~0", "~")]
            node, seen = target, seen + 1
            if seen > 32:
                raise InvalidSchemaError(f"Invalid schema: $ref {node!r} loops")
        return node


def parse_json_schema(text: str | dict[str, Any] | bool) -> JsonSchema:
    """Parse and check a JSON Schema; InvalidSchemaError says what is wrong."""
    try:
        raw = load_schema_json(text) if isinstance(text, str) else text
    except json.JSONDecodeError as exc:
        raise InvalidSchemaError(
            f"Invalid schema: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    check_nesting(raw)
    schema = JsonSchema(json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False), raw)
    _validate(schema, raw, "#")
    return schema


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _validate(schema: JsonSchema, node: Any, where: str) -> None:
    """Check the keywords the compatibility rules read have the types JSON Schema gives them, so a
    comparison never meets ``"type": 5`` or ``"properties": []``; recurse into every sub-schema."""
    if isinstance(node, bool):
        return
    if not isinstance(node, dict):
        raise InvalidSchemaError(f"Invalid schema: {where} must be an object or a boolean, not {json.dumps(node)[:80]}")
    types = node.get("type", [])
    for name in types if isinstance(types, list) else [types]:
        if not isinstance(name, str) or name not in TYPES:
            raise InvalidSchemaError(
                f"Invalid schema: {where}/type {repr(name)[:40]} is not one of {', '.join(sorted(TYPES))}"
            )
    required = node.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        raise InvalidSchemaError(f"Invalid schema: {where}/required must be a list of property names")
    if "enum" in node and not isinstance(node["enum"], list):
        raise InvalidSchemaError(f"Invalid schema: {where}/enum must be a list")
    for key in (*_UPPER, *_LOWER):
        if key in node and not _is_number(node[key]):
            raise InvalidSchemaError(f"Invalid schema: {where}/{key} must be a number")
    if "$ref" in node and not isinstance(node["$ref"], str):
        raise InvalidSchemaError(f"Invalid schema: {where}/$ref must be a string")
    for key in ("properties", "definitions", "$defs"):
        subs = node.get(key, {})
        if not isinstance(subs, dict):
            raise InvalidSchemaError(f"Invalid schema: {where}/{key} must be an object of schemas")
        for name, sub in subs.items():
            _validate(schema, sub, f"{where}/{key}/{name}")
    for key in ("items", "additionalProperties"):
        if key in node and not isinstance(node[key], dict | bool | list if key == "items" else dict | bool):
            raise InvalidSchemaError(f"Invalid schema: {where}/{key} must be a schema")
        if isinstance(node.get(key), dict | bool):
            _validate(schema, node[key], f"{where}/{key}")
    for i, sub in enumerate(node["items"] if isinstance(node.get("items"), list) else []):
        _validate(schema, sub, f"{where}/items/{i}")
    try:
        target = schema.resolve(node)
    except (KeyError, TypeError, IndexError):
        raise InvalidSchemaError(
            f"Invalid schema: {where}/$ref {node['$ref']!r} points nowhere in this schema"
        ) from None
    if not isinstance(target, dict | bool):
        raise InvalidSchemaError(f"Invalid schema: {where}/$ref {node['$ref']!r} points at something not a schema")


class JsonKind(StrEnum):
    """The rule an incompatibility breaks (Confluent's JSON Schema difference names)."""

    TYPE_NARROWED = "TYPE_NARROWED"
    PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL = "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL"
    PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL = "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL"
    ADDITIONAL_PROPERTIES_NARROWED = "ADDITIONAL_PROPERTIES_NARROWED"
    REQUIRED_PROPERTY_ADDED = "REQUIRED_PROPERTY_ADDED"
    ENUM_NARROWED = "ENUM_NARROWED"
    RANGE_NARROWED = "RANGE_NARROWED"
    SCHEMA_CHANGED = "SCHEMA_CHANGED"


_RULES = {
    JsonKind.TYPE_NARROWED: "accepts only {reader} where {writer_label} allows {writer}",
    JsonKind.PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL: "is new in {reader_label}, but {writer_label} is open (additionalProperties) and may hold it with any value",
    JsonKind.PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL: "is not allowed by {reader_label} (additionalProperties false) but {writer_label} writes it",
    JsonKind.ADDITIONAL_PROPERTIES_NARROWED: "is closed (additionalProperties false) in {reader_label} but open in {writer_label}",
    JsonKind.REQUIRED_PROPERTY_ADDED: "is required by {reader_label} but not by {writer_label}",
    JsonKind.ENUM_NARROWED: "lost the enum values {writer} that {writer_label} allows",
    JsonKind.RANGE_NARROWED: "narrowed {reader} where {writer_label} allows {writer}",
    JsonKind.SCHEMA_CHANGED: "changed '{reader}', which this registry compares only as text",
}


@dataclass(frozen=True)
class JsonIncompatibility(Incompatibility):
    """One place where documents valid under the writer's schema fail the reader's."""

    def explain(self, reader: str, writer: str, *, reader_is_new: bool) -> str:
        rule = _RULES[JsonKind(self.kind)].format(
            reader=self.reader, writer=self.writer, reader_label=reader, writer_label=writer
        )
        return f"{self.where} {rule}: readers of {reader} cannot read data written with {writer}"


def json_incompatibilities(reader: JsonSchema, writer: JsonSchema) -> list[JsonIncompatibility]:
    """Every place where a document valid under ``writer`` may be invalid under ``reader``."""
    return _check(reader, writer, reader.raw, writer.raw, "", None, frozenset())


def _types(node: dict[str, Any]) -> set[str] | None:
    declared = node.get("type")
    if declared is None:
        return None
    return set(declared if isinstance(declared, list) else [declared])


def _issue(kind: JsonKind, loc: str, path: str | None, reader: str = "", writer: str = "") -> JsonIncompatibility:
    where = f"property '{path}'" if path else "the top-level schema"
    return JsonIncompatibility(kind, loc or "#", where, path.split(".")[0] if path else None, reader, writer)


# The pairs of (reader, writer) nodes being compared on the current path: a recursive $ref meets the
# same pair again, which is then taken as compatible (whatever differs is reported where it differs),
# so a comparison of recursive schemas ends.
_Seen = frozenset[tuple[int, int]]


def _check(
    rs: JsonSchema, ws: JsonSchema, r: Any, w: Any, loc: str, path: str | None, seen: _Seen
) -> list[JsonIncompatibility]:
    r, w = rs.resolve(r), ws.resolve(w)
    if r is True or r == {} or w is False or (id(r), id(w)) in seen:
        return []
    seen = seen | {(id(r), id(w))}
    if r is False or w is True:
        return [
            _issue(JsonKind.TYPE_NARROWED, loc, path, "nothing" if r is False else "some documents", "any document")
        ]
    issues: list[JsonIncompatibility] = []
    r_types, w_types = _types(r), _types(w)
    if r_types is not None:
        allowed = r_types | ({"integer"} if "number" in r_types else set())
        missing = sorted((w_types or TYPES) - allowed)
        if missing:
            return [_issue(JsonKind.TYPE_NARROWED, f"{loc}/type", path, "/".join(sorted(r_types)), "/".join(missing))]
    if "enum" in r:
        lost = [v for v in w["enum"] if v not in r["enum"]] if "enum" in w else ["any value"]
        if lost:
            issues.append(_issue(JsonKind.ENUM_NARROWED, f"{loc}/enum", path, "", json.dumps(lost)))
    issues += _ranges(r, w, loc, path)
    issues += _object(rs, ws, r, w, loc, path, seen)
    r_items, w_items = r.get("items", True), w.get("items", True)
    if isinstance(r_items, list) or isinstance(w_items, list):
        # Tuple validation (a list of item schemas) is compared as text, like the keywords not handled.
        if r_items != w_items:
            issues.append(_issue(JsonKind.SCHEMA_CHANGED, f"{loc}/items", path, "items"))
    elif "items" in r:
        issues += _check(rs, ws, r_items, w_items, f"{loc}/items", f"{path or ''}[]", seen)
    for key in sorted((set(r) | set(w)) - _HANDLED):
        if r.get(key) != w.get(key):
            issues.append(_issue(JsonKind.SCHEMA_CHANGED, f"{loc}/{key}", path, key))
    return issues


def _ranges(r: dict[str, Any], w: dict[str, Any], loc: str, path: str | None) -> list[JsonIncompatibility]:
    issues = []
    for keys, narrower in ((_UPPER, lambda old, new: old > new), (_LOWER, lambda old, new: old < new)):
        for key in (k for k in keys if k in r):
            if key not in w or narrower(w[key], r[key]):
                bound = f"{key} {w.get(key, 'unbounded')}"
                issues.append(_issue(JsonKind.RANGE_NARROWED, f"{loc}/{key}", path, f"{key} {r[key]}", bound))
    return issues


def _object(
    rs: JsonSchema, ws: JsonSchema, r: dict[str, Any], w: dict[str, Any], loc: str, path: str | None, seen: _Seen
) -> list[JsonIncompatibility]:
    r_props, w_props = r.get("properties") or {}, w.get("properties") or {}
    if not r_props and not w_props and "required" not in r and "additionalProperties" not in r:
        return []
    r_extra, w_extra = r.get("additionalProperties", True), w.get("additionalProperties", True)
    sub = lambda name: name if path is None else f"{path}.{name}"
    issues: list[JsonIncompatibility] = []
    if r_extra is False and w_extra is not False:
        issues.append(_issue(JsonKind.ADDITIONAL_PROPERTIES_NARROWED, f"{loc}/additionalProperties", path))
    for name, w_sub in w_props.items():
        if name in r_props:
            issues += _check(rs, ws, r_props[name], w_sub, f"{loc}/properties/{name}", sub(name), seen)
        elif r_extra is False:
            issues.append(_issue(JsonKind.PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL, f"{loc}/properties", sub(name)))
        elif isinstance(r_extra, dict):
            issues += _check(rs, ws, r_extra, w_sub, f"{loc}/additionalProperties", sub(name), seen)
    for name, r_sub in r_props.items():
        widened = name not in w_props and w_extra is not False
        if widened and _check(rs, ws, r_sub, w_extra, f"{loc}/properties/{name}", sub(name), seen):
            issues.append(_issue(JsonKind.PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL, f"{loc}/properties/{name}", sub(name)))
    for name in r.get("required", []):
        if name not in w.get("required", []):
            issues.append(_issue(JsonKind.REQUIRED_PROPERTY_ADDED, f"{loc}/required", sub(name)))
    return issues
