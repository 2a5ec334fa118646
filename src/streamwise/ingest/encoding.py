"""Column-wise encoding of a batch of events into Kafka record values: JSON or Avro binary.

Encoding is the producer's bottleneck, so no Python code runs per event: each field becomes one
Arrow binary array of its encoded bytes (an Avro zigzag varint, an 8-byte double, a quoted JSON
string ...), computed with numpy / Arrow kernels, and one ``binary_join_element_wise`` call
concatenates the fields of every row. Categorical columns (Arrow dictionary arrays) encode their
dictionary once and ``take`` it; adjacent ones share one combined dictionary. The output is
byte-for-byte what ``fastavro.schemaless_writer`` (Avro) writes per record, and JSON that decodes
to the record (floats keep a decimal point; NaN and infinity become null); the tests check both.
"""

from __future__ import annotations

import base64
from collections import OrderedDict
from typing import Any, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from streamwise.ingest.avro import Field, fields
from streamwise.ingest.exceptions import EventSchemaError
from streamwise.ingest.formats import Format

_BINARY = pa.binary()
_NULL = pa.scalar(None, _BINARY)
_SHORT_ESCAPES = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


Part: TypeAlias = bytes | pa.Array  # declared: pyarrow has no types, so mypy cannot infer it as an alias
_MAX_COMBINED = 4096  # entries of a combined dictionary of adjacent categorical fields


class Encoder:
    """Encodes record batches whose columns follow a flat Avro record schema."""

    def __init__(self, schema: dict[str, Any], fmt: Format | str, *, header: bytes = b"") -> None:
        """``header`` is written before every value, e.g. Confluent's magic byte and schema id."""
        self.schema = schema
        self.format = Format(fmt)
        self.header = header
        self.fields: list[Field] = fields(schema)
        # Encoded (combined) dictionaries of categorical columns: scenarios reuse their dictionaries.
        self._dictionaries: OrderedDict[tuple[Any, ...], tuple[list[pa.Array], pa.Array]] = OrderedDict()

    def encode(self, batch: pa.RecordBatch) -> list[bytes]:
        """One encoded value per row of ``batch`` (its columns named as the schema's fields)."""
        return self.encode_array(batch).to_numpy(zero_copy_only=False).tolist()

    def encode_array(self, batch: pa.RecordBatch) -> pa.Array:
        """The encoded values as an Arrow binary array (one per row).

        The join kernel costs about 12 ns per argument and row, so arguments are kept few: a run of
        categorical fields becomes one argument (their dictionaries combined, up to
        ``_MAX_COMBINED`` entries, with the JSON names and punctuation folded in).
        """
        if batch.num_rows == 0:
            return pa.array([], _BINARY)
        columns = []
        for field in self.fields:
            try:
                columns.append(batch.column(field.name))
            except KeyError:
                raise EventSchemaError(
                    f"the batch has no column {field.name!r} for schema {self.schema['name']}"
                ) from None
        parts: list[Part] = [self.header] if self.header else []
        i, count = 0, len(self.fields)
        while i < count:
            if _categorical(columns[i]):
                j, size = i + 1, len(columns[i].dictionary)
                while j < count and _categorical(columns[j]) and size * len(columns[j].dictionary) <= _MAX_COMBINED:
                    size *= len(columns[j].dictionary)
                    j += 1
                # The next field's JSON name goes at the end of this run's entries.
                suffix = (
                    self._prefix(j)
                    if self.format is Format.JSON and j < count and not _categorical(columns[j])
                    else b""
                )
                parts.append(self._combined(range(i, j), columns[i:j], suffix))
                i = j
                if suffix:
                    parts.extend(self._value(self.fields[i], columns[i]))
                    i += 1
                continue
            if self.format is Format.JSON:
                parts.append(self._prefix(i))
            parts.extend(self._value(self.fields[i], columns[i]))
            i += 1
        if self.format is Format.JSON:
            parts.append(b"}")
        return _join(parts, batch.num_rows, skip_nulls=self.format is Format.AVRO)

    def _prefix(self, i: int) -> bytes:
        return ("{" if i == 0 else ",").encode() + b'"' + self.fields[i].name.encode() + b'":'

    def _value(self, field: Field, column: pa.Array) -> list[Part]:
        return self._json(field, column) if self.format is Format.JSON else self._avro(field, column)

    def _combined(self, positions: range, columns: list[pa.Array], suffix: bytes) -> pa.Array:
        """One part for adjacent categorical fields: their combined dictionary, taken by a mixed-radix index."""
        dictionaries = [c.dictionary for c in columns]
        # ``column.dictionary`` is a new wrapper at every access; its buffers are what stays the same.
        key = (
            positions.start,
            positions.stop,
            suffix,
            *((len(d), d.offset, *(b.address if b else 0 for b in d.buffers())) for d in dictionaries),
        )
        hit = self._dictionaries.get(key)
        if hit is None:
            encoded = []
            for pos, dictionary in zip(positions, dictionaries, strict=True):
                field = self.fields[pos]
                if self.format is Format.JSON:
                    encoded.append(
                        pc.binary_join_element_wise(
                            pa.scalar(self._prefix(pos), _BINARY),
                            _json_value(field, dictionary),
                            pa.scalar(b"", _BINARY),
                        )
                    )
                else:
                    encoded.append(_avro_union([_avro_value(field, dictionary)], field, dictionary))
            combined = encoded[0]
            for more in encoded[1:]:  # the cartesian product, first field varying slowest
                outer = np.repeat(np.arange(len(combined)), len(more))
                inner = np.tile(np.arange(len(more)), len(combined))
                combined = pc.binary_join_element_wise(combined.take(outer), more.take(inner), pa.scalar(b"", _BINARY))
            if suffix:
                combined = pc.binary_join_element_wise(combined, pa.scalar(suffix, _BINARY), pa.scalar(b"", _BINARY))
            hit = (dictionaries, combined)  # holding them keeps the buffers (and addresses) alive
            self._dictionaries[key] = hit
            if len(self._dictionaries) > 64:
                self._dictionaries.popitem(last=False)
        else:
            self._dictionaries.move_to_end(key)
        index = columns[0].indices.to_numpy().astype(np.int64)
        for column in columns[1:]:
            index = index * len(column.dictionary) + column.indices.to_numpy()
        return hit[1].take(pa.array(index))

    # -- JSON ---------------------------------------------------------------------------------------

    def _json(self, field: Field, column: pa.Array) -> list[Part]:
        if pa.types.is_dictionary(column.type):
            column = column.dictionary.take(column.indices)  # categorical with nulls: decoded
        if field.kind == "string" and not column.null_count:  # the common case: no join to quote it
            return [b'"', _json_escape(pc.cast(column, pa.string())).cast(_BINARY), b'"']
        text = _json_value(field, column)
        if text.null_count:  # nulls, and NaN/infinity which JSON cannot write
            text = pc.fill_null(text, b"null")
        return [text]

    # -- Avro ---------------------------------------------------------------------------------------

    def _avro(self, field: Field, column: pa.Array) -> list[Part]:
        if pa.types.is_dictionary(column.type):
            column = column.dictionary.take(column.indices)
        if column.null_count and not field.nullable:
            raise EventSchemaError(
                f"field {field.name!r} is not nullable in schema {self.schema['name']} but has nulls"
            )
        return (
            [_avro_union([_avro_value(field, column)], field, column)]
            if field.nullable
            else [_avro_value(field, column)]
        )


def _categorical(column: pa.Array) -> bool:
    """A dictionary column without nulls: encoded once per dictionary entry, then taken."""
    return pa.types.is_dictionary(column.type) and column.null_count == 0


def _avro_union(body: list[pa.Array], field: Field, column: pa.Array) -> pa.Array:
    """A ``["null", T]`` value: the branch index (zigzag varint: 0 -> 0x00, 1 -> 0x02), then the value."""
    if not field.nullable:
        return body[0]
    null_code, value_code = (b"\x00", b"\x02") if field.null_branch == 0 else (b"\x02", b"\x00")
    branch = pc.if_else(pc.is_valid(column), pa.scalar(value_code, _BINARY), pa.scalar(null_code, _BINARY))
    options = pc.JoinOptions(null_handling="skip")
    return pc.binary_join_element_wise(branch, body[0], pa.scalar(b"", _BINARY), options=options)


def _join(parts: list[Part], rows: int, *, skip_nulls: bool) -> pa.Array:
    merged: list[Part] = []
    for part in parts:  # adjacent literals become one (fewer arguments to the join kernel)
        if isinstance(part, bytes) and merged and isinstance(merged[-1], bytes):
            merged[-1] += part
        else:
            merged.append(part)
    if len(merged) == 1:
        only = merged[0]
        return pa.array([only] * rows, _BINARY) if isinstance(only, bytes) else only
    args = [pa.scalar(p, _BINARY) if isinstance(p, bytes) else p for p in merged]
    options = pc.JoinOptions(null_handling="skip" if skip_nulls else "emit_null")
    return pc.binary_join_element_wise(*args, pa.scalar(b"", _BINARY), options=options)


def _json_value(field: Field, column: pa.Array) -> pa.Array:
    """The JSON text of each value (nulls stay null)."""
    kind = field.kind
    if kind in ("long", "int"):
        return pc.cast(column, pa.string()).cast(_BINARY)
    if kind in ("double", "float"):
        # JSON has no NaN or infinity: they become null, as most JSON encoders write them.
        finite = pc.if_else(pc.is_finite(column), column, pa.scalar(None, column.type))
        text = pc.cast(finite, pa.string())
        values = column.to_numpy(zero_copy_only=False)
        whole = np.isfinite(values) & (values == np.trunc(values))
        if whole.any():  # Arrow writes 9.0 as "9"; keep it a float for typed readers: "9.0"
            whole &= ~pc.match_substring(text, "e").fill_null(False).to_numpy(zero_copy_only=False)
            text = pc.if_else(pa.array(whole), pc.binary_join_element_wise(text, ".0", ""), text)
        return text.cast(_BINARY)
    if kind == "boolean":
        return pc.if_else(column, pa.scalar(b"true", _BINARY), pa.scalar(b"false", _BINARY))
    if kind == "bytes":
        values = [None if v is None else base64.b64encode(v).decode() for v in column.to_pylist()]
        column = pa.array(values, pa.string())
    quote = pa.scalar(b'"', _BINARY)
    escaped = _json_escape(pc.cast(column, pa.string())).cast(_BINARY)
    return pc.binary_join_element_wise(quote, escaped, quote, pa.scalar(b"", _BINARY))


def _json_escape(text: pa.Array) -> pa.Array:
    if not _needs_escape(text):
        return text
    text = pc.replace_substring(text, "\\", "\\\\")
    text = pc.replace_substring(text, '"', '\\"')
    for code in range(32):
        char = chr(code)
        if pc.any(pc.match_substring(text, char)).as_py():
            text = pc.replace_substring(text, char, _SHORT_ESCAPES.get(char, f"\\u{code:04x}"))
    return text


def _needs_escape(text: pa.Array) -> bool:
    """Whether any string holds a quote, a backslash or a control character (a byte scan, no regex)."""
    if len(text) == 0:
        return False
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int32, count=len(text) + 1, offset=4 * text.offset)
    data = np.frombuffer(text.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]] if text.buffers()[2] else None
    if data is None or not len(data):
        return False
    return bool(((data < 0x20) | (data == 0x22) | (data == 0x5C)).any())


def _avro_value(field: Field, column: pa.Array) -> pa.Array:
    """The Avro binary encoding of each value (nulls stay null)."""
    kind, n = field.kind, len(column)
    validity = pc.is_valid(column) if column.null_count else None
    if kind in ("long", "int"):
        values = column.cast(pa.int64()).fill_null(0).to_numpy()
        encoded = varints(values)
    elif kind in ("double", "float"):
        dtype = np.float64 if kind == "double" else np.float32
        values = np.ascontiguousarray(column.cast(pa.float64()).fill_null(0).to_numpy(), dtype=dtype)
        width = values.itemsize
        offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
        encoded = pa.Array.from_buffers(_BINARY, n, [None, pa.py_buffer(offsets), pa.py_buffer(values.view(np.uint8))])
    elif kind == "boolean":
        values = column.fill_null(False).to_numpy(zero_copy_only=False).astype(np.uint8)
        offsets = np.arange(n + 1, dtype=np.int32)
        encoded = pa.Array.from_buffers(_BINARY, n, [None, pa.py_buffer(offsets), pa.py_buffer(values)])
    else:  # string or bytes: the byte length as a varint, then the bytes
        raw = pc.cast(column, pa.string() if kind == "string" else _BINARY).cast(_BINARY).fill_null(b"")
        lengths = pc.binary_length(raw).to_numpy().astype(np.int64)
        encoded = pc.binary_join_element_wise(varints(lengths), raw, pa.scalar(b"", _BINARY))
    if validity is not None:
        encoded = pc.if_else(validity, encoded, _NULL)
    return encoded


def varints(values: np.ndarray) -> pa.Array:
    """Avro's zigzag varint of each int64 as a binary array (1 to 10 bytes per value)."""
    n = len(values)
    zigzag = ((values.astype(np.int64) << 1) ^ (values.astype(np.int64) >> 63)).view(np.uint64)
    groups = np.empty((n, 10), dtype=np.uint8)
    lengths = np.ones(n, dtype=np.int64)
    width = 1
    for i in range(10):
        low = (zigzag & np.uint64(0x7F)).astype(np.uint8)
        zigzag = zigzag >> np.uint64(7)
        more = zigzag != 0
        groups[:, i] = low | (more.astype(np.uint8) << 7)
        width = i + 1
        if not more.any():
            break
        lengths += more
    used = groups[:, :width]
    data = used[np.arange(width) < lengths[:, None]]  # row-major: each value's bytes, in order
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.Array.from_buffers(_BINARY, n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])
