"""Spark Structured Streaming pipelines: a spec (YAML or Python), steps (DataFrame -> DataFrame), the
plan that turns a spec into queries, and the runner.

Owns everything Spark does with a record: decoding (``decode`` for JSON, ``avro`` for Confluent
Avro), the steps, the plan, settling late data and dead letters, the runner. May import sinks,
ingest, schemas, platform and config; monitor and everything above it import the pipeline, never
the other way round.
"""

from streamwise.pipeline.catalog import example_names, resolve
from streamwise.pipeline.exceptions import PipelineError
from streamwise.pipeline.loader import SpecError, load_pipeline, parse_pipeline
from streamwise.pipeline.runner import await_queries
from streamwise.pipeline.spec import PipelineSpec

__all__ = [
    "PipelineError",
    "PipelineSpec",
    "SpecError",
    "await_queries",
    "example_names",
    "load_pipeline",
    "parse_pipeline",
    "resolve",
]
