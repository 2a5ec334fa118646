"""Testing helpers for streamwise pipelines: pytest fixtures with a real broker and Spark
(``pytest_plugins = ["streamwise.testing.fixtures"]``) and scripted scenario runs."""

from streamwise.testing.scenarios import PipelineRun, collect, produce_events, read_topic, run_phases, wait_for

__all__ = ["PipelineRun", "collect", "produce_events", "read_topic", "run_phases", "wait_for"]
