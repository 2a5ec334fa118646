"""A JSON source's Spark DDL schema (``'event_id BIGINT, amount DECIMAL(10,2), loc STRUCT<lat: DOUBLE,
lon: DOUBLE>'``) and its top-level field names.

Decoding has Spark at hand, so Spark parses the schema (:func:`spark_schema`). ``verify`` runs without a
JVM and only needs the top-level names: :func:`field_names` splits the schema at the commas outside
``<>``, ``()``, quotes, backticks and comments, and reads each field's name (backticked or not).
tests/integration/pipeline/test_pipeline_ddl_decoding.py checks that it agrees with Spark's parser over many schemas.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from streamwise.pipeline.exceptions import PipelineError

if TYPE_CHECKING:
    from pyspark.sql.types import StructType

_OPEN, _CLOSE = "<(", ">)"
_STRUCT = re.compile(r"struct\s*<(?P<fields>.*)>", re.IGNORECASE | re.DOTALL)
_NAME = re.compile(r"[^\s:`<>(),'\"]+")


def spark_schema(ddl: str) -> StructType:
    """``ddl`` parsed by Spark (an active SparkSession is needed); PipelineError when Spark rejects it
    or it is a single type rather than a list of fields."""
    from pyspark.errors import PySparkException  # pyspark loads only to parse a DDL: validating a spec needs no Spark
    from pyspark.sql.types import DataType, StructType

    try:
        parsed = DataType.fromDDL(ddl)
    except PySparkException as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PipelineError(
            f"source schema {ddl!r} is not valid Spark DDL: {first}",
            hint="write it as 'name TYPE, ...', e.g. 'event_id BIGINT, amount DECIMAL(10,2), event_time LONG'",
        ) from None
    if not isinstance(parsed, StructType):
        raise PipelineError(
            f"source schema {ddl!r} is a single type ({parsed.simpleString()}), not a list of fields",
            hint="name each field: 'name TYPE, ...'",
        )
    return parsed


def field_names(ddl: str) -> list[str]:
    """The top-level field names of ``ddl``, in order, without a JVM (see the module docstring).
    ValueError when a bracket, quote or backtick is not closed, or a field has no name or no type."""
    parts = _split(ddl)
    if len(parts) == 1 and (whole := _STRUCT.fullmatch(parts[0].strip())):  # 'struct<a: INT, b: STRING>'
        parts = _split(whole.group("fields"))
    if parts == [""]:
        return []
    return [_name(part, ddl) for part in parts]


def _split(text: str) -> list[str]:
    """``text`` cut at its top-level commas, comments replaced by a space."""
    parts: list[str] = []
    current: list[str] = []
    depth, i, n = 0, 0, len(text)
    while i < n:
        char = text[i]
        if char in "'\"`":  # a quoted string or a backticked name: up to the same, unescaped, quote
            end = i + 1
            while end < n and text[end] != char:
                end += 2 if char != "`" and text[end] == "\\" else 1
            if end >= n:
                raise ValueError(f"schema {text!r}: {char} opened at character {i + 1} is never closed")
            current.append(text[i : end + 1])
            i = end + 1
            continue
        if text.startswith("--", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
            current.append(" ")
            continue
        if text.startswith("/*", i):
            i = _after_comment(text, i)
            current.append(" ")
            continue
        if char in _OPEN:
            depth += 1
        elif char in _CLOSE:
            depth -= 1
            if depth < 0:
                raise ValueError(f"schema {text!r}: {char} at character {i + 1} closes nothing")
        elif char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
            i += 1
            continue
        current.append(char)
        i += 1
    if depth:
        raise ValueError(f"schema {text!r}: {depth} bracket(s) never closed")
    parts.append("".join(current).strip())
    return parts


def _after_comment(text: str, start: int) -> int:
    """The index after the (possibly nested, as in Spark) ``/* ... */`` comment opened at ``start``."""
    depth, i = 0, start
    while i < len(text):
        if text.startswith("/*", i):
            depth, i = depth + 1, i + 2
        elif text.startswith("*/", i):
            depth, i = depth - 1, i + 2
            if depth == 0:
                return i
        else:
            i += 1
    raise ValueError(f"schema {text!r}: the comment opened at character {start + 1} is never closed")


def _name(part: str, ddl: str) -> str:
    """The name a field definition starts with: `back ticked` (`` for a backtick) or a plain word."""
    if part.startswith("`"):
        end = 1
        while True:  # _split made sure the backticks pair up
            end = part.index("`", end)
            if part.startswith("``", end):
                end += 2
                continue
            break
        name, rest = part[1:end].replace("``", "`"), part[end + 1 :]
    elif match := _NAME.match(part):
        name, rest = match.group(), part[match.end() :]
    elif part:
        raise ValueError(f"schema {ddl!r}: field {part!r} has no name")
    else:
        raise ValueError(f"schema {ddl!r}: an empty field (a comma too many?)")
    separated = part.startswith("`") or rest[:1].isspace() or rest.startswith(":")
    if not separated or not rest.strip(" \t\r\n:"):
        raise ValueError(f"schema {ddl!r}: field {name!r} has no type")
    return name
