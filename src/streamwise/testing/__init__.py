"""Testing helpers for streamwise pipelines: pytest fixtures with a real broker and Spark
(``pytest_plugins = ["streamwise.testing.fixtures"]``) and scripted scenario runs."""

from streamwise.testing.scenarios import PipelineRun, collect, produce_events, read_topic, run_phases

__all__ = ["PipelineRun", "collect", "produce_events", "read_topic", "run_phases"]
