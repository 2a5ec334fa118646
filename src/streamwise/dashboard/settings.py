"""The dashboard's settings (environment prefix ``STREAMWISE_DASHBOARD_``)."""

from __future__ import annotations

from pathlib import Path

from streamwise.config import DashboardSettings, Settings
from streamwise.dashboard.exceptions import DashboardError

__all__ = ["DashboardSettings", "dashboard_settings", "results_table"]


def dashboard_settings(settings: Settings) -> DashboardSettings:
    """The dashboard section of ``settings``."""
    return settings.dashboard


def results_table(settings: Settings, dashboard: DashboardSettings) -> Path:
    """The Delta table the windows and recommendations come from."""
    if dashboard.results_table is not None:
        return dashboard.results_table.resolve()
    from streamwise.pipeline import load_pipeline, resolve
    from streamwise.sinks import DeltaSink, warehouse_path

    spec = load_pipeline(resolve("clickstream"))
    sink = next((s for s in spec.sinks if isinstance(s, DeltaSink)), None)
    if sink is None:
        raise DashboardError("the clickstream pipeline writes no Delta table to show windows from",
                             hint="set STREAMWISE_DASHBOARD_RESULTS_TABLE to a Delta table's folder")
    return warehouse_path(sink.path, settings.state)
