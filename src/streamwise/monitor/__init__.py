"""Watching the platform: query metrics from Spark progress events, consumer lag, Prometheus, results."""

from streamwise.monitor.metrics import PartitionLag, QueryMetrics
from streamwise.monitor.windows import latest_windows

__all__ = ["PartitionLag", "QueryMetrics", "latest_windows"]
