"""Runs streaming queries until they finish (availableNow) or are stopped (Ctrl-C, SIGTERM)."""

from __future__ import annotations

import logging
import re
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING

from streamwise.pipeline.exceptions import PipelineError

if TYPE_CHECKING:
    from pyspark.sql.streaming import StreamingQuery

log = logging.getLogger(__name__)


POLL_S = 1  # whole seconds: StreamingQuery.awaitTermination is declared to take an int

# What to do once a query has ended (stopped or caught up), by query id: the pipeline's settling of
# its last batches. Kept here, not on the query object, because PySpark's StreamingQuery is Spark's.
_finishers: dict[str, Callable[[], None]] = {}


def on_finish(query: StreamingQuery, finisher: Callable[[], None]) -> None:
    """Have :func:`await_queries` call ``finisher`` once ``query`` has ended without failing."""
    _finishers[str(query.id)] = finisher


def await_queries(queries: list[StreamingQuery]) -> None:
    """Block until every query ends; stop them all on Ctrl-C, SIGTERM or when any one fails; raise
    if one failed.

    Whichever query fails first stops the others: a set of pipelines never goes on half running.
    When none failed, each query's finisher (:func:`on_finish`) runs after it has stopped. SIGTERM
    is what ``streamwise down`` sends: it becomes a clean stop here, so the checkpoint and the sinks
    are left between two batches.
    """
    from pyspark.errors import StreamingQueryException  # pyspark loads lazily: keeps the CLI's start fast

    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        while True:
            active = [q for q in queries if q.isActive]
            if not active or any(q.exception() is not None for q in queries if q not in active):
                break
            try:
                active[0].awaitTermination(POLL_S)  # returns as soon as that query ends
            except StreamingQueryException:
                pass  # it failed: the next round stops the others and reports it
    except KeyboardInterrupt:
        log.info("stopping %d queries", len(queries))
    finally:
        signal.signal(signal.SIGTERM, previous)
        for query in queries:
            if query.isActive:
                query.stop()
    failures = [(q.name, q.exception()) for q in queries if q.exception() is not None]
    for query in queries:
        finisher = _finishers.pop(str(query.id), None)
        if finisher is not None and not failures:
            finisher()
    if failures:
        name, exc = failures[0]
        raise PipelineError(
            f"query {name} failed: {failure_cause(str(exc))}", hint="see the driver log for the whole trace"
        )


_PYTHON_ERROR = re.compile(r"^\s*([\w.]+(?:Error|Exception|Exit|Interrupt)): ?(.*)$")


def failure_cause(text: str) -> str:
    """The line of a query's failure that names the cause: for an error raised in Python code (a
    sink, a foreachBatch), the last ``SomeError: message`` of the Python traceback Spark wraps;
    else Spark's first line."""
    causes = [m for m in map(_PYTHON_ERROR.match, text.splitlines()) if m]
    if not causes:
        return text.strip().splitlines()[0] if text.strip() else "unknown error"
    kind, message = causes[-1].groups()
    return f"{kind.rsplit('.', 1)[-1]}: {message.split(' SQLSTATE:')[0].strip()}"


def _raise_interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt
