"""What the routes take from a request: the store the app serves, the JSON body, boolean flags and
the schema a body carries."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Depends, Query, Request

from streamwise.schemas.exceptions import RegistryError
from streamwise.schemas.store import SchemaStore

Flag = Annotated[bool, Query()]


async def registry_store(request: Request) -> SchemaStore:
    """The store ``create_app`` put on ``app.state``.

    Async because it only reads an attribute: a sync dependency would cost a worker thread per request.
    """
    store: SchemaStore = request.app.state.store
    return store


Store = Annotated[SchemaStore, Depends(registry_store)]


# Confluent's @Consumes: its two media types, plain JSON, and octet-stream, which it reads as JSON since
# it is what a request without a declared type defaults to. No form or text type: those are the ones a
# browser may send cross-site without asking first.
JSON_MEDIA_TYPES = frozenset(
    {
        "application/vnd.schemaregistry.v1+json",
        "application/vnd.schemaregistry+json",
        "application/json",
        "application/octet-stream",
    }
)


async def json_body(request: Request) -> dict[str, Any]:
    """The request body as a JSON object: 415 for another content type, 413 past ``max_body_bytes``.

    The body is read chunk by chunk and refused as soon as it passes the limit, so neither a false
    ``Content-Length`` nor a chunked body without one is ever held in memory whole.
    """
    declared = request.headers.get("content-type")
    media = declared.split(";")[0].strip().lower() if declared is not None else None
    if media is not None and media not in JSON_MEDIA_TYPES:
        raise RegistryError(415, f"Unsupported media type {media[:100]!r}: send application/vnd.schemaregistry.v1+json")
    limit: int = request.app.state.max_body_bytes
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > limit):
        raise RegistryError(413, f"Request body too large: at most {limit} bytes")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise RegistryError(413, f"Request body too large: at most {limit} bytes")
    if media is None and raw.strip():
        raise RegistryError(415, "A request body needs a Content-Type: application/vnd.schemaregistry.v1+json")
    try:
        body = json.loads(raw) if raw.strip() else {}
    except ValueError as exc:
        raise RegistryError(400, f"Unrecognized JSON body: {exc}") from None
    except RecursionError:
        raise RegistryError(400, "Unrecognized JSON body: nested too deeply") from None
    if not isinstance(body, dict):
        raise RegistryError(422, "The request body must be a JSON object")
    return body


Body = Annotated[dict[str, Any], Depends(json_body)]


def schema_field(body: dict[str, Any]) -> tuple[str, str, list[Any]]:
    """The body's schema text, its type (``AVRO`` when absent) and its references; 42201 without a schema."""
    schema = body.get("schema")
    if not isinstance(schema, str):
        raise RegistryError(42201, "Invalid schema: the body needs a 'schema' field holding the schema as a string")
    schema_type = body.get("schemaType") or "AVRO"
    if not isinstance(schema_type, str):
        raise RegistryError(42201, f"Invalid schema: schemaType must be a string, not {json.dumps(schema_type)[:50]}")
    references = body.get("references") or []
    if not isinstance(references, list):
        raise RegistryError(42201, "Invalid schema: references must be a list of {name, subject, version} objects")
    return schema, schema_type.upper(), references
