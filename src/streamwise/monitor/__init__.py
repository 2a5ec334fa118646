"""Watching the platform: query metrics from Spark progress events, consumer lag, Prometheus, results.

Owns reading query health (progress events, lag, Prometheus metrics, the latest windows). May
import pipeline (e.g. the name of the latency observation it emits), sinks, platform and config;
``dashboard``, ``verify``, ``bench`` and ``app`` build on it.
"""

from streamwise.monitor.metrics import PartitionLag, QueryMetrics
from streamwise.monitor.windows import latest_windows

__all__ = ["PartitionLag", "QueryMetrics", "latest_windows"]
