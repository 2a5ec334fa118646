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


def test_a_jvm_error_under_py4j_is_named_by_its_java_exception() -> None:
    """Setup: a foreachBatch whose Spark call failed in the JVM: the Python trace ends in py4j's
    "An error occurred while calling o554.save." and the Java exception follows on a ': ' line.
    Invariant: the cause is the Java exception's short name and message, not py4j's line."""
    text = (
        "Traceback (most recent call last):\n"
        '  File "/x/py4j/protocol.py", line 327, in get_return_value\n'
        "    raise Py4JJavaError(\n"
        "py4j.protocol.Py4JJavaError: An error occurred while calling o554.save.\n"
        ": org.apache.spark.sql.delta.DeltaIOException: [DELTA_CANNOT_CREATE_LOG_PATH] Cannot create /w/t/_delta_log\n"
        "\tat org.apache.spark.sql.delta.DeltaErrorsBase.cannotCreateLogPathException(DeltaErrors.scala:2022)\n"
        "Caused by: org.apache.hadoop.fs.ParentNotDirectoryException: Parent path is not a directory: /w/t\n"
    )
    assert failure_cause(text) == "DeltaIOException: [DELTA_CANNOT_CREATE_LOG_PATH] Cannot create /w/t/_delta_log"
