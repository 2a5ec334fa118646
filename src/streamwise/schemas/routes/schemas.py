"""``/schemas``: the schema types served, every registered version, and schemas by their global id."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from streamwise.schemas.formats import SCHEMA_TYPES
from streamwise.schemas.routes.dependencies import Flag, Store
from streamwise.schemas.routes.media import MEDIA_TYPE

router = APIRouter()


@router.get("/schemas/types")
def schema_types() -> list[str]:
    """The schema types this registry parses."""
    return list(SCHEMA_TYPES)


@router.get("/schemas")
def schemas(store: Store, deleted: Flag = False, subjectPrefix: str = "") -> list[dict[str, Any]]:
    """Every version of every subject starting with ``subjectPrefix``."""
    return [v.to_json() for v in store.all_versions(deleted=deleted) if v.subject.startswith(subjectPrefix)]


@router.get("/schemas/ids/{schema_id}")
def schema_by_id(store: Store, schema_id: int) -> dict[str, Any]:
    """The schema with this id, its type named unless it is Avro (Confluent leaves the default out)."""
    schema_type, text = store.schema(schema_id)
    return {"schema": text} if schema_type == "AVRO" else {"schemaType": schema_type, "schema": text}


@router.get("/schemas/ids/{schema_id}/schema")
def raw_schema_by_id(store: Store, schema_id: int) -> Response:
    """The schema with this id, as the bare schema text."""
    return Response(store.schema(schema_id)[1], media_type=MEDIA_TYPE)


@router.get("/schemas/ids/{schema_id}/subjects")
def subjects_by_id(store: Store, schema_id: int, deleted: Flag = False) -> list[str]:
    """The subjects holding this schema, sorted."""
    return sorted({subject for subject, _ in store.id_versions(schema_id, deleted=deleted)})


@router.get("/schemas/ids/{schema_id}/versions")
def versions_by_id(store: Store, schema_id: int, deleted: Flag = False) -> list[dict[str, Any]]:
    """Each subject and version holding this schema."""
    return [{"subject": s, "version": v} for s, v in store.id_versions(schema_id, deleted=deleted)]
