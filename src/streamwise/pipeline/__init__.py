"""Spark Structured Streaming pipelines: steps (DataFrame -> DataFrame), pipelines, the runner."""

from streamwise.pipeline.clickstream import PAGE_VIEW_SCHEMA, ClickstreamPipeline
from streamwise.pipeline.exceptions import PipelineError
from streamwise.pipeline.runner import await_queries

__all__ = ["PAGE_VIEW_SCHEMA", "ClickstreamPipeline", "PipelineError", "await_queries"]
