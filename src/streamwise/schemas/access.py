"""Who may call the registry: the Host allow-list, browser cross-site writes, basic auth for writes.

A registry on loopback is still reachable from a browser on the same machine: a page on any site can
send a POST to ``http://127.0.0.1:8081`` (a cross-site write), and a DNS name that resolves to
127.0.0.1 after the page loaded (DNS rebinding) lets that page read the answers too. Two checks close
both, whatever the profile:

- the ``Host`` header must be one the registry answers to (:meth:`RegistrySettings.hosts`): a rebound
  name carries the attacker's host name, so it is refused with 421 before any route runs;
- a write (POST, PUT, DELETE) carrying an ``Origin`` must come from the registry's own origin:
  browsers send ``Origin`` on every cross-origin write, non-browser clients send none.

With ``users_dir`` set (the secure profile), every write also needs HTTP basic auth: the password of
user ``NAME`` is the content of ``users_dir/NAME.password`` (a 0600 secret file, read on each write so
a changed password needs no restart), compared in constant time. Reads stay open, as a Confluent
registry with ``confluent.schema.registry.anonymous.principal`` reads would.

Refusals answer in Confluent's error shape: 421 (error_code 421), 403 (40301), 401 (40101 with
``WWW-Authenticate: Basic``).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import re
from pathlib import Path
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from streamwise.errors import StreamwiseError
from streamwise.schemas.routes.media import RegistryResponse
from streamwise.secret_files import read_secret

log = logging.getLogger(__name__)

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# A user name is a file name under users_dir: no separators, no leading dot, so '../x' names nothing.
USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
REALM = 'Basic realm="streamwise schema registry", charset="UTF-8"'
# Compared against when the user does not exist, so an unknown name costs what a wrong password does.
_NOBODY = b"\x00" * 32


def refusal(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """An error answer in Confluent's shape."""
    return RegistryResponse({"error_code": code, "message": message}, status_code=status, headers=headers)


def password_file(users_dir: Path, name: str) -> Path:
    """Where the password of user ``name`` lives."""
    return users_dir / f"{name}.password"


class AccessGuard:
    """ASGI middleware refusing requests for a foreign Host, cross-site writes and unauthenticated
    writes (when ``users_dir`` is set) before any route runs."""

    def __init__(self, app: ASGIApp, *, hosts: frozenset[str], users_dir: Path | None, tls: bool) -> None:
        self.app = app
        self.hosts = hosts
        self.users_dir = users_dir
        self.scheme = "https" if tls else "http"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refused = self.check(scope["method"], Headers(scope=scope))
            if refused is not None:
                await refused(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def check(self, method: str, headers: Headers) -> Response | None:
        """The refusal for a request with these method and headers, or None when it may proceed."""
        host = headers.get("host", "").lower()
        if "*" not in self.hosts and host not in self.hosts:
            return refusal(
                421,
                421,
                f"Misdirected request: this registry does not answer to Host {host[:100]!r}; "
                "add the name to STREAMWISE_REGISTRY_ALLOWED_HOSTS if clients really use it",
            )
        if method not in WRITE_METHODS:
            return None
        origin = headers.get("origin")
        if origin is not None and not self._same_origin(origin, host):
            return refusal(403, 40301, f"Cross-origin write refused: Origin {origin[:100]!r} is not this registry")
        if self.users_dir is not None:
            user = self._authenticated(headers.get("authorization"))
            if user is None:
                return refusal(
                    401,
                    40101,
                    "Unauthorized: writes need HTTP basic auth as a registry user",
                    {"WWW-Authenticate": REALM},
                )
        return None

    def _same_origin(self, origin: str, host: str) -> bool:
        try:
            parts = urlsplit(origin)
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            return False  # 'null' (a sandboxed page, a file) or garbage: not this registry
        return parts.scheme == self.scheme and parts.hostname is not None and _same_host(parts.hostname, port, host)

    def _authenticated(self, authorization: str | None) -> str | None:
        """The user whose basic-auth credentials these are, or None."""
        assert self.users_dir is not None
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            name, sep, given = base64.b64decode(token.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        known = sep == ":" and USER_NAME.fullmatch(name) is not None
        stored = self._password(name) if known else None
        matches = hmac.compare_digest(given.encode(), stored if stored is not None else _NOBODY)
        if matches and stored is not None:
            return name
        log.warning("registry write refused: no valid credentials for user %r", name[:64])
        return None

    def _password(self, name: str) -> bytes | None:
        assert self.users_dir is not None
        path = password_file(self.users_dir, name)
        if not path.exists():
            return None
        try:
            return read_secret(path).get_secret_value().encode()
        except StreamwiseError as exc:
            # A password file others can read may have leaked: fail closed, and say why in the log.
            log.warning("registry user %r refused: %s", name, exc.message)
            return None


def _same_host(hostname: str, port: int, host_header: str) -> bool:
    """Whether an Origin's host and port name the host the request was sent to."""
    name = f"[{hostname}]" if ":" in hostname else hostname
    return f"{name}:{port}".lower() == host_header or (name.lower() == host_header and port in (80, 443))
