"""The secure profile's dashboard in a real headless Chromium: the page sends a browser to the login
form, the form's cookie opens the page, and the page's live feed (an EventSource, which can send no
header of its own) is let in by that cookie alone.

The data sources are swapped for empty ones (no broker is needed): what is checked is the way in.
Chromium does not trust the project's CA, so the browser context ignores certificate errors; the
certificate itself is verified against the CA in tests/unit/dashboard/test_dashboard_login.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from dashboard_sources import no_sources

from streamwise.config import Settings, load_settings
from streamwise.dashboard import BackgroundServer, create_app
from streamwise.dashboard.auth import COOKIE, dashboard_tls, dashboard_token
from streamwise.platform.ports import free_ports

if TYPE_CHECKING:  # playwright is optional: without it the browser fixture skips
    from playwright.sync_api import Browser

WAIT_MS = 30_000


@pytest.fixture
def secure(tmp_path: Path) -> Settings:
    port, controller = free_ports(2)
    return load_settings(
        state_dir=tmp_path / "state",
        security={"enabled": True},
        kafka={"port": port, "controller_port": controller},
        dashboard={"port": free_ports(1)[0], "push_interval_s": 0.5},
    )


@pytest.fixture
def server(secure: Settings) -> Iterator[BackgroundServer]:
    sources = no_sources(secure.state)
    dash = secure.dashboard
    app = create_app(secure, dash, sources=sources)
    with BackgroundServer(app, dash.host, dash.port, tls=dashboard_tls(secure, dash)) as srv:
        yield srv


def test_login_in_chromium_opens_the_page_and_its_live_feed(
    browser: Browser, secure: Settings, server: BackgroundServer
) -> None:
    """Setup: a headless Chromium opens the dashboard of the secure profile, types the token into the
    login form and submits it.
    Invariants: the page first lands on /login; after the login it is back on / and its live feed
    receives snapshots (the EventSource gets in with the cookie); the cookie is HttpOnly, Secure and
    SameSite=Strict and does not hold the token; the token is in no URL the browser visited and not in
    the page; script on the page cannot read the cookie."""
    token = dashboard_token(secure).get_secret_value()
    context = browser.new_context(ignore_https_errors=True)
    visited: list[str] = []
    try:
        page = context.new_page()
        page.on("request", lambda request: visited.append(request.url))
        page.goto(server.url + "/")
        assert page.url == server.url + "/login"
        page.fill("#token", token)
        page.click('button[type="submit"]')
        page.wait_for_url(server.url + "/", timeout=WAIT_MS)
        page.wait_for_function(
            """() => +document.querySelector('[data-testid="last-update"]').dataset.seq >= 2""", timeout=WAIT_MS
        )
        assert page.inner_text("#conn-text") == "live"
        (cookie,) = [c for c in context.cookies() if c["name"] == COOKIE]
        assert (cookie["httpOnly"], cookie["secure"], cookie["sameSite"]) == (True, True, "Strict")
        assert cookie["value"] != token
        assert page.evaluate("document.cookie") == ""
        assert token not in page.content()
        assert [url for url in visited if token in url] == []
    finally:
        context.close()
