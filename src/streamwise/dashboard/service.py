"""The dashboard as a supervised process of the platform (``dashboard start|stop``, and ``up``)."""

from __future__ import annotations

import sys

from streamwise.config import Settings, settings_env
from streamwise.dashboard.auth import dashboard_tls, dashboard_token
from streamwise.dashboard.server import answers
from streamwise.dashboard.settings import DashboardSettings, dashboard_settings
from streamwise.platform.ports import check_bind, ensure_port_free
from streamwise.platform.process import Service

SERVICE_NAME = "dashboard"


def dashboard_service(settings: Settings) -> Service:
    return Service(SERVICE_NAME, settings.state)


def dashboard_env(dashboard: DashboardSettings) -> dict[str, str]:
    """``STREAMWISE_DASHBOARD_*`` variables that give a child process exactly these settings."""
    return {f"STREAMWISE_DASHBOARD_{k.upper()}": str(v) for k, v in dashboard.model_dump().items() if v is not None}


def start_dashboard(settings: Settings, dashboard: DashboardSettings | None = None) -> int:
    """Start ``streamwise dashboard serve`` detached; ready once GET / answers 200. Returns the pid.

    With ``tls`` (the secure profile) the token and certificate are made here, before the child starts,
    so both read the same ones; the probe then logs in with the token and trusts the project's CA."""
    dash = dashboard or dashboard_settings(settings)
    service = dashboard_service(settings)
    running = service.process()
    if running is not None:
        return running.pid
    check_bind(dash.host, "the dashboard", settings, setting="dashboard.host")
    ensure_port_free(dash.host, dash.port, what="the dashboard", option="--port")
    tls = dashboard_tls(settings, dash)
    token = dashboard_token(settings) if tls else None
    return service.start(
        [sys.executable, "-m", "streamwise", "dashboard", "serve"],
        ready=lambda: answers(probe_url(dash), token=token, ca=tls.ca if tls else None),
        timeout_s=dash.start_timeout_s,
        env={**settings_env(settings), **dashboard_env(dash)},
    )


def probe_url(dash: DashboardSettings) -> str:
    """Where this machine reaches the dashboard: its own address, loopback when it binds every interface."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(dash.host, dash.host)
    host = f"[{host}]" if ":" in host and not host.startswith("[") else host  # an IPv6 literal in a URL
    return f"{'https' if dash.tls else 'http'}://{host}:{dash.port}/"


def stop_dashboard(settings: Settings) -> bool:
    """Stop the dashboard by its pid; True if it was running."""
    return dashboard_service(settings).stop(grace_s=10.0)
