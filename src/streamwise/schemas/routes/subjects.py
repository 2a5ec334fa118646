"""``/subjects``: subjects and their versions: register, read, look up and delete (soft, then hard)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from streamwise.schemas.routes.dependencies import Body, Flag, Store, schema_field
from streamwise.schemas.routes.media import MEDIA_TYPE

router = APIRouter()


@router.get("/subjects")
def subjects(store: Store, deleted: Flag = False, deleted_only: Flag = False, subjectPrefix: str = "") -> list[str]:
    """Subject names starting with ``subjectPrefix``: live ones, with soft-deleted ones, or only those."""
    if deleted_only:
        live = set(store.subjects(prefix=subjectPrefix))
        return [s for s in store.subjects(deleted=True, prefix=subjectPrefix) if s not in live]
    return store.subjects(deleted=deleted, prefix=subjectPrefix)


@router.get("/subjects/{subject:path}/versions")
def versions(store: Store, subject: str, deleted: Flag = False) -> list[int]:
    """The subject's version numbers."""
    return store.versions(subject, deleted=deleted)


@router.post("/subjects/{subject:path}/versions")
def register(store: Store, subject: str, body: Body) -> dict[str, Any]:
    """Registers the body's schema under the subject; answers its global id."""
    schema, schema_type, references = schema_field(body)
    return {"id": store.register(subject, schema, schema_type, references).id}


@router.get("/subjects/{subject:path}/versions/{version}")
def version(store: Store, subject: str, version: str, deleted: Flag = False) -> dict[str, Any]:
    """One version (a number or ``latest``) with its subject, id and schema."""
    return store.version(subject, version, deleted=deleted).to_json()


@router.get("/subjects/{subject:path}/versions/{version}/schema")
def raw_version(store: Store, subject: str, version: str, deleted: Flag = False) -> Response:
    """One version's bare schema text."""
    return Response(store.version(subject, version, deleted=deleted).schema, media_type=MEDIA_TYPE)


@router.get("/subjects/{subject:path}/versions/{version}/referencedby")
def referenced_by(store: Store, subject: str, version: str) -> list[int]:
    """The ids of schemas referring to this version: none, once the version is known to exist."""
    store.version(subject, version)
    return []  # references are not supported, so nothing refers to anything


@router.delete("/subjects/{subject:path}/versions/{version}")
def delete_version(store: Store, subject: str, version: str, permanent: Flag = False) -> int:
    """Deletes one version, soft unless ``permanent``; answers its number."""
    return store.delete_version(subject, version, permanent=permanent)


@router.post("/subjects/{subject:path}")
def lookup(store: Store, subject: str, body: Body, deleted: Flag = False) -> dict[str, Any]:
    """The subject's version holding the body's schema."""
    schema, schema_type, _ = schema_field(body)
    return store.lookup(subject, schema, schema_type, deleted=deleted).to_json()


@router.delete("/subjects/{subject:path}")
def delete_subject(store: Store, subject: str, permanent: Flag = False) -> list[int]:
    """Deletes every version of the subject, soft unless ``permanent``; answers their numbers."""
    return store.delete_subject(subject, permanent=permanent)
