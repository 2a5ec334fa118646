"""The registry's answer format: Confluent's media type on every body, errors included."""

from __future__ import annotations

from fastapi.responses import JSONResponse

MEDIA_TYPE = "application/vnd.schemaregistry.v1+json"


class RegistryResponse(JSONResponse):
    """JSON with the registry's media type."""

    media_type = MEDIA_TYPE
