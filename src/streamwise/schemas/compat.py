"""Avro schema compatibility: the reader/writer resolution rules of the Avro specification, and the
registry's levels (NONE, BACKWARD, FORWARD, FULL and their TRANSITIVE forms) built on them.

A *reader* schema can read data written with a *writer* schema when, recursively:

- both are the same primitive, or the writer's type promotes to the reader's
  (int -> long, float, double; long -> float, double; float -> double; string <-> bytes);
- both are records of the same name (or the reader lists the writer's name in its aliases), and each
  reader field is either in the writer (by name or alias) with a readable type, or has a default;
- both are enums of the same name and every writer symbol is a reader symbol, unless the reader has
  a default symbol; both are fixed of the same name and size; arrays and maps by their items/values;
- the writer is a union and every branch is readable; or the reader is a union and some branch reads
  the writer.

Logical types are ignored, as in Avro's own ``SchemaCompatibility``: only the underlying type matters.
The kinds of incompatibility carry Avro's names (``READER_FIELD_MISSING_DEFAULT_VALUE``...), so the
registry's messages read like Confluent's.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from streamwise.schemas.avro import PRIMITIVES, AvroSchema, type_name

# Writer type -> reader types it can be read as, besides itself.
PROMOTIONS: dict[str, frozenset[str]] = {
    "int": frozenset({"long", "float", "double"}),
    "long": frozenset({"float", "double"}),
    "float": frozenset({"double"}),
    "string": frozenset({"bytes"}),
    "bytes": frozenset({"string"}),
}

NAMED = frozenset({"record", "error", "enum", "fixed"})


class Compatibility(StrEnum):
    """The registry's compatibility levels, as Confluent names them."""

    NONE = "NONE"
    BACKWARD = "BACKWARD"
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE"
    FORWARD = "FORWARD"
    FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE"
    FULL = "FULL"
    FULL_TRANSITIVE = "FULL_TRANSITIVE"

    @property
    def backward(self) -> bool:
        """The new schema must read data written with earlier ones."""
        return self.name.startswith(("BACKWARD", "FULL"))

    @property
    def forward(self) -> bool:
        """Earlier schemas must read data written with the new one."""
        return self.name.startswith(("FORWARD", "FULL"))

    @property
    def transitive(self) -> bool:
        """Checked against every earlier version, not only the latest."""
        return self.name.endswith("_TRANSITIVE")


class Kind(StrEnum):
    """The rule an incompatibility breaks (Avro's ``SchemaIncompatibilityType``)."""

    READER_FIELD_MISSING_DEFAULT_VALUE = "READER_FIELD_MISSING_DEFAULT_VALUE"
    TYPE_MISMATCH = "TYPE_MISMATCH"
    NAME_MISMATCH = "NAME_MISMATCH"
    FIXED_SIZE_MISMATCH = "FIXED_SIZE_MISMATCH"
    MISSING_ENUM_SYMBOLS = "MISSING_ENUM_SYMBOLS"
    MISSING_UNION_BRANCH = "MISSING_UNION_BRANCH"


@dataclass(frozen=True)
class Incompatibility:
    """One place where a reader cannot read a writer's data (Avro's; JSON Schema's subclass it).

    ``location`` is a JSON pointer into the reader schema (``/fields/2/type``); ``where`` names the
    place for people (``field 'address.city'``); ``reader``/``writer`` are the clashing types or
    values (the field name, the missing symbols...).
    """

    kind: StrEnum
    location: str
    where: str
    field: str | None
    reader: str = ""
    writer: str = ""

    def explain(self, reader: str, writer: str, *, reader_is_new: bool) -> str:
        """One sentence naming the place and the rule broken; ``reader``/``writer`` label the two
        schemas (``the new schema``, ``version 1``)."""
        consequence = f"readers of {reader} cannot read data written with {writer}"
        if self.kind is Kind.READER_FIELD_MISSING_DEFAULT_VALUE:
            if reader_is_new:
                return f"{self.where} was added without a default: {consequence}"
            return f"{self.where} was removed, and {reader} has no default for it: {consequence}"
        if self.kind is Kind.TYPE_MISMATCH:
            return (
                f"{self.where} is {self.reader} in {reader} but {self.writer} in {writer}, and Avro cannot "
                f"read {self.writer} as {self.reader}: {consequence}"
            )
        if self.kind is Kind.NAME_MISMATCH:
            return (
                f"{self.where} is named {self.reader} in {reader} but {self.writer} in {writer}; "
                f"add '{self.writer}' to its aliases: {consequence}"
            )
        if self.kind is Kind.FIXED_SIZE_MISMATCH:
            return (
                f"{self.where} is fixed of size {self.reader} in {reader} but {self.writer} in {writer}: {consequence}"
            )
        if self.kind is Kind.MISSING_ENUM_SYMBOLS:
            return (
                f"{self.where}: enum symbols {self.writer} of {writer} are missing in {reader}, which has no "
                f"default symbol: {consequence}"
            )
        return (
            f"{self.where}: {writer} may write {self.writer}, which no branch of {self.reader} in {reader} "
            f"reads: {consequence}"
        )


def incompatibilities(reader: AvroSchema, writer: AvroSchema) -> list[Incompatibility]:
    """Every place where ``reader`` cannot read data written with ``writer`` (empty: compatible)."""
    return _Walk(reader, writer).check(reader.parsed, writer.parsed, "", None)


def can_read(reader: AvroSchema, writer: AvroSchema) -> bool:
    """True when data written with ``writer`` can be read with ``reader``."""
    return not incompatibilities(reader, writer)


@dataclass
class _Walk:
    reader: AvroSchema
    writer: AvroSchema
    # Record pairs being compared: a recursive type that comes back to one is assumed compatible.
    seen: set[tuple[str, str]] = field(default_factory=set)

    def check(self, r: Any, w: Any, loc: str, path: str | None) -> list[Incompatibility]:
        r, w = self.reader.resolve(r), self.writer.resolve(w)
        rk, wk = _kind(r), _kind(w)
        if wk == "union":
            return [issue for i, branch in enumerate(w) for issue in self.check(r, branch, loc, path)]
        if rk == "union":
            if any(not self.check(branch, w, f"{loc}/{i}", path) for i, branch in enumerate(r)):
                return []
            return [
                self._issue(Kind.MISSING_UNION_BRANCH, loc, path, type_name(self.reader, r), type_name(self.writer, w))
            ]
        if rk != wk:
            if rk in PROMOTIONS.get(wk, ()):
                return []
            return [self._issue(Kind.TYPE_MISMATCH, loc, path, type_name(self.reader, r), type_name(self.writer, w))]
        if rk in PRIMITIVES:
            return []
        if rk in NAMED and not _same_name(r, w):
            return [self._issue(Kind.NAME_MISMATCH, f"{loc}/name", path, r["name"], w["name"])]
        if rk == "array":
            return self.check(r["items"], w["items"], f"{loc}/items", _sub(path, "[]"))
        if rk == "map":
            return self.check(r["values"], w["values"], f"{loc}/values", _sub(path, "{}"))
        if rk == "fixed":
            if r["size"] != w["size"]:
                return [self._issue(Kind.FIXED_SIZE_MISMATCH, f"{loc}/size", path, str(r["size"]), str(w["size"]))]
            return []
        if rk == "enum":
            missing = [s for s in w["symbols"] if s not in r["symbols"]]
            if missing and "default" not in r:
                return [self._issue(Kind.MISSING_ENUM_SYMBOLS, f"{loc}/symbols", path, "", str(missing))]
            return []
        return self._record(r, w, loc, path)

    def _record(self, r: dict[str, Any], w: dict[str, Any], loc: str, path: str | None) -> list[Incompatibility]:
        pair = (r["name"], w["name"])
        if pair in self.seen:
            return []
        self.seen.add(pair)
        writer_fields = {f["name"]: f for f in w["fields"]}
        issues: list[Incompatibility] = []
        for i, rf in enumerate(r["fields"]):
            name = rf["name"]
            wf = writer_fields.get(name) or next(
                (writer_fields[a] for a in rf.get("aliases", ()) if a in writer_fields), None
            )
            field_path = name if path is None else f"{path}.{name}"
            if wf is None:
                if "default" not in rf:
                    issues.append(self._issue(Kind.READER_FIELD_MISSING_DEFAULT_VALUE, f"{loc}/fields/{i}", field_path))
                continue
            issues += self.check(rf["type"], wf["type"], f"{loc}/fields/{i}/type", field_path)
        self.seen.discard(pair)
        return issues

    @staticmethod
    def _issue(kind: Kind, loc: str, path: str | None, reader: str = "", writer: str = "") -> Incompatibility:
        where = f"field '{path}'" if path else "the top-level schema"
        top = path.split(".")[0].rstrip("[]{}") if path else None
        return Incompatibility(kind, loc or "/", where, top, reader, writer)


def _kind(node: Any) -> str:
    if isinstance(node, list):
        return "union"
    if isinstance(node, dict):
        return "record" if node.get("type") == "error" else str(node.get("type"))
    return str(node)


def _sub(path: str | None, suffix: str) -> str:
    return f"{path or ''}{suffix}"


def _same_name(r: dict[str, Any], w: dict[str, Any]) -> bool:
    """Avro's rule: same unqualified name, or the writer's full name is one of the reader's aliases."""
    r_name, w_name = r["name"], w["name"]
    if r_name.rsplit(".", 1)[-1] == w_name.rsplit(".", 1)[-1]:
        return True
    namespace = r_name.rsplit(".", 1)[0] if "." in r_name else ""
    aliases = {a if "." in a or not namespace else f"{namespace}.{a}" for a in r.get("aliases", ())}
    return w_name in aliases or w_name.rsplit(".", 1)[-1] in aliases


@dataclass(frozen=True)
class Issue:
    """An incompatibility of a new schema with one earlier version, in one direction."""

    version: int
    direction: str  # "backward": the new schema reads the old version's data; "forward": the reverse
    incompatibility: Incompatibility | None  # None when the schemas are not even of one type
    message: str


@dataclass(frozen=True)
class CompatibilityResult:
    """The verdict on a new schema under a level, with every issue found."""

    level: Compatibility
    issues: list[Issue]

    @property
    def compatible(self) -> bool:
        return not self.issues

    @property
    def messages(self) -> list[str]:
        return [issue.message for issue in self.issues]


def check_compatibility(
    new: Any,
    earlier: Sequence[tuple[int, Any]],
    level: Compatibility | str,
    rules: Callable[[Any, Any], Sequence[Incompatibility]] = incompatibilities,
) -> CompatibilityResult:
    """Check ``new`` against ``earlier`` (version, schema) pairs, oldest first, under ``level``;
    ``rules(reader, writer)`` lists what the reader cannot read (Avro's rules by default).

    Non-transitive levels look at the last of ``earlier`` only.
    """
    level = Compatibility(str(level).upper())
    if level is Compatibility.NONE or not earlier:
        return CompatibilityResult(level, [])
    targets = list(earlier) if level.transitive else [earlier[-1]]
    issues: list[Issue] = []
    for version, old in reversed(targets):
        old_label = f"version {version}"
        if level.backward:
            for inc in rules(new, old):
                msg = inc.explain("the new schema", old_label, reader_is_new=True)
                issues.append(Issue(version, "backward", inc, msg))
        if level.forward:
            for inc in rules(old, new):
                msg = inc.explain(old_label, "the new schema", reader_is_new=False)
                issues.append(Issue(version, "forward", inc, msg))
    return CompatibilityResult(level, issues)


@dataclass(frozen=True)
class FieldChange:
    """One difference between two record schemas, for ``schema diff``."""

    change: str  # added, removed, changed
    field: str
    old: str
    new: str


def diff_fields(old: AvroSchema, new: AvroSchema) -> list[FieldChange]:
    """Fields added, removed or changed (type or default) between two record schemas, nested records
    included (``address.city``)."""
    return _diff_record(old, new, old.resolve(old.parsed), new.resolve(new.parsed), "")


def _describe_field(schema: AvroSchema, f: dict[str, Any]) -> str:
    text = type_name(schema, f["type"])
    return f"{text} (default {_json(f['default'])})" if "default" in f else text


def _json(value: Any) -> str:
    return json.dumps(value)


def _diff_record(old: AvroSchema, new: AvroSchema, o: Any, n: Any, prefix: str) -> list[FieldChange]:
    if _kind(o) != "record" or _kind(n) != "record":
        if type_name(old, o) != type_name(new, n):
            return [FieldChange("changed", prefix or "(schema)", type_name(old, o), type_name(new, n))]
        return []
    old_fields = {f["name"]: f for f in o["fields"]}
    new_fields = {f["name"]: f for f in n["fields"]}
    changes: list[FieldChange] = []
    for name, f in old_fields.items():
        if name not in new_fields:
            changes.append(FieldChange("removed", prefix + name, _describe_field(old, f), ""))
    for name, f in new_fields.items():
        if name not in old_fields:
            changes.append(FieldChange("added", prefix + name, "", _describe_field(new, f)))
            continue
        before, after = old.resolve(old_fields[name]["type"]), new.resolve(f["type"])
        if _kind(before) == "record" and _kind(after) == "record":
            changes += _diff_record(old, new, before, after, f"{prefix}{name}.")
        elif _describe_field(old, old_fields[name]) != _describe_field(new, f):
            changes.append(
                FieldChange("changed", prefix + name, _describe_field(old, old_fields[name]), _describe_field(new, f))
            )
    return changes
