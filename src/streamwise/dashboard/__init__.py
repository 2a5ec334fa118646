"""The live web dashboard: throughput, latency, lag, latest windows, alerts, recommendations, health.

``create_app(settings)`` builds the FastAPI app (``/``, ``/metrics``, ``/api/snapshot``, ``/events``);
``start_dashboard(settings)`` runs it as a supervised process, as ``streamwise up`` does. In the secure
profile it serves HTTPS and every route needs the token in ``token_file(settings)`` (:mod:`.auth`).

Owns the web app and its live feeds (progress, alerts, results). May import monitor, pipeline,
sinks, schemas, platform and config; ``app``, ``bench`` and ``cli`` import it, ``verify`` does not.
"""

from streamwise.dashboard.alerts import Alert, AlertFeed, read_alerts
from streamwise.dashboard.app import create_app
from streamwise.dashboard.auth import dashboard_tls, dashboard_token, token_file
from streamwise.dashboard.exceptions import DashboardError
from streamwise.dashboard.server import BackgroundServer, serve
from streamwise.dashboard.service import start_dashboard, stop_dashboard
from streamwise.dashboard.settings import DashboardSettings, dashboard_settings
from streamwise.dashboard.snapshot import Snapshot, Sources

__all__ = [
    "Alert",
    "AlertFeed",
    "BackgroundServer",
    "DashboardError",
    "DashboardSettings",
    "Snapshot",
    "Sources",
    "create_app",
    "dashboard_settings",
    "dashboard_tls",
    "dashboard_token",
    "read_alerts",
    "serve",
    "start_dashboard",
    "stop_dashboard",
    "token_file",
]
