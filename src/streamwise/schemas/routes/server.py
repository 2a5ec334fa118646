"""The server itself: the root answer clients probe and the mode, always READWRITE."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

router = APIRouter()


@router.get("/")
def root() -> dict[str, Any]:
    """An empty object: Confluent's answer that the registry is up."""
    return {}


@router.get("/mode")
def mode() -> dict[str, Any]:
    """The global mode."""
    return {"mode": "READWRITE"}  # one writable registry: no IMPORT or READONLY modes


@router.get("/mode/{subject:path}")
def subject_mode(subject: str) -> dict[str, Any]:
    """A subject's mode, the global one for every subject."""
    return {"mode": "READWRITE"}
