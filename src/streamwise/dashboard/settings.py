"""The dashboard's settings (environment prefix ``STREAMWISE_DASHBOARD_``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamwise.config import DashboardSettings, Settings
from streamwise.dashboard.exceptions import DashboardError
from streamwise.pipeline import load_pipeline, resolve
from streamwise.platform.storage import Location, data_root, location
from streamwise.sinks import DeltaSink, warehouse_path

if TYPE_CHECKING:
    from streamwise.pipeline import PipelineSpec

__all__ = ["DashboardSettings", "dashboard_settings", "pipeline_results_table", "results_table"]


def dashboard_settings(settings: Settings) -> DashboardSettings:
    """The dashboard section of ``settings``."""
    return settings.dashboard


def results_table(settings: Settings, dashboard: DashboardSettings) -> Location:
    """The Delta table the windows and recommendations come from: the one set (``up`` sets the running
    pipeline's), else the clickstream example's."""
    if dashboard.results_table is not None:
        return location(dashboard.results_table)

    table = pipeline_results_table(load_pipeline(resolve("clickstream")), settings)
    if table is None:
        raise DashboardError(
            "the clickstream pipeline writes no Delta table to show windows from",
            hint="set STREAMWISE_DASHBOARD_RESULTS_TABLE to a Delta table's folder",
        )
    return table


def pipeline_results_table(spec: PipelineSpec, settings: Settings) -> Location | None:
    """The first Delta table ``spec`` writes, where its windows land; None when it writes none."""
    sink = next((s for s in spec.sinks if isinstance(s, DeltaSink)), None)
    return warehouse_path(sink.path, data_root(settings)) if sink is not None else None
