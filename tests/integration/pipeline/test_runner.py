"""``await_queries`` on real streaming queries: a failure in any of a pipeline's queries stops the
rest and is reported, whichever query it is."""

from __future__ import annotations

import signal
import subprocess

import pytest
from cli_process import child_env, kill_tree, streamwise_command
from windowed_pipeline import SPEC, T0

from streamwise.pipeline import PipelineError, await_queries, load_pipeline
from streamwise.pipeline.layout import PipelineLayout
from streamwise.platform.topics import create_topic
from streamwise.testing import produce_events, read_topic, wait_for


def test_a_failing_second_query_stops_the_first_and_is_reported(spark, tmp_path) -> None:
    """Setup: two queries on Spark's rate source; the first writes nothing and would run forever, the
    second raises in its foreachBatch at batch 2.
    Invariant: await_queries returns (it does not wait on the first query forever), raising
    PipelineError that names the second query and its error; afterwards neither query is active."""

    def fail_at_two(_df, batch_id: int) -> None:
        if batch_id == 2:
            raise ValueError("boom at batch 2")

    def start(name: str, fn) -> object:
        stream = spark.readStream.format("rate").option("rowsPerSecond", 10).load()
        return (
            stream.writeStream.queryName(name)
            .foreachBatch(fn)
            .trigger(processingTime="200 milliseconds")
            .option("checkpointLocation", str(tmp_path / name))
            .start()
        )

    forever = start("runner_forever", lambda _df, _batch_id: None)
    failing = start("runner_failing", fail_at_two)
    with pytest.raises(PipelineError, match="query runner_failing failed: ValueError: boom at batch 2"):
        await_queries([forever, failing])
    assert not forever.isActive and not failing.isActive


def test_sigterm_stops_a_run_between_batches_and_settles_it(broker, settings, topic_name, tmp_path) -> None:
    """Setup: `streamwise run` of a windowed pipeline on a 1 s trigger in a child process; a bad
    record and good ones; once the bad record is in a committed batch, SIGTERM (what `down` sends).
    Invariant: exit 0 within the grace `down` gives (60 s), the log says the queries were stopped
    with no Python traceback, and the bad record is in the DLQ exactly once."""
    create_topic(settings.kafka, topic_name, partitions=1)
    path = tmp_path / "p.yaml"
    path.write_text(SPEC.format(name=topic_name))
    spec = load_pipeline(path)
    checkpoint = PipelineLayout(spec.name, settings.state).main_checkpoint
    produce_events(settings, topic_name, [b"not json", {"page": "/a", "event_time": T0}])
    log = tmp_path / "run.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            streamwise_command("run", str(path)), env=child_env(settings), stdout=out, stderr=subprocess.STDOUT
        )
        try:
            wait_for(lambda: (checkpoint / "commits" / "0").is_file() or proc.poll() is not None, bound_s=300,
                     what="the first committed batch")  # fmt: skip
            assert proc.poll() is None, log.read_text()[-3000:]
            produce_events(settings, topic_name, [{"page": "/a", "event_time": T0 + 1_000}])
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                kill_tree(proc)
    text = log.read_text()
    assert code == 0, text[-3000:]
    assert "stopping 1 queries" in text and f"pipeline {spec.name} stopped" in text
    assert "Traceback" not in text, text[-3000:]
    assert [value for value, _ in read_topic(settings, f"{topic_name}.dlq")] == [b"not json"]


# A stateless pipeline with one Delta sink; its test puts a file where the table's folder goes.
STATELESS = """
name: {name}
source:
  topic: {name}
  schema: "page STRING, event_time LONG"
sinks:
  - type: delta
    path: "{name}/rows"
"""


def test_run_of_two_pipelines_stops_both_when_the_second_fails(broker, settings, topic_name, tmp_path) -> None:
    """Setup: `streamwise run A B` in a child process: A is a windowed pipeline that would run until
    stopped; B's Delta table cannot be written (a file stands where its folder goes), so B's query
    fails at its first batch.
    Invariant: the run ends by itself with exit code 1 (not 2: a retry may help), and its one error
    line names B's query and Delta's exception (not py4j's wrapper); A had started, so ending means
    it was stopped."""
    first, second = topic_name, f"{topic_name}_b"
    paths = []
    for name, spec in ((first, SPEC), (second, STATELESS)):
        create_topic(settings.kafka, name, partitions=1)
        path = tmp_path / f"{name}.yaml"
        path.write_text(spec.format(name=name))
        paths.append(str(path))
    (settings.state / "warehouse").mkdir(parents=True, exist_ok=True)
    (settings.state / "warehouse" / second).write_text("not a folder")
    produce_events(settings, first, [{"page": "/a", "event_time": T0}])
    produce_events(settings, second, [{"page": "/b", "event_time": T0}])
    proc = subprocess.Popen(
        streamwise_command("run", *paths), env=child_env(settings), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        _out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            kill_tree(proc)
    assert proc.returncode == 1, err[-3000:]
    assert f"pipeline {first} started: {first}" in err and f"pipeline {second} started: {second}" in err
    (line,) = [line for line in err.splitlines() if line.startswith("error:")]
    assert line.startswith(f"error: query {second} failed: DeltaIOException: [DELTA_CANNOT_CREATE_LOG_PATH]"), line
