"""The registry's state: subjects, versions, schema ids and compatibility settings, rebuilt from a log.

Every change is first appended to the log (a compacted Kafka topic in production, a list in tests)
and then applied, so replaying the log from its start rebuilds exactly the same state, ids included.
Records follow Confluent's ``_schemas`` layout: a JSON key naming what it is about
(``{"keytype":"SCHEMA","subject":...,"version":...}`` or ``{"keytype":"CONFIG","subject":...}``)
and a JSON value, or a tombstone (null value) once something is deleted for good, which compaction
then removes.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any, Protocol, overload

from streamwise.schemas.compat import Compatibility, CompatibilityResult, Issue
from streamwise.schemas.exceptions import InvalidSchemaError, RegistryError
from streamwise.schemas.formats import SCHEMA_TYPES, ParsedSchema, check_compatibility, parse_schema

logger = logging.getLogger(__name__)

MAX_VERSION = 2**31 - 1
DEFAULT_COMPATIBILITY = Compatibility.BACKWARD


# One record of the log: its offset (for messages), key and value (None: a tombstone).
LogRecord = tuple[int, bytes | None, bytes | None]


class SchemaLog(Protocol):
    """Where the store writes its changes and reads them back at start."""

    def replay(self) -> Iterable[LogRecord]: ...

    def append(self, key: bytes, value: bytes | None) -> None: ...


class MemoryLog:
    """A log in a list: for tests, and to show that a replay rebuilds the same state."""

    def __init__(self) -> None:
        self.records: list[tuple[bytes, bytes | None]] = []

    def replay(self) -> Iterator[LogRecord]:
        return ((offset, key, value) for offset, (key, value) in enumerate(list(self.records)))

    def append(self, key: bytes, value: bytes | None) -> None:
        self.records.append((key, value))


@dataclass(frozen=True)
class RegisteredSchema:
    """One version of a subject."""

    subject: str
    version: int
    id: int
    schema: str
    schema_type: str = "AVRO"
    deleted: bool = False

    def to_json(self) -> dict[str, Any]:
        """The body Confluent answers for ``GET /subjects/{s}/versions/{v}``."""
        body: dict[str, Any] = {"subject": self.subject, "version": self.version, "id": self.id}
        if self.schema_type != "AVRO":
            body["schemaType"] = self.schema_type
        body["schema"] = self.schema
        return body


@overload
def _encode(obj: dict[str, Any]) -> bytes: ...
@overload
def _encode(obj: dict[str, Any] | None) -> bytes | None: ...
def _encode(obj: dict[str, Any] | None) -> bytes | None:
    return None if obj is None else json.dumps(obj, separators=(",", ":")).encode()


def schema_key(subject: str, version: int) -> bytes:
    return _encode({"keytype": "SCHEMA", "subject": subject, "version": version, "magic": 1})


def config_key(subject: str | None) -> bytes:
    return _encode({"keytype": "CONFIG", "subject": subject, "magic": 0})


def parse_version(version: str | int) -> int | None:
    """A version path segment as an int, or None for the latest ("latest" or -1); else 42202."""
    text = str(version).strip()
    if text.lower() == "latest" or text == "-1":
        return None
    try:
        number = int(text)
    except ValueError:
        number = 0
    if not 1 <= number <= MAX_VERSION:
        raise RegistryError(
            42202,
            f"The specified version '{text}' is not a valid version id. "
            'Allowed values are between [1, 2^31-1] and the string "latest"',
        )
    return number


def parse_level(level: Any) -> Compatibility:
    """A compatibility level in any case; else 42203 as Confluent answers (a missing level too: it is
    never read as NONE)."""
    try:
        if not isinstance(level, str):
            raise ValueError(level)
        return Compatibility(level.strip().upper())
    except ValueError:
        raise RegistryError(
            42203,
            "Invalid compatibility level. Valid values are none, backward, forward, full, "
            "backward_transitive, forward_transitive, and full_transitive",
        ) from None


class SchemaStore:
    """Subjects and their versions, global and per-subject compatibility; thread-safe."""

    def __init__(self, log: SchemaLog) -> None:
        self._log = log
        self._lock = threading.RLock()
        self._subjects: dict[str, dict[int, RegisteredSchema]] = {}
        self._configs: dict[str | None, Compatibility] = {}
        self._ids: dict[tuple[str, str], int] = {}  # (schema type, canonical text) -> id
        self._texts: dict[int, tuple[str, str]] = {}  # id -> (schema type, canonical text)
        self._max_id = 0
        for offset, key, value in log.replay():
            try:
                self._apply(key, value)
            except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
                # One bad record (another tool's, a hand-written one) must not keep the registry down:
                # the others still hold every subject they held.
                logger.warning("schemas log: skipped the record at offset %d: %s", offset, _why(exc))

    # --- the log -------------------------------------------------------------------------------

    def _write(self, key: bytes, value: dict[str, Any] | None) -> None:
        raw = _encode(value)
        try:
            self._log.append(key, raw)
        except RegistryError:
            raise
        except Exception as exc:
            raise RegistryError(50001, f"Error while writing to the schemas log: {exc}") from None
        self._apply(key, raw)

    def _apply(self, key_bytes: bytes | None, value_bytes: bytes | None) -> None:
        """Apply one record; ValueError (or a lookup error) for one this store did not write."""
        if key_bytes is None:
            raise ValueError("it has no key")
        key = json.loads(key_bytes)
        value = json.loads(value_bytes) if value_bytes is not None else None
        if not isinstance(key, dict) or not (value is None or isinstance(value, dict)):
            raise ValueError("its key and value must be JSON objects")
        if key.get("keytype") == "SCHEMA":
            subject, version = key["subject"], key["version"]
            if not isinstance(subject, str) or type(version) is not int or not 1 <= version <= MAX_VERSION:
                raise ValueError(f"its key names no subject and version: {key_bytes[:200]!r}")
            self._apply_schema(subject, version, value)
        elif key.get("keytype") == "CONFIG":
            subject = key.get("subject")
            if subject is not None and not isinstance(subject, str):
                raise ValueError(f"its key names no subject: {key_bytes[:200]!r}")
            if value is None:
                self._configs.pop(subject, None)
            else:
                self._configs[subject] = Compatibility(value["compatibilityLevel"])
        elif key.get("keytype") not in ("NOOP", "MODE", "DELETE_SUBJECT", "CLEAR_SUBJECT", "CONTEXT"):
            # Confluent's other key types carry nothing this store keeps; anything else is not a registry's.
            raise ValueError(f"unknown keytype {str(key.get('keytype'))[:50]!r}")

    def _apply_schema(self, subject: str, version: int, value: dict[str, Any] | None) -> None:
        if value is None:
            versions = self._subjects.get(subject, {})
            gone = versions.pop(version, None)
            if not versions:
                self._subjects.pop(subject, None)
            if gone is not None and not any(v.id == gone.id for vs in self._subjects.values() for v in vs.values()):
                self._texts.pop(gone.id, None)
                self._ids.pop((gone.schema_type, gone.schema), None)
            return
        schema_id, text, schema_type = value["id"], value["schema"], value.get("schemaType") or "AVRO"
        if type(schema_id) is not int or schema_id < 1 or not isinstance(text, str) or schema_type not in SCHEMA_TYPES:
            raise ValueError(f"its value is not a registered schema: {json.dumps(value)[:200]}")
        try:
            # Checked here too: a schema this store could not parse would fail every later
            # compatibility check of its subject.
            parse_schema(text, schema_type)
        except InvalidSchemaError as exc:
            raise ValueError(f"its schema is not valid {schema_type}: {exc.message}") from None
        entry = RegisteredSchema(subject, version, schema_id, text, schema_type, bool(value.get("deleted", False)))
        versions = self._subjects.setdefault(subject, {})
        versions[version] = entry
        self._texts[entry.id] = (entry.schema_type, entry.schema)
        self._ids[(entry.schema_type, entry.schema)] = entry.id
        self._max_id = max(self._max_id, entry.id)

    def _put(self, entry: RegisteredSchema) -> None:
        self._write(
            schema_key(entry.subject, entry.version),
            {
                "subject": entry.subject,
                "version": entry.version,
                "id": entry.id,
                "schemaType": entry.schema_type,
                "schema": entry.schema,
                "deleted": entry.deleted,
            },
        )

    # --- reads ---------------------------------------------------------------------------------

    def subjects(self, *, deleted: bool = False, prefix: str = "") -> list[str]:
        with self._lock:
            return sorted(
                s
                for s, vs in self._subjects.items()
                if s.startswith(prefix) and any(deleted or not v.deleted for v in vs.values())
            )

    def _visible(self, subject: str, deleted: bool) -> dict[int, RegisteredSchema]:
        versions = {n: v for n, v in self._subjects.get(subject, {}).items() if deleted or not v.deleted}
        if not versions:
            raise RegistryError(40401, f"Subject '{subject}' not found.")
        return versions

    def versions(self, subject: str, *, deleted: bool = False) -> list[int]:
        with self._lock:
            return sorted(self._visible(subject, deleted))

    def version(self, subject: str, version: str | int, *, deleted: bool = False) -> RegisteredSchema:
        """One version ("latest" or -1 for the newest); 40401, 40402 or 42202 when there is none."""
        number = parse_version(version)
        with self._lock:
            versions = self._visible(subject, deleted)
            if number is None:
                return versions[max(versions)]
            if number not in versions:
                raise RegistryError(40402, f"Version {number} not found.")
            return versions[number]

    def schema(self, schema_id: int) -> tuple[str, str]:
        """(schema type, schema text) of an id; 40403 when unknown."""
        with self._lock:
            if schema_id not in self._texts:
                raise RegistryError(40403, f"Schema {schema_id} not found")
            return self._texts[schema_id]

    def all_versions(self, *, deleted: bool = False) -> list[RegisteredSchema]:
        with self._lock:
            return sorted(
                (v for vs in self._subjects.values() for v in vs.values() if deleted or not v.deleted),
                key=lambda v: (v.subject, v.version),
            )

    def id_versions(self, schema_id: int, *, deleted: bool = False) -> list[tuple[str, int]]:
        """The (subject, version) pairs that use a schema id; 40403 when unknown."""
        with self._lock:
            self.schema(schema_id)
            return [(v.subject, v.version) for v in self.all_versions(deleted=deleted) if v.id == schema_id]

    def lookup(
        self, subject: str, schema: str, schema_type: str = "AVRO", *, deleted: bool = False
    ) -> RegisteredSchema:
        """The version of ``subject`` holding this schema; 40401 or 40403 when none does."""
        parsed = self._parse(schema, schema_type)
        with self._lock:
            versions = self._visible(subject, deleted)
            for number in sorted(versions, reverse=True):
                entry = versions[number]
                if (entry.schema_type, entry.schema) == (schema_type, parsed.canonical):
                    return entry
            raise RegistryError(40403, "Schema not found")

    # --- compatibility -------------------------------------------------------------------------

    def compatibility(self, subject: str | None = None, *, default_to_global: bool = False) -> Compatibility:
        """The level in force: a subject's own, else (``default_to_global``) the global one."""
        with self._lock:
            if subject is None:
                return self._configs.get(None, DEFAULT_COMPATIBILITY)
            if subject in self._configs:
                return self._configs[subject]
            if default_to_global:
                return self._configs.get(None, DEFAULT_COMPATIBILITY)
            raise RegistryError(40408, f"Subject '{subject}' does not have subject-level compatibility configured")

    def set_compatibility(self, level: Any, subject: str | None = None) -> Compatibility:
        parsed = parse_level(level)
        with self._lock:
            self._write(config_key(subject), {"compatibilityLevel": parsed.value})
        return parsed

    def delete_compatibility(self, subject: str | None = None) -> Compatibility:
        """Drop a subject's level (it follows the global one again) or reset the global one; returns
        the level that was in force."""
        with self._lock:
            if subject is not None and subject not in self._configs and subject not in self._subjects:
                raise RegistryError(40401, f"Subject '{subject}' not found.")
            before = self.compatibility(subject, default_to_global=True)
            self._write(config_key(subject), None)
            return before

    def check(
        self, subject: str, schema: str, schema_type: str = "AVRO", version: str | int | None = None
    ) -> CompatibilityResult:
        """Would ``schema`` be accepted? Against one version (``version``) or, when None, against what
        registering it would check (the latest, or all versions for a transitive level)."""
        parsed = self._parse(schema, schema_type)
        with self._lock:
            level = self.compatibility(subject, default_to_global=True)
            if version is None:
                live = self._subjects.get(subject, {})
                earlier = [live[n] for n in sorted(live) if not live[n].deleted]
            else:
                earlier = [self.version(subject, version)]
            if version is not None and level is not Compatibility.NONE:
                level = Compatibility(level.value.removesuffix("_TRANSITIVE"))
            return self._check(parsed, schema_type, earlier, level)

    def _check(
        self, parsed: ParsedSchema, schema_type: str, earlier: list[RegisteredSchema], level: Compatibility
    ) -> CompatibilityResult:
        if level is not Compatibility.NONE:
            for entry in reversed(earlier if level.transitive else earlier[-1:]):
                if entry.schema_type != schema_type:
                    message = f"the new schema is {schema_type} but version {entry.version} is {entry.schema_type}"
                    return CompatibilityResult(level, [Issue(entry.version, "backward", None, message)])
        try:
            pairs = [(e.version, parse_schema(e.schema, e.schema_type)) for e in earlier]
            return check_compatibility(schema_type, parsed, pairs, level)
        except InvalidSchemaError as exc:  # parsing accepted both, so this is a limit a comparison met
            raise RegistryError(42201, exc.message) from None

    # --- writes --------------------------------------------------------------------------------

    def register(
        self, subject: str, schema: str, schema_type: str = "AVRO", references: list[Any] | None = None
    ) -> RegisteredSchema:
        """Register a schema under ``subject``: the existing version when it is already there, else a
        new version (409 when incompatible under the subject's level, 42201 when invalid)."""
        if references:
            self._refuse_references(subject, references)
        parsed = self._parse(schema, schema_type)
        with self._lock:
            versions = self._subjects.get(subject, {})
            for entry in versions.values():
                if not entry.deleted and (entry.schema_type, entry.schema) == (schema_type, parsed.canonical):
                    return entry
            live = [versions[n] for n in sorted(versions) if not versions[n].deleted]
            level = self.compatibility(subject, default_to_global=True)
            result = self._check(parsed, schema_type, live, level)
            if not result.compatible:
                details = ", ".join(confluent_messages(result))
                raise RegistryError(
                    409,
                    f'Schema being registered is incompatible with an earlier schema for subject "{subject}", '
                    f"details: [{details}]",
                )
            schema_id = self._ids.get((schema_type, parsed.canonical)) or self._max_id + 1
            entry = RegisteredSchema(subject, max(versions, default=0) + 1, schema_id, parsed.canonical, schema_type)
            self._put(entry)
            return entry

    def delete_subject(self, subject: str, *, permanent: bool = False) -> list[int]:
        """Soft delete (versions hidden, ids still readable) or, after that, hard delete (tombstones)."""
        with self._lock:
            versions = self._subjects.get(subject)
            if not versions:
                raise RegistryError(40401, f"Subject '{subject}' not found.")
            live = [v for v in versions.values() if not v.deleted]
            if permanent:
                if live:
                    raise RegistryError(
                        40405, f"Subject '{subject}' was not deleted first before being permanently deleted"
                    )
                numbers = sorted(versions)
                for number in numbers:
                    self._write(schema_key(subject, number), None)
                if subject in self._configs:
                    self._write(config_key(subject), None)
                return numbers
            if not live:
                raise RegistryError(
                    40404, f"Subject '{subject}' was soft deleted.Set permanent=true to delete permanently"
                )
            for entry in live:
                self._put(replace(entry, deleted=True))
            return sorted(v.version for v in live)

    def delete_version(self, subject: str, version: str | int, *, permanent: bool = False) -> int:
        """Soft or (after a soft delete) hard delete of one version; returns its number."""
        with self._lock:
            # "latest" means the newest live version, unless deleting for good.
            entry = self.version(subject, version, deleted=permanent or parse_version(version) is not None)
            if not permanent and entry.deleted:
                raise RegistryError(
                    40406,
                    f"Subject '{subject}' Version {entry.version} was soft deleted.Set permanent=true to delete permanently",
                )
            if permanent:
                if not entry.deleted:
                    raise RegistryError(
                        40407,
                        f"Subject '{subject}' Version {entry.version} was not deleted first before being permanently deleted",
                    )
                self._write(schema_key(subject, entry.version), None)
            else:
                self._put(replace(entry, deleted=True))
            return entry.version

    def _refuse_references(self, subject: str, references: list[Any]) -> None:
        """42201 for references: each says what is wrong with it (its shape, a reference to the subject
        itself, to a version that does not exist), and well-formed ones that this registry does not
        resolve references. Since none is ever stored, no chain of references (no cycle) can form."""
        for i, ref in enumerate(references):
            where = f"Invalid schema: references[{i}]"
            if not isinstance(ref, dict):
                raise RegistryError(42201, f"{where} must be an object with name, subject and version")
            name, ref_subject, version = ref.get("name"), ref.get("subject"), ref.get("version")
            if not isinstance(name, str) or not name:
                raise RegistryError(42201, f"{where}.name must be a non-empty string")
            if not isinstance(ref_subject, str) or not ref_subject:
                raise RegistryError(42201, f"{where}.subject must be a non-empty string")
            if type(version) is not int or not (version == -1 or 1 <= version <= MAX_VERSION):
                raise RegistryError(42201, f"{where}.version must be a version number (or -1 for the latest)")
            if ref_subject == subject:
                raise RegistryError(42201, f"{where} refers to the subject being registered, {subject!r}")
            with self._lock:
                live = {n for n, v in self._subjects.get(ref_subject, {}).items() if not v.deleted}
            if not live or (version != -1 and version not in live):
                raise RegistryError(42201, f"{where}: subject {ref_subject!r} has no version {version}")
        raise RegistryError(42201, "Invalid schema: schema references are not supported by this registry")

    @staticmethod
    def _parse(schema: str, schema_type: str) -> ParsedSchema:
        if schema_type not in SCHEMA_TYPES:
            raise RegistryError(
                42201, f"Invalid schema type {schema_type!r}: this registry supports {', '.join(SCHEMA_TYPES)}"
            )
        try:
            return parse_schema(schema, schema_type)
        except InvalidSchemaError as exc:
            raise RegistryError(42201, exc.message) from None
        except RecursionError:
            raise RegistryError(42201, "Invalid schema: nested too deeply") from None


def confluent_messages(result: CompatibilityResult) -> list[str]:
    """Issues as Confluent's verbose compatibility messages (``{errorType:'...', description:'...'}``),
    grouped by the version they were checked against, then the level."""
    messages: list[str] = []
    for version in dict.fromkeys(issue.version for issue in result.issues):
        for issue in (i for i in result.issues if i.version == version):
            inc = issue.incompatibility
            kind = inc.kind.value if inc is not None else "TYPE_MISMATCH"
            location = f" (location {inc.location})" if inc is not None else ""
            extra = f", additionalInfo:'{inc.field}'" if inc is not None and inc.field else ""
            messages.append(f"{{errorType:'{kind}', description:'{issue.message}{location}'{extra}}}")
        messages.append(f"{{oldSchemaVersion: {version}}}")
    if messages:
        messages.append(f"{{compatibility: '{result.level.value}'}}")
    return messages


def _why(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"it lacks the field {exc}"
    if isinstance(exc, json.JSONDecodeError):
        return f"it is not JSON ({exc.msg})"
    return str(exc) or type(exc).__name__
