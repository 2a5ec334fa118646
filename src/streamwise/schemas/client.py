"""A small client of the Confluent REST API (ours or Confluent's), for the CLI and Spark decoding.

Error answers become :class:`RegistryError` carrying Confluent's error code; an unreachable
registry becomes :class:`RegistryUnavailableError` with a hint to start it. Subjects are
percent-encoded into paths (``a/b?c#d`` is one subject), as Confluent's own clients do.

:meth:`RegistryClient.from_settings` is how streamwise builds one: it takes the URL, basic-auth
credentials and CA from :meth:`RegistrySettings.client_config`, the same settings confluent-kafka's
``SchemaRegistryClient`` is given.
"""

from __future__ import annotations

import json
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from streamwise.config import RegistrySettings
from streamwise.schemas.exceptions import RegistryError, RegistryUnavailableError
from streamwise.schemas.store import RegisteredSchema

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


@dataclass(frozen=True)
class CheckResult:
    """The registry's compatibility verdict on a schema."""

    compatible: bool
    messages: list[str]


def _segment(value: str | int) -> str:
    """One path segment: every reserved character encoded, ``/`` included."""
    return quote(str(value), safe="")


class RegistryClient:
    """Calls one registry at ``url`` (``http://127.0.0.1:8081``), with basic-auth credentials
    (``auth``: user and password) and, over HTTPS, a CA file to verify it with."""

    def __init__(
        self,
        url: str,
        *,
        auth: tuple[str, str] | None = None,
        ca_file: Path | str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.url = url.rstrip("/")
        verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(ca_file)) if ca_file else True
        self._http = httpx.Client(
            base_url=self.url,
            timeout=timeout_s,
            headers={"Content-Type": CONTENT_TYPE},
            auth=httpx.BasicAuth(*auth) if auth else None,
            verify=verify,
        )

    @classmethod
    def from_settings(
        cls, settings: RegistrySettings, url: str | None = None, *, timeout_s: float = 10.0
    ) -> RegistryClient:
        """A client of the registry ``settings`` describe, or of ``url`` (another registry gets the CA
        but never the credentials: :meth:`RegistrySettings.client_config`)."""
        conf = settings.client_config(url)
        user, _, password = conf.get("basic.auth.user.info", "").partition(":")
        return cls(
            conf["url"],
            auth=(user, password) if user else None,
            ca_file=conf.get("ssl.ca.location"),
            timeout_s=timeout_s,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None, **params: Any) -> Any:
        query = {k: str(v).lower() if isinstance(v, bool) else v for k, v in params.items() if v is not None}
        try:
            response = self._http.request(
                method, path, params=query, content=None if body is None else json.dumps(body)
            )
        except httpx.HTTPError as exc:
            raise RegistryUnavailableError(
                50003,
                f"the schema registry at {self.url} does not answer ({exc.__class__.__name__}: {exc})",
                hint="start it with `streamwise registry start`, or pass --registry URL",
            ) from None
        try:
            payload = response.json()
        except ValueError:
            payload = response.text
        if response.is_error:
            code = (
                payload.get("error_code", response.status_code) if isinstance(payload, dict) else response.status_code
            )
            message = payload.get("message", str(payload)) if isinstance(payload, dict) else str(payload)
            hint = (
                "writes need a registry user: set STREAMWISE_REGISTRY_USERNAME and STREAMWISE_REGISTRY_PASSWORD"
                if response.status_code == 401
                else None
            )
            raise RegistryError(int(code), message, hint=hint)
        return payload

    def subjects(self, *, deleted: bool = False) -> list[str]:
        return list(self._call("GET", "/subjects", deleted=deleted))

    def versions(self, subject: str, *, deleted: bool = False) -> list[int]:
        return list(self._call("GET", f"/subjects/{_segment(subject)}/versions", deleted=deleted))

    def version(self, subject: str, version: int | str = "latest", *, deleted: bool = False) -> RegisteredSchema:
        body = self._call("GET", f"/subjects/{_segment(subject)}/versions/{_segment(version)}", deleted=deleted)
        return RegisteredSchema(
            body["subject"], body["version"], body["id"], body["schema"], body.get("schemaType", "AVRO")
        )

    def schema(self, schema_id: int) -> str:
        return str(self._call("GET", f"/schemas/ids/{schema_id}")["schema"])

    def register(self, subject: str, schema: str, schema_type: str = "AVRO") -> int:
        """Register (or find) ``schema`` under ``subject``; returns its id."""
        return int(
            self._call(
                "POST", f"/subjects/{_segment(subject)}/versions", {"schema": schema, "schemaType": schema_type}
            )["id"]
        )

    def lookup(self, subject: str, schema: str, schema_type: str = "AVRO") -> RegisteredSchema:
        body = self._call("POST", f"/subjects/{_segment(subject)}", {"schema": schema, "schemaType": schema_type})
        return RegisteredSchema(
            body["subject"], body["version"], body["id"], body["schema"], body.get("schemaType", "AVRO")
        )

    def check(self, subject: str, schema: str, version: int | str = "latest", schema_type: str = "AVRO") -> CheckResult:
        """Would ``schema`` be compatible with ``version`` of ``subject``? (verbose: the reasons)."""
        body = self._call(
            "POST",
            f"/compatibility/subjects/{_segment(subject)}/versions/{_segment(version)}",
            {"schema": schema, "schemaType": schema_type},
            verbose=True,
        )
        return CheckResult(bool(body["is_compatible"]), list(body.get("messages") or []))

    def compatibility(self, subject: str | None = None) -> str:
        """The level in force for ``subject`` (its own or the global one), or the global level."""
        if subject is None:
            return str(self._call("GET", "/config")["compatibilityLevel"])
        return str(self._call("GET", f"/config/{_segment(subject)}", defaultToGlobal=True)["compatibilityLevel"])

    def set_compatibility(self, level: str, subject: str | None = None) -> str:
        path = "/config" if subject is None else f"/config/{_segment(subject)}"
        return str(self._call("PUT", path, {"compatibility": level.upper()})["compatibility"])

    def delete_subject(self, subject: str, *, permanent: bool = False) -> list[int]:
        return list(self._call("DELETE", f"/subjects/{_segment(subject)}", permanent=permanent))
