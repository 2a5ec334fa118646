"""The registry's REST API: Confluent Schema Registry's paths, bodies, status and error codes.

Errors answer ``{"error_code": 40401, "message": "Subject 'x' not found."}`` with the HTTP status
of the code's first three digits. Request bodies are read as JSON whatever their content type
(``application/vnd.schemaregistry.v1+json``, ``application/json``, ...); answers carry
``application/vnd.schemaregistry.v1+json``. Query parameters this registry has no use for
(``normalize``, ``format``...) are accepted and ignored, so clients that send them work.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from streamwise.schemas.exceptions import RegistryError
from streamwise.schemas.formats import SCHEMA_TYPES
from streamwise.schemas.store import SchemaStore, confluent_messages

MEDIA_TYPE = "application/vnd.schemaregistry.v1+json"

Flag = Annotated[bool, Query()]


class RegistryResponse(JSONResponse):
    """JSON with the registry's media type."""

    media_type = MEDIA_TYPE


def _error(status: int, code: int, message: str) -> RegistryResponse:
    return RegistryResponse({"error_code": code, "message": message}, status_code=status)


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


def _schema_field(body: dict[str, Any]) -> tuple[str, str, list[Any]]:
    schema = body.get("schema")
    if not isinstance(schema, str):
        raise RegistryError(42201, "Invalid schema: the body needs a 'schema' field holding the schema as a string")
    return schema, str(body.get("schemaType") or "AVRO").upper(), list(body.get("references") or [])


def create_app(store: SchemaStore) -> FastAPI:
    """The REST API over ``store``."""
    app = FastAPI(
        title="streamwise schema registry",
        default_response_class=RegistryResponse,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    @app.exception_handler(RegistryError)
    async def _registry_error(_request: Request, exc: RegistryError) -> Response:
        return _error(exc.status, exc.code, exc.message)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        return _error(exc.status_code, exc.status_code, f"HTTP {exc.status_code} {HTTPStatus(exc.status_code).phrase}")

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> Response:
        where = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return _error(422, 422, f"Unprocessable request: {where}")

    @app.get("/")
    def root() -> dict[str, Any]:
        return {}

    @app.get("/schemas/types")
    def schema_types() -> list[str]:
        return list(SCHEMA_TYPES)

    @app.get("/schemas")
    def schemas(deleted: Flag = False, subjectPrefix: str = "") -> list[dict[str, Any]]:
        return [v.to_json() for v in store.all_versions(deleted=deleted) if v.subject.startswith(subjectPrefix)]

    @app.get("/schemas/ids/{schema_id}")
    def schema_by_id(schema_id: int) -> dict[str, Any]:
        schema_type, text = store.schema(schema_id)
        return {"schema": text} if schema_type == "AVRO" else {"schemaType": schema_type, "schema": text}

    @app.get("/schemas/ids/{schema_id}/schema")
    def raw_schema_by_id(schema_id: int) -> Response:
        return Response(store.schema(schema_id)[1], media_type=MEDIA_TYPE)

    @app.get("/schemas/ids/{schema_id}/subjects")
    def subjects_by_id(schema_id: int, deleted: Flag = False) -> list[str]:
        return sorted({subject for subject, _ in store.id_versions(schema_id, deleted=deleted)})

    @app.get("/schemas/ids/{schema_id}/versions")
    def versions_by_id(schema_id: int, deleted: Flag = False) -> list[dict[str, Any]]:
        return [{"subject": s, "version": v} for s, v in store.id_versions(schema_id, deleted=deleted)]

    @app.get("/subjects")
    def subjects(deleted: Flag = False, deleted_only: Flag = False, subjectPrefix: str = "") -> list[str]:
        if deleted_only:
            live = set(store.subjects(prefix=subjectPrefix))
            return [s for s in store.subjects(deleted=True, prefix=subjectPrefix) if s not in live]
        return store.subjects(deleted=deleted, prefix=subjectPrefix)

    @app.get("/subjects/{subject}/versions")
    def versions(subject: str, deleted: Flag = False) -> list[int]:
        return store.versions(subject, deleted=deleted)

    @app.post("/subjects/{subject}/versions")
    def register(subject: str, body: Body) -> dict[str, Any]:
        schema, schema_type, references = _schema_field(body)
        return {"id": store.register(subject, schema, schema_type, references).id}

    @app.get("/subjects/{subject}/versions/{version}")
    def version(subject: str, version: str, deleted: Flag = False) -> dict[str, Any]:
        return store.version(subject, version, deleted=deleted).to_json()

    @app.get("/subjects/{subject}/versions/{version}/schema")
    def raw_version(subject: str, version: str, deleted: Flag = False) -> Response:
        return Response(store.version(subject, version, deleted=deleted).schema, media_type=MEDIA_TYPE)

    @app.get("/subjects/{subject}/versions/{version}/referencedby")
    def referenced_by(subject: str, version: str) -> list[int]:
        store.version(subject, version)
        return []  # references are not supported, so nothing refers to anything

    @app.delete("/subjects/{subject}/versions/{version}")
    def delete_version(subject: str, version: str, permanent: Flag = False) -> int:
        return store.delete_version(subject, version, permanent=permanent)

    @app.post("/subjects/{subject}")
    def lookup(subject: str, body: Body, deleted: Flag = False) -> dict[str, Any]:
        schema, schema_type, _ = _schema_field(body)
        return store.lookup(subject, schema, schema_type, deleted=deleted).to_json()

    @app.delete("/subjects/{subject}")
    def delete_subject(subject: str, permanent: Flag = False) -> list[int]:
        return store.delete_subject(subject, permanent=permanent)

    def _compatibility(subject: str, body: dict[str, Any], version: str | None, verbose: bool) -> dict[str, Any]:
        schema, schema_type, _ = _schema_field(body)
        if version is not None and version.lower() == "latest" and subject not in store.subjects():
            result_ok, messages = True, []  # nothing registered yet: anything is compatible, as Confluent says
        else:
            result = store.check(subject, schema, schema_type, version)
            result_ok, messages = result.compatible, confluent_messages(result)
        return {"is_compatible": result_ok, "messages": messages} if verbose else {"is_compatible": result_ok}

    @app.post("/compatibility/subjects/{subject}/versions/{version}")
    def compatibility_version(subject: str, version: str, body: Body, verbose: Flag = False) -> dict[str, Any]:
        return _compatibility(subject, body, version, verbose)

    @app.post("/compatibility/subjects/{subject}/versions")
    def compatibility_all(subject: str, body: Body, verbose: Flag = False) -> dict[str, Any]:
        return _compatibility(subject, body, None, verbose)

    @app.get("/config")
    def get_config() -> dict[str, Any]:
        return {"compatibilityLevel": store.compatibility().value}

    @app.put("/config")
    def put_config(body: Body) -> dict[str, Any]:
        return {"compatibility": store.set_compatibility(body.get("compatibility")).value}

    @app.delete("/config")
    def delete_config() -> dict[str, Any]:
        return {"compatibilityLevel": store.delete_compatibility().value}

    @app.get("/config/{subject}")
    def get_subject_config(subject: str, defaultToGlobal: Flag = False) -> dict[str, Any]:
        return {"compatibilityLevel": store.compatibility(subject, default_to_global=defaultToGlobal).value}

    @app.put("/config/{subject}")
    def put_subject_config(subject: str, body: Body) -> dict[str, Any]:
        return {"compatibility": store.set_compatibility(body.get("compatibility"), subject).value}

    @app.delete("/config/{subject}")
    def delete_subject_config(subject: str) -> dict[str, Any]:
        return {"compatibilityLevel": store.delete_compatibility(subject).value}

    @app.get("/mode")
    def mode() -> dict[str, Any]:
        return {"mode": "READWRITE"}  # one writable registry: no IMPORT or READONLY modes

    @app.get("/mode/{subject}")
    def subject_mode(subject: str) -> dict[str, Any]:
        return {"mode": "READWRITE"}

    return app
