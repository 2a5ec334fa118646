"""Runs streaming queries until they finish (availableNow) or are stopped (Ctrl-C, SIGTERM)."""

from __future__ import annotations

import logging
import re
import signal
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from streamwise.pipeline.exceptions import PipelineError

if TYPE_CHECKING:
    from pyspark.sql.streaming import StreamingQuery

log = logging.getLogger(__name__)


POLL_S = 1  # whole seconds: StreamingQuery.awaitTermination is declared to take an int
STOP_WAIT_S = 10.0

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
    (what ``streamwise down`` sends) and Ctrl-C only ask for the stop: the loop sees the request
    between two calls into the JVM, never in the middle of one (an interrupt there would leave the
    py4j connection mid-answer), so the queries stop between two batches and are settled.
    """
    from pyspark.errors import StreamingQueryException  # pyspark loads lazily: keeps the CLI's start fast

    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda _signum, _frame: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        while not stop.is_set():
            active = [q for q in queries if q.isActive]
            if not active or any(q.exception() is not None for q in queries if q not in active):
                break
            try:
                active[0].awaitTermination(POLL_S)  # returns as soon as that query ends
            except StreamingQueryException:
                pass  # it failed: the next round stops the others and reports it
        if stop.is_set():
            log.info("stopping %d queries", len(queries))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for query in queries:
            if query.isActive:
                _stop_between_batches(query)
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
    sink, a foreachBatch), the last ``SomeError: message`` of the Python traceback Spark wraps (when
    that is py4j's "An error occurred while calling o554.save", the JVM exception on the line after
    it); else Spark's first line."""
    lines = text.splitlines()
    causes = [(i, m) for i, m in enumerate(map(_PYTHON_ERROR.match, lines)) if m]
    if not causes:
        return text.strip().splitlines()[0] if text.strip() else "unknown error"
    at, match = causes[-1]
    kind, message = match.groups()
    jvm = _PYTHON_ERROR.match(lines[at + 1][2:]) if at + 1 < len(lines) and lines[at + 1].startswith(": ") else None
    if kind.endswith("Py4JJavaError") and jvm:
        kind, message = jvm.groups()
    return f"{kind.rsplit('.', 1)[-1]}: {message.split(' SQLSTATE:')[0].strip()}"


def _stop_between_batches(query: StreamingQuery, wait_s: float = STOP_WAIT_S) -> None:
    """Stop ``query`` as soon as its current batch is done: ``stop()`` in the middle of one
    interrupts its foreachBatch. Right after a batch reports its progress, the next one is at most
    planning. After ``wait_s`` seconds it stops anyway: an interrupted batch runs again from the
    checkpoint at the next start, and every sink writes it once."""
    current = _last_batch(query)
    deadline = time.monotonic() + wait_s
    while query.isActive and time.monotonic() < deadline:
        if not query.status["isTriggerActive"] or _last_batch(query) != current:
            break
        time.sleep(0.02)
    query.stop()


def _last_batch(query: StreamingQuery) -> int | None:
    progress = query.lastProgress
    return None if progress is None else int(progress["batchId"])
