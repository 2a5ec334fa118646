"""How a failed query's cause is told: the Python error inside Spark's wrapping, else Spark's first line."""

from __future__ import annotations

from streamwise.pipeline.runner import failure_cause

WRAPPED = """[STREAM_FAILED] Query [id = 1, runId = 2] terminated with exception: [FOREACH_BATCH_USER_FUNCTION_ERROR] An error occurred in the user provided function in foreach batch sink. Reason: An exception was raised by the Python Proxy. Return Message: Traceback (most recent call last):
  File "/x/_retry.py", line 70, in call_with_retries
    return fn()
psycopg.OperationalError: connection failed: connection refused

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/x/_batch.py", line 92, in __call__
streamwise.sinks.exceptions.SinkUnavailableError: postgres sink 'q', batch 2: still failing after 2 attempts SQLSTATE: 39000 SQLSTATE: XXKST
=== Streaming Query ===
"""


def test_the_last_python_error_of_the_trace_is_the_cause() -> None:
    """Setup: a foreachBatch failure as Spark reports it (two chained Python errors, SQLSTATE tails).
    Invariant: the cause is the last Python error, short class name, without the SQLSTATE tail."""
    assert failure_cause(WRAPPED) == "SinkUnavailableError: postgres sink 'q', batch 2: still failing after 2 attempts"


def test_a_jvm_failure_keeps_spark_first_line() -> None:
    """Setup: a failure with no Python traceback. Invariant: Spark's first line, as it is."""
    text = "[STREAM_FAILED] Query x terminated with exception: Offsets out of range\n\tat org.apache..."
    assert failure_cause(text) == "[STREAM_FAILED] Query x terminated with exception: Offsets out of range"
