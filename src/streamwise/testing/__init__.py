"""Testing helpers for streamwise pipelines: pytest fixtures with a real broker and Spark
(``pytest_plugins = ["streamwise.testing.fixtures"]``), scripted scenario runs, and a pipeline's
steps over rows given in Python, without a broker (:func:`run_batch`).

Owns what users' own tests need. May import every layer below ``app``; nothing in streamwise
imports it.
"""

from streamwise.testing.batch import BatchRun, run_batch
from streamwise.testing.scenarios import (
    PipelineRun,
    SinkRows,
    collect,
    produce_events,
    read_topic,
    run_phases,
    sink_rows,
    wait_for,
)

__all__ = [
    "BatchRun",
    "PipelineRun",
    "SinkRows",
    "collect",
    "produce_events",
    "read_topic",
    "run_batch",
    "run_phases",
    "sink_rows",
    "wait_for",
]
