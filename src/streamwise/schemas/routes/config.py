"""``/config``: compatibility levels, global and per subject.

Reads and deletes answer ``compatibilityLevel``, writes answer ``compatibility``: Confluent's keys.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from streamwise.schemas.routes.dependencies import Body, Flag, Store

router = APIRouter()


@router.get("/config")
def get_config(store: Store) -> dict[str, Any]:
    """The global level."""
    return {"compatibilityLevel": store.compatibility().value}


@router.put("/config")
def put_config(store: Store, body: Body) -> dict[str, Any]:
    """Sets the global level; 42203 for a level that does not exist."""
    return {"compatibility": store.set_compatibility(body.get("compatibility")).value}


@router.delete("/config")
def delete_config(store: Store) -> dict[str, Any]:
    """Resets the global level to the default; answers the level that was in force."""
    return {"compatibilityLevel": store.delete_compatibility().value}


@router.get("/config/{subject:path}")
def get_subject_config(store: Store, subject: str, defaultToGlobal: Flag = False) -> dict[str, Any]:
    """The subject's own level; 40408 without one, unless ``defaultToGlobal``."""
    return {"compatibilityLevel": store.compatibility(subject, default_to_global=defaultToGlobal).value}


@router.put("/config/{subject:path}")
def put_subject_config(store: Store, subject: str, body: Body) -> dict[str, Any]:
    """Sets the subject's own level."""
    return {"compatibility": store.set_compatibility(body.get("compatibility"), subject).value}


@router.delete("/config/{subject:path}")
def delete_subject_config(store: Store, subject: str) -> dict[str, Any]:
    """Drops the subject's own level, so it follows the global one; answers the level that was in force."""
    return {"compatibilityLevel": store.delete_compatibility(subject).value}
