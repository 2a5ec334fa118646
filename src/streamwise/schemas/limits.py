"""Bounds on the schemas the registry parses: how deeply their JSON may nest.

Parsing, validating and comparing schemas recurse along their nesting, so a schema nested thousands
of levels deep (a few kilobytes of ``[[[[...]]]]``) would exhaust Python's stack and fail as a server
error. Every schema text is measured here first, without recursion, and refused as invalid (42201)
past :data:`MAX_NESTING`: far deeper than any record a pipeline reads.
"""

from __future__ import annotations

import json
from typing import Any

from streamwise.schemas.exceptions import InvalidSchemaError

MAX_NESTING = 200


def load_schema_json(text: str) -> Any:
    """``text`` as JSON, refused with InvalidSchemaError when it is not JSON or nests too deeply.

    ``json.JSONDecodeError`` passes through, so a caller may try the text another way (Avro's bare
    primitive names are not JSON).
    """
    try:
        document = json.loads(text)
    except RecursionError:
        raise InvalidSchemaError(f"Invalid schema: nested deeper than {MAX_NESTING} levels") from None
    check_nesting(document)
    return document


def check_nesting(document: Any) -> None:
    """InvalidSchemaError when ``document``'s lists and objects nest deeper than :data:`MAX_NESTING`."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        for child in children:
            if isinstance(child, dict | list):
                if depth >= MAX_NESTING:
                    raise InvalidSchemaError(f"Invalid schema: nested deeper than {MAX_NESTING} levels")
                stack.append((child, depth + 1))
