"""A dashboard with nothing behind it: for tests of the app itself (login, routes), not of its data."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from streamwise.dashboard.alerts import AlertFeed
from streamwise.dashboard.snapshot import Sources


def no_sources(state: Path) -> Sources:
    """Sources that report no broker, no queries, no alerts, no results and no services."""
    return Sources(
        kafka_serving=lambda: False,
        progress=dict,
        alerts=lambda: AlertFeed(topic="alerts", exists=False, items=[]),
        results=pd.DataFrame,
        services=list,
        results_table=state / "no-table",
    )
