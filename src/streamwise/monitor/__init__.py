"""Watching the platform: results, and (later) query metrics, lag and latency."""

from streamwise.monitor.windows import latest_windows

__all__ = ["latest_windows"]
