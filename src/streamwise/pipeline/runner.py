"""Runs streaming queries until they finish (availableNow) or are stopped (Ctrl-C, SIGTERM)."""

from __future__ import annotations

import logging
import signal
from typing import TYPE_CHECKING

from streamwise.pipeline.exceptions import PipelineError

if TYPE_CHECKING:
    from pyspark.sql.streaming import StreamingQuery

log = logging.getLogger(__name__)


def await_queries(queries: list[StreamingQuery]) -> None:
    """Block until every query ends; stop them all on Ctrl-C or SIGTERM; raise if one failed.

    SIGTERM is what ``streamwise down`` sends: it becomes a clean stop here, so the checkpoint and
    the sinks are left between two batches.
    """
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        for query in queries:
            query.awaitTermination()
    except KeyboardInterrupt:
        log.info("stopping %d queries", len(queries))
    finally:
        signal.signal(signal.SIGTERM, previous)
        for query in queries:
            if query.isActive:
                query.stop()
    failures = [(q.name, q.exception()) for q in queries if q.exception() is not None]
    if failures:
        name, exc = failures[0]
        raise PipelineError(f"query {name} failed: {str(exc).splitlines()[0]}", hint="see the driver log for the cause")


def _raise_interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt
