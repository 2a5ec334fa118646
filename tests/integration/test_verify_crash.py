"""Crash and restart: ``streamwise run`` SIGKILLed in the middle of a run, restarted with ``--once`` on
the same checkpoint, and ``verify`` finds nothing lost or duplicated in the Delta, PostgreSQL, Redis and
Kafka-alerts sinks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml
from verify_helpers import REPO, child_env, services  # noqa: F401 - a fixture

from streamwise.config import Settings
from streamwise.ingest.disorder import Disorder, RateProfile
from streamwise.ingest.encoding import Format
from streamwise.ingest.producer import EventProducer
from streamwise.ingest.run import produce
from streamwise.ingest.scenario import create
from streamwise.ingest.truth import GroundTruthWriter, read_ground_truth
from streamwise.pipeline import load_pipeline
from streamwise.pipeline.spec import checkpoint_root
from streamwise.platform.topics import create_topic
from streamwise.verify import verify_pipeline

def batches(checkpoint: Path, log: str) -> int:
    folder = checkpoint / log
    return sum(1 for p in folder.iterdir() if p.name.isdigit()) if folder.is_dir() else 0


def kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL the run and its JVM, by pid: nothing gets to stop cleanly."""
    family = [proc.pid, *(c.pid for c in psutil.Process(proc.pid).children(recursive=True))]
    for pid in reversed(family):  # the JVM first: it does the writing
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(timeout=30)


@pytest.mark.parametrize(
    ("events", "per_batch"),
    [pytest.param(1_200, 300, id="5-batches"), pytest.param(4_000, 500, id="9-batches", marks=pytest.mark.slow)],
)
def test_sigkill_mid_batch_then_restart_once_loses_and_duplicates_nothing(
    settings: Settings, broker, services, topic_name: str, tmp_path: Path, events: int, per_batch: int  # noqa: ANN001, F811
) -> None:
    """Setup: ``events`` clickstream events (1,200; 4,000 in the slow variant), 2 % sent twice, into
    a 2-partition topic, with ground truth; a pass-through pipeline (Delta, and PostgreSQL keyed by
    event_id) reading ``per_batch`` records per batch (300; 500), run as `python -m streamwise run FILE`. Once both sink queries have committed a batch and one
    has begun another, the process and its JVM are SIGKILLed; `run FILE --once` then restarts on the
    same checkpoints.
    Invariant: at the kill, verify sees records missing and none duplicated; after the restart,
    Delta and the transactional alerts topic hold every record sent (duplicates twice), PostgreSQL and
    the Redis hashes every id once: 0 lost and 0 duplicated in every sink."""
    create_topic(settings.kafka, topic_name, partitions=2)
    create_topic(settings.kafka, f"{topic_name}.dlq", partitions=1)
    source = create("clickstream", seed=11)
    truth = GroundTruthWriter(settings.state, topic_name, schema=source.schema, key_field=source.key_field, meta={"source": "clickstream"})
    produce(EventProducer(settings.kafka, topic_name), source, pace=RateProfile(0), fmt=Format.JSON,
            disorder=Disorder(duplicates=0.02, seed=11), count=events, truth=truth)  # fmt: skip
    sent = read_ground_truth(settings.state, topic_name)
    distinct = len(set(sent.column("event_id").to_pylist()))
    assert sent.num_rows > distinct  # some records were sent twice

    name = f"crash_{topic_name}"
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump({
        "name": name,
        "source": {"topic": topic_name, "schema": "event_id BIGINT, user_id STRING, page STRING, event_time LONG",
                   "max_offsets_per_trigger": per_batch},
        "sinks": [{"type": "delta", "path": f"{name}/events"},
                  {"type": "postgres", "table": name, "key": ["event_id"], "order_by": "event_time"},
                  {"type": "redis", "structure": "hash", "key": f"{name}:{{event_id}}"},
                  {"type": "kafka_alerts", "topic": f"{name}_alerts", "key": "user_id"}],
        "trigger": "1 second",
    }))  # fmt: skip
    spec = load_pipeline(path)
    checkpoints = [checkpoint_root(name, settings.state) / q for q in ("delta_0", "postgres_1", "redis_2", "kafka_alerts_3")]
    cmd = [sys.executable, "-m", "streamwise", "run", str(path)]
    env = child_env(settings)

    with open(tmp_path / "first.log", "w") as log:
        proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 180
            while True:  # both committed a batch, and one is inside the next one
                done = [batches(c, "commits") for c in checkpoints]
                begun = [batches(c, "offsets") for c in checkpoints]
                if min(done) >= 1 and any(b > d for b, d in zip(begun, done, strict=True)):
                    break
                assert proc.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "no batch committed in 180 s"
                time.sleep(0.05)
        finally:
            kill_tree(proc)
    assert min(batches(c, "commits") for c in checkpoints) < sent.num_rows // per_batch  # data was left

    at_kill = verify_pipeline(spec, settings)
    assert all(s.duplicated == 0 for s in at_kill.sinks) and any(s.lost > 0 for s in at_kill.sinks)

    rerun = subprocess.run([*cmd, "--once"], env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stdout[-2000:] + rerun.stderr[-3000:]

    report = verify_pipeline(spec, settings)
    delta, postgres, redis, alerts = report.sinks
    assert (delta.checked, delta.expected, delta.found, delta.lost, delta.duplicated) == (True, sent.num_rows, sent.num_rows, 0, 0)
    assert (postgres.checked, postgres.expected, postgres.found, postgres.lost, postgres.duplicated) == (True, distinct, distinct, 0, 0)
    assert (redis.checked, redis.expected, redis.found, redis.lost, redis.duplicated) == (True, distinct, distinct, 0, 0)
    assert (alerts.checked, alerts.expected, alerts.found, alerts.lost, alerts.duplicated) == (True, sent.num_rows, sent.num_rows, 0, 0)
    assert report.ok
