"""The registry's REST API: Confluent Schema Registry's paths, bodies, status and error codes.

Errors answer ``{"error_code": 40401, "message": "Subject 'x' not found."}`` with the HTTP status
of the code's first three digits. Request bodies are JSON objects of at most
``RegistrySettings.max_body_bytes``, sent as one of Confluent's accepted types
(``application/vnd.schemaregistry.v1+json``, ``application/vnd.schemaregistry+json``,
``application/json``, ``application/octet-stream``): another type answers 415, a larger body 413.
Answers carry ``application/vnd.schemaregistry.v1+json``. Query parameters this registry has no use
for (``normalize``, ``format``...) are accepted and ignored, so clients that send them work.

Before any route, :class:`~streamwise.schemas.access.AccessGuard` refuses a foreign ``Host`` (421),
a browser's cross-site write (403) and, when users are configured, an unauthenticated write (401).

The routes live in :mod:`streamwise.schemas.routes`, one router per resource; this module builds the
app, puts the store and the body limit on ``app.state`` for them and answers every error in the one
Confluent shape.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from streamwise.config import RegistrySettings
from streamwise.schemas.access import AccessGuard
from streamwise.schemas.exceptions import RegistryError
from streamwise.schemas.routes import ROUTERS
from streamwise.schemas.routes.media import RegistryResponse
from streamwise.schemas.store import SchemaStore

log = logging.getLogger(__name__)


def create_app(store: SchemaStore, settings: RegistrySettings | None = None) -> FastAPI:
    """The REST API over ``store``, answering the hosts, body sizes and users of ``settings``
    (the defaults: ``127.0.0.1:8081`` and ``localhost:8081``, 1 MiB, writes open)."""
    settings = settings or RegistrySettings()
    app = FastAPI(
        title="streamwise schema registry",
        default_response_class=RegistryResponse,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.store = store
    app.state.max_body_bytes = settings.max_body_bytes
    app.add_middleware(AccessGuard, hosts=settings.hosts(), users_dir=settings.users_dir, tls=settings.tls)
    # The decorator, called: its typing accepts a handler of one exception class, add_exception_handler's does not.
    app.exception_handler(RegistryError)(_registry_error)
    app.exception_handler(StarletteHTTPException)(_http_error)
    app.exception_handler(RequestValidationError)(_invalid)
    app.exception_handler(Exception)(_unexpected)
    for router in ROUTERS:
        app.include_router(router)
    return app


def _error(status: int, code: int, message: str) -> RegistryResponse:
    return RegistryResponse({"error_code": code, "message": message}, status_code=status)


async def _registry_error(_request: Request, exc: RegistryError) -> Response:
    return _error(exc.status, exc.code, exc.message)


async def _http_error(_request: Request, exc: StarletteHTTPException) -> Response:
    # Starlette's own 404 and 405 in Confluent's shape, the status standing in for the error code.
    return _error(exc.status_code, exc.status_code, f"HTTP {exc.status_code} {HTTPStatus(exc.status_code).phrase}")


async def _invalid(_request: Request, exc: RequestValidationError) -> Response:
    where = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
    return _error(422, 422, f"Unprocessable request: {where}")


async def _unexpected(_request: Request, exc: Exception) -> Response:
    # A bug, not the client's doing: still Confluent's shape, with its generic backend error code.
    log.error("registry request failed: %s: %s", type(exc).__name__, exc)
    return _error(500, 50001, "Error in the backend data store")
