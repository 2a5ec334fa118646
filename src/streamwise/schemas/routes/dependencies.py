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


async def json_body(request: Request) -> dict[str, Any]:
    """The request body as a JSON object, whatever content type the client declared."""
    raw = await request.body()
    try:
        body = json.loads(raw) if raw.strip() else {}
    except ValueError as exc:
        raise RegistryError(400, f"Unrecognized JSON body: {exc}") from None
    if not isinstance(body, dict):
        raise RegistryError(422, "The request body must be a JSON object")
    return body


Body = Annotated[dict[str, Any], Depends(json_body)]


def schema_field(body: dict[str, Any]) -> tuple[str, str, list[Any]]:
    """The body's schema text, its type (``AVRO`` when absent) and its references; 42201 without a schema."""
    schema = body.get("schema")
    if not isinstance(schema, str):
        raise RegistryError(42201, "Invalid schema: the body needs a 'schema' field holding the schema as a string")
    return schema, str(body.get("schemaType") or "AVRO").upper(), list(body.get("references") or [])
