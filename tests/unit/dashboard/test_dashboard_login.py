"""The dashboard's login in the secure profile, served by the real app over HTTPS on a real uvicorn
server in a thread: every route needs the token (bearer header or the login form's cookie), the token
lives in a 0600 file, and it never shows in a response or a log line.

The live data sources are swapped for empty ones (no broker is needed): what is checked is who gets in."""

from __future__ import annotations

import logging
import ssl
import stat
from collections.abc import Iterator
from http.cookies import SimpleCookie
from pathlib import Path

import httpx
import pytest
from dashboard_sources import no_sources
from pydantic import SecretStr

from streamwise.config import Settings, load_settings
from streamwise.dashboard import BackgroundServer, create_app
from streamwise.dashboard.auth import COOKIE, dashboard_tls, dashboard_token, session_value, token_file
from streamwise.dashboard.server import answers
from streamwise.platform.certificates import TlsFiles
from streamwise.platform.ports import free_ports

# Every route of the app that serves data, with what a browser would ask for.
DATA_ROUTES = ["/api/snapshot", "/metrics", "/events?limit=1", "/openapi.json", "/docs"]


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The secure profile on, in a scratch state folder; Kafka on a port nothing listens on."""
    port, controller = free_ports(2)
    return load_settings(
        state_dir=tmp_path_factory.mktemp("state"),
        security={"enabled": True},
        kafka={"port": port, "controller_port": controller},
        dashboard={"push_interval_s": 0.2},
    )


@pytest.fixture(scope="module")
def tls(settings: Settings) -> TlsFiles:
    files = dashboard_tls(settings, settings.dashboard)
    assert files is not None  # the secure profile serves HTTPS
    return files


@pytest.fixture(scope="module")
def server(settings: Settings, tls: TlsFiles) -> Iterator[BackgroundServer]:
    sources = no_sources(settings.state)
    app = create_app(settings, settings.dashboard, sources=sources)
    with BackgroundServer(app, port=free_ports(1)[0], tls=tls) as srv:
        yield srv


@pytest.fixture
def client(tls: TlsFiles) -> Iterator[httpx.Client]:
    with httpx.Client(verify=ssl.create_default_context(cafile=str(tls.ca)), timeout=10) as c:
        yield c


@pytest.fixture(scope="module")
def token(settings: Settings) -> str:
    return dashboard_token(settings).get_secret_value()


def test_the_secure_profile_serves_https_with_the_projects_ca(settings: Settings, server: BackgroundServer) -> None:
    """Setup: the secure profile. Invariant: the dashboard's URL is https, its certificate verifies
    against the project's CA, and the token file is born 0600 in a 0700 folder."""
    assert settings.dashboard.tls and settings.dashboard.url.startswith("https://")
    assert server.url.startswith("https://127.0.0.1:")
    path = token_file(settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


@pytest.mark.parametrize("route", ["/", *DATA_ROUTES])
def test_without_the_token_nothing_is_served(route: str, server: BackgroundServer, client: httpx.Client) -> None:
    """Setup: a script (no Accept: text/html) asks every route without credentials.
    Invariant: 401 with a Bearer challenge and no data."""
    resp = client.get(server.url + route)
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"] == 'Bearer realm="streamwise dashboard"'
    assert resp.json() == {
        "error": "the dashboard needs its login token",
        "hint": "send Authorization: Bearer <token>",
    }


def test_a_browser_without_the_token_is_sent_to_the_login_form(server: BackgroundServer, client: httpx.Client) -> None:
    """Setup: a browser navigates to the page without a cookie.
    Invariant: 303 to /login, which serves the form (200) naming where the token lives, not the token."""
    resp = client.get(server.url + "/", headers={"Accept": "text/html,application/xhtml+xml"})
    assert (resp.status_code, resp.headers["location"]) == (303, "/login")
    form = client.get(server.url + "/login")
    assert form.status_code == 200
    assert '<form method="post" action="/login">' in form.text
    assert "STATE/security/dashboard.token" in form.text


@pytest.mark.parametrize("route", ["/", *DATA_ROUTES])
def test_the_bearer_token_opens_every_route(
    route: str, server: BackgroundServer, client: httpx.Client, token: str
) -> None:
    """Setup: every route with Authorization: Bearer <token>. Invariant: 200 and the route's content."""
    resp = client.get(server.url + route, headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200
    if route == "/events?limit=1":
        assert "event: snapshot" in resp.text


@pytest.mark.parametrize(
    "authorization",
    ["Bearer wrong", "Bearer {token} {token}", "Basic dXNlcjpwYXNz", "bearer", "Token {token}", "Bearer {token}x"],
)
def test_a_wrong_token_is_refused(
    authorization: str, server: BackgroundServer, client: httpx.Client, token: str
) -> None:
    """Setup: a wrong, empty, other-scheme or near-miss credential.
    Invariant: 401, as without one."""
    resp = client.get(server.url + "/api/snapshot", headers={"Authorization": authorization.format(token=token)})
    assert resp.status_code == 401


def test_a_forged_cookie_is_refused(server: BackgroundServer, client: httpx.Client, token: str) -> None:
    """Setup: a cookie holding the token itself, or another value. Invariant: 401: only the session
    value the login form sets opens the dashboard."""
    for value in (token, "0" * 64):
        client.cookies.set(COOKIE, value)
        assert client.get(server.url + "/api/snapshot").status_code == 401


def test_the_login_form_sets_a_strict_cookie(server: BackgroundServer, client: httpx.Client, token: str) -> None:
    """Setup: the form posted with the right token, then the page and the API with the cookie alone.
    Invariants: 303 to /; the cookie is HttpOnly, SameSite=Strict, Secure, for the whole site, and holds
    a value derived from the token (not the token); with it every route answers 200; /logout clears it."""
    resp = client.post(server.url + "/login", data={"token": token})
    assert (resp.status_code, resp.headers["location"]) == (303, "/")
    cookie = SimpleCookie(resp.headers["set-cookie"])[COOKIE]
    assert cookie["httponly"] is True and cookie["secure"] is True
    assert cookie["samesite"].lower() == "strict" and cookie["path"] == "/"
    assert cookie.value != token and token not in resp.headers["set-cookie"]
    for route in ("/", "/api/snapshot", "/metrics"):
        assert client.get(server.url + route).status_code == 200
    out = client.get(server.url + "/logout")
    assert (out.status_code, out.headers["location"]) == (303, "/login")
    client.cookies.clear()
    client.cookies.update(dict(out.cookies))  # what the browser keeps: the cleared cookie, if any
    assert client.get(server.url + "/api/snapshot").status_code == 401


def test_a_wrong_token_in_the_form_sets_no_cookie(server: BackgroundServer, client: httpx.Client) -> None:
    """Setup: the form posted with a wrong token, then with an oversized body.
    Invariant: 401 with the form again and no cookie; the submitted value is not echoed."""
    resp = client.post(server.url + "/login", data={"token": "guess-123"})
    assert resp.status_code == 401 and "set-cookie" not in resp.headers
    assert "That is not the dashboard&#x27;s token." in resp.text and "guess-123" not in resp.text
    big = client.post(server.url + "/login", data={"token": "x" * 10_000})
    assert big.status_code == 401 and "set-cookie" not in big.headers


def test_the_token_never_shows_in_responses_or_logs(
    server: BackgroundServer,
    client: httpx.Client,
    token: str,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Setup: a failed and a successful login, a bearer request and refused ones, every log level on.
    Invariant: neither the token nor its cookie value is in any response body or header, nor in
    anything logged or written to stdout/stderr."""
    session = session_value(SecretStr(token))
    seen: list[str] = []
    # The test's own HTTP client logs the headers it receives at DEBUG: only the server's logs count.
    with (
        caplog.at_level(logging.DEBUG),
        caplog.at_level(logging.WARNING, logger="httpcore"),
        caplog.at_level(logging.WARNING, logger="httpx"),
    ):
        for resp in (
            client.post(server.url + "/login", data={"token": token + "x"}),
            client.post(server.url + "/login", data={"token": token}),
            client.get(server.url + "/api/snapshot", headers={"Authorization": f"Bearer {token}"}),
            client.get(server.url + "/api/snapshot", headers={"Authorization": f"Bearer {token}x"}),
            client.get(server.url + "/", headers={"Accept": "text/html"}),
        ):
            seen += [resp.text, *(v for k, v in resp.headers.items() if k != "set-cookie")]
    out, err = capfd.readouterr()
    seen += [out, err, caplog.text]
    assert not [text for text in seen if token in text]
    assert not [text for text in seen if session in text]


def test_the_readiness_probe_logs_in(server: BackgroundServer, settings: Settings, tls: TlsFiles) -> None:
    """Setup: the probe `dashboard start` waits on. Invariant: it passes with the token and the CA,
    and fails without the token (401) or without the CA (the certificate is not publicly trusted)."""
    token = dashboard_token(settings)
    assert answers(server.url + "/", token=token, ca=tls.ca)
    assert not answers(server.url + "/", ca=tls.ca)
    assert not answers(server.url + "/", token=token)


def test_without_the_secure_profile_there_is_no_login(tmp_path: Path) -> None:
    """Setup: the default settings. Invariant: plain HTTP, no TLS files, and no token file is made."""
    cfg = load_settings(state_dir=tmp_path)
    assert not cfg.dashboard.tls and cfg.dashboard.url.startswith("http://")
    assert dashboard_tls(cfg, cfg.dashboard) is None
    create_app(
        cfg,
        cfg.dashboard,
        sources=no_sources(tmp_path),
    )
    assert not token_file(cfg).exists()


def test_the_login_path_takes_only_get_and_post(server: BackgroundServer, client: httpx.Client) -> None:
    """Setup: PUT and DELETE on /login. Invariant: 405 naming the methods it takes, and no cookie."""
    for method in ("PUT", "DELETE"):
        resp = client.request(method, server.url + "/login")
        assert (resp.status_code, resp.headers["allow"]) == (405, "GET, HEAD, POST")
        assert "set-cookie" not in resp.headers
