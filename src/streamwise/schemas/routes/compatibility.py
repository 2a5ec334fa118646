"""``/compatibility``: whether a schema could be registered under a subject, without registering it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from streamwise.schemas.routes.dependencies import Body, Flag, Store, schema_field
from streamwise.schemas.store import SchemaStore, confluent_messages

router = APIRouter()


def check(store: SchemaStore, subject: str, body: dict[str, Any], version: str | None, verbose: bool) -> dict[str, Any]:
    """The body's schema checked against one version, or when ``version`` is None against what registering
    it would check; ``messages`` only when ``verbose``."""
    schema, schema_type, _ = schema_field(body)
    if version is not None and version.lower() == "latest" and subject not in store.subjects():
        result_ok, messages = True, []  # nothing registered yet: anything is compatible, as Confluent says
    else:
        result = store.check(subject, schema, schema_type, version)
        result_ok, messages = result.compatible, confluent_messages(result)
    return {"is_compatible": result_ok, "messages": messages} if verbose else {"is_compatible": result_ok}


@router.post("/compatibility/subjects/{subject:path}/versions/{version}")
def compatibility_version(
    store: Store, subject: str, version: str, body: Body, verbose: Flag = False
) -> dict[str, Any]:
    """The body's schema checked against one version (a number or ``latest``)."""
    return check(store, subject, body, version, verbose)


@router.post("/compatibility/subjects/{subject:path}/versions")
def compatibility_all(store: Store, subject: str, body: Body, verbose: Flag = False) -> dict[str, Any]:
    """The body's schema checked as registering it would: against the latest version, or all of them for a transitive level."""
    return check(store, subject, body, None, verbose)
