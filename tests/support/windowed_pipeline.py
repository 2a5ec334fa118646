"""A small windowed pipeline on a 1 s processing-time trigger, for tests of a query that keeps
running: views per page in 10 s windows, a 10 s watermark, one Delta sink. Format with ``name``."""

from __future__ import annotations

SPEC = """
name: {name}
source:
  topic: {name}
  schema: "page STRING, event_time LONG"
  required: [page]
event_time:
  watermark: 10 seconds
trigger: 1 second
steps:
  - type: window
    duration: 10 seconds
    by: [page]
    aggregates:
      views: count(*)
sinks:
  - type: delta
    path: "{name}/views"
"""
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z in epoch milliseconds
