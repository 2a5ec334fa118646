"""The dashboard as a supervised process of the platform (``dashboard start|stop``, and ``up``)."""

from __future__ import annotations

import sys

from streamwise.config import Settings, settings_env
from streamwise.dashboard.server import answers
from streamwise.dashboard.settings import DashboardSettings, dashboard_settings
from streamwise.platform.ports import ensure_port_free
from streamwise.platform.process import Service

SERVICE_NAME = "dashboard"


def dashboard_service(settings: Settings) -> Service:
    return Service(SERVICE_NAME, settings.state)


def dashboard_env(dashboard: DashboardSettings) -> dict[str, str]:
    """``STREAMWISE_DASHBOARD_*`` variables that give a child process exactly these settings."""
    return {f"STREAMWISE_DASHBOARD_{k.upper()}": str(v) for k, v in dashboard.model_dump().items() if v is not None}


def start_dashboard(settings: Settings, dashboard: DashboardSettings | None = None) -> int:
    """Start ``streamwise dashboard serve`` detached; ready once GET / answers 200. Returns the pid."""
    dash = dashboard or dashboard_settings(settings)
    service = dashboard_service(settings)
    running = service.process()
    if running is not None:
        return running.pid
    ensure_port_free(dash.host, dash.port, what="the dashboard", option="--port")
    return service.start(
        [sys.executable, "-m", "streamwise", "dashboard", "serve"],
        ready=lambda: answers(dash.url + "/"),
        timeout_s=dash.start_timeout_s,
        env={**settings_env(settings), **dashboard_env(dash)},
    )


def stop_dashboard(settings: Settings) -> bool:
    """Stop the dashboard by its pid; True if it was running."""
    return dashboard_service(settings).stop(grace_s=10.0)
