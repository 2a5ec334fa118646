"""The registry's REST routes, one router per resource.

- :mod:`.schemas`: ``/schemas`` (types, every version, schemas by global id).
- :mod:`.subjects`: ``/subjects`` (register, read, look up, delete).
- :mod:`.compatibility`: ``/compatibility`` (would a schema be accepted).
- :mod:`.config`: ``/config`` (compatibility levels, global and per subject).
- :mod:`.server`: ``/`` and ``/mode``.

Paths are written out whole rather than as router prefixes, so each reads as Confluent's docs spell it.
The routers hold no state: each route asks for the store through :data:`.dependencies.Store`, so one
router serves any number of apps.
"""

from fastapi import APIRouter

from streamwise.schemas.routes import compatibility, config, schemas, server, subjects

ROUTERS: tuple[APIRouter, ...] = (server.router, schemas.router, subjects.router, compatibility.router, config.router)

__all__ = ["ROUTERS"]
