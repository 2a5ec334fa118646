"""``streamwise run``: run a pipeline until stopped, or once until caught up."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from streamwise.cli._common import settings
from streamwise.errors import StreamwiseError

PIPELINES = ("clickstream",)


def run(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name: clickstream")],
    once: Annotated[bool, typer.Option(help="Process what is in Kafka now, then stop (availableNow)")] = False,
) -> None:
    """Run a pipeline until Ctrl-C (or, with --once, until it has caught up).

    Example: streamwise run clickstream --once
    """
    if pipeline not in PIPELINES:
        raise StreamwiseError(f"unknown pipeline {pipeline!r}", hint=f"available: {', '.join(PIPELINES)}")
    from streamwise.pipeline import ClickstreamPipeline, await_queries
    from streamwise.platform.spark import spark_session

    cfg = settings()
    spec = ClickstreamPipeline(cfg)
    spark = spark_session(cfg, app_name=f"streamwise-{pipeline}")
    queries = spec.start(spark, once=once)
    logging.getLogger("streamwise").info("query started: %s -> %s", spec.topic, spec.output_path)
    await_queries(queries)
