"""The dashboard's login in the secure profile: one random token, shown to nobody, read from a 0600 file.

Every route but ``/login`` needs it, as ``Authorization: Bearer <token>`` (scripts, Prometheus'
``authorization.credentials_file``) or as the cookie the login form sets (browsers). The cookie holds
a value derived from the token (HMAC), never the token itself, and is HttpOnly, SameSite=Strict and
Secure: the dashboard serves HTTPS in the secure profile. Unauthenticated, a page is redirected to the
login form and anything else (the JSON API, the event stream, ``/metrics``) answers 401.

The token has 192 random bits: guessing it is out of reach, so wrong attempts are refused, not counted.
Every comparison takes the same time whatever the input (``hmac.compare_digest``).
"""

from __future__ import annotations

import hashlib
import hmac
import html
from pathlib import Path
from urllib.parse import parse_qs

from pydantic import SecretStr
from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from streamwise.config import DashboardSettings, Settings
from streamwise.platform.certificates import TlsFiles, certificate
from streamwise.secret_files import ensure_secret

COOKIE = "streamwise_dashboard"
LOGIN_PATH = "/login"
LOGOUT_PATH = "/logout"
# A login form holds one token of 32 characters: a body larger than this is not a login.
MAX_LOGIN_BODY = 4096
_SESSION_LABEL = b"streamwise dashboard session"


def token_file(settings: Settings) -> Path:
    """``STATE/security/dashboard.token``: where the dashboard's login token lives (0600)."""
    return settings.security.folder(settings.state) / "dashboard.token"


def dashboard_token(settings: Settings) -> SecretStr:
    """The dashboard's login token, made (random, 0600) on first use."""
    return ensure_secret(token_file(settings))


def dashboard_tls(settings: Settings, dashboard: DashboardSettings) -> TlsFiles | None:
    """The dashboard's certificate and key when it serves HTTPS (the secure profile), else None."""
    if not dashboard.tls:
        return None
    wildcard = dashboard.host in ("0.0.0.0", "::", "")  # every interface: no one name to put in the certificate
    return certificate(settings, "dashboard", hosts=() if wildcard else (dashboard.host,))


def session_value(token: SecretStr) -> str:
    """What the login cookie holds: derived from the token, so a cookie never carries the token itself."""
    return hmac.new(token.get_secret_value().encode(), _SESSION_LABEL, hashlib.sha256).hexdigest()


def _equal(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


class TokenAuth:
    """ASGI middleware: lets a request through with the token (bearer header or login cookie), serves
    the login form itself, and refuses the rest (redirect for a browser's page, else 401)."""

    def __init__(self, app: ASGIApp, token: SecretStr) -> None:
        self.app = app
        self.token = token
        self.session = session_value(token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # start-up and shutdown: no request
            await self.app(scope, receive, send)
            return
        conn = HTTPConnection(scope)
        if scope["type"] != "http":  # the app serves no websocket; one with the token reaches its 404
            if self.authorized(conn):
                await self.app(scope, receive, send)
            else:
                await send({"type": "websocket.close", "code": 1008})
            return
        path = scope["path"]
        if path == LOGIN_PATH:
            response = await self._login(scope["method"], receive)
        elif path == LOGOUT_PATH:
            response = RedirectResponse(LOGIN_PATH, status_code=303)
            response.delete_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="strict")
        elif self.authorized(conn):
            await self.app(scope, receive, send)
            return
        elif _wants_page(conn.headers, scope["method"]):
            response = RedirectResponse(LOGIN_PATH, status_code=303)
        else:
            response = JSONResponse(
                {"error": "the dashboard needs its login token", "hint": "send Authorization: Bearer <token>"},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="streamwise dashboard"'},
            )
        await response(scope, receive, send)

    def authorized(self, conn: HTTPConnection) -> bool:
        """True with ``Authorization: Bearer <token>`` or the login cookie (each compared in constant time)."""
        scheme, _, credentials = conn.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and _equal(credentials.strip(), self.token.get_secret_value()):
            return True
        cookie = conn.cookies.get(COOKIE)
        return cookie is not None and _equal(cookie, self.session)

    async def _login(self, method: str, receive: Receive) -> Response:
        if method in ("GET", "HEAD"):
            return HTMLResponse(login_page())
        if method != "POST":
            return Response(status_code=405, headers={"Allow": "GET, HEAD, POST"})
        body = await _read_body(receive, MAX_LOGIN_BODY)
        given = parse_qs(body.decode(errors="replace")).get("token", [""])[0] if body is not None else ""
        if not _equal(given.strip(), self.token.get_secret_value()):
            return HTMLResponse(login_page(error="That is not the dashboard's token."), status_code=401)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE, self.session, path="/", secure=True, httponly=True, samesite="strict")
        return response


def _wants_page(headers: Headers, method: str) -> bool:
    """A browser navigating (GET, HTML accepted) gets the login form; scripts and feeds get a 401."""
    return method in ("GET", "HEAD") and "text/html" in headers.get("accept", "")


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The request body, or None once it passes ``limit`` bytes."""
    body = b""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        body += message.get("body", b"")
        if len(body) > limit:
            return None
        if not message.get("more_body", False):
            return body


def login_page(error: str | None = None) -> str:
    """The login form: one password field for the token. Says where the token is, never what it is."""
    message = f'<p class="error">{html.escape(error)}</p>' if error else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>streamwise dashboard: log in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: system-ui, sans-serif; background: #0f1419; color: #e6e6e6; display: grid;
  place-items: center; min-height: 100vh; margin: 0; }}
form {{ background: #1a2129; padding: 2rem; border-radius: 8px; width: min(26rem, 90vw); }}
input {{ width: 100%; box-sizing: border-box; padding: .6rem; margin: .8rem 0; font: inherit; }}
button {{ padding: .6rem 1.2rem; font: inherit; }}
.error {{ color: #ff7b72; }} code {{ color: #9ecbff; }}
</style></head>
<body><form method="post" action="{LOGIN_PATH}">
<h1>streamwise dashboard</h1>
<p>The login token is in <code>STATE/security/dashboard.token</code> of the platform's state folder.</p>
{message}
<label for="token">Token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<button type="submit">Log in</button>
</form></body></html>
"""
