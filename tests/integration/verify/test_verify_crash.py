"""Crash and restart: ``streamwise run`` SIGKILLed in the middle of a batch, after some of its sinks
wrote it and before the others did; restarted with ``--once`` on the same checkpoint. ``verify`` then
finds nothing lost or duplicated in the Delta, PostgreSQL, Redis and Kafka-alerts sinks, and the
sinks of the one pipeline hold exactly the same rows."""

from __future__ import annotations

import json
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest
import yaml
from cli_process import REPO, child_env, kill_tree, streamwise_command

from streamwise.config import Settings
from streamwise.ingest.disorder import Disorder, RateProfile
from streamwise.ingest.encoding import Format
from streamwise.ingest.producer import EventProducer
from streamwise.ingest.run import produce
from streamwise.ingest.scenario import create
from streamwise.ingest.truth import GroundTruthWriter, read_ground_truth
from streamwise.pipeline import load_pipeline
from streamwise.pipeline.layout import PipelineLayout
from streamwise.platform.topics import create_topic
from streamwise.sinks import warehouse_path
from streamwise.verify import readers, verify_pipeline

COLUMNS = ["event_id", "user_id", "page"]
HELD_BATCH = 1  # the webhook receiver holds this batch's request until the run is killed


class HoldingReceiver(ThreadingHTTPServer):
    """A webhook receiver that accepts every POST at once, except the first one of batch ``HELD_BATCH``:
    that one it holds (the sink writer waits on it), and says so through ``held``."""

    def __init__(self) -> None:
        self.held = threading.Event()
        self.release = threading.Event()
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: HoldingReceiver

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("X-Streamwise-Batch") == str(HELD_BATCH) and not self.server.held.is_set():
            self.server.held.set()
            self.server.release.wait(120)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def batches(checkpoint: Path, log: str) -> int:
    folder = checkpoint / log
    return sum(1 for p in folder.iterdir() if p.name.isdigit()) if folder.is_dir() else 0


@pytest.mark.parametrize(
    ("events", "per_batch"),
    [pytest.param(1_200, 300, id="5-batches"), pytest.param(4_000, 500, id="9-batches", marks=pytest.mark.slow)],
)
def test_sigkill_mid_batch_then_restart_once_loses_and_duplicates_nothing(
    settings: Settings,
    broker,
    services,
    topic_name: str,
    tmp_path: Path,
    events: int,
    per_batch: int,
) -> None:
    """Setup: ``events`` clickstream events (1,200; 4,000 in the slow variant), 2 % sent twice, into
    a 2-partition topic, with ground truth; a pass-through pipeline reading ``per_batch`` records per
    batch (300; 500), run as `python -m streamwise run FILE`, with five sinks in this order: Delta, a
    webhook (one POST per batch), PostgreSQL keyed by event_id, Redis hashes per event_id, Kafka
    alerts. The webhook receiver holds batch 1's request; while it is held, the process and its JVM are
    SIGKILLed, so batch 1 is in Delta and in none of the later sinks. `run FILE --once` then restarts on
    the same checkpoint and receives batch 1 again.
    Invariant: at the kill, verify sees records missing and none duplicated, and Delta holds more rows
    than the alerts topic; after the restart, Delta and the transactional alerts topic hold every
    record sent (duplicates twice), PostgreSQL and the Redis hashes every id once: 0 lost and 0
    duplicated in every sink, and Delta and the alerts topic hold exactly the same rows (as do
    PostgreSQL and Redis)."""
    create_topic(settings.kafka, topic_name, partitions=2)
    create_topic(settings.kafka, f"{topic_name}.dlq", partitions=1)
    source = create("clickstream", seed=11)
    truth = GroundTruthWriter(
        settings.state, topic_name, schema=source.schema, key_field=source.key_field, meta={"source": "clickstream"}
    )
    produce(
        EventProducer(settings.kafka, topic_name),
        source,
        pace=RateProfile(0),
        fmt=Format.JSON,
        disorder=Disorder(duplicates=0.02, seed=11),
        count=events,
        truth=truth,
    )
    sent = read_ground_truth(settings.state, topic_name)
    distinct = len(set(sent.column("event_id").to_pylist()))
    assert sent.num_rows > distinct  # some records were sent twice

    receiver = HoldingReceiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    name = f"crash_{topic_name}"
    path = tmp_path / "pipeline.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": name,
                "source": {
                    "topic": topic_name,
                    "schema": "event_id BIGINT, user_id STRING, page STRING, event_time LONG",
                    "max_offsets_per_trigger": per_batch,
                },
                "sinks": [
                    {"type": "delta", "path": f"{name}/events"},
                    {
                        "type": "webhook",
                        "url": f"http://127.0.0.1:{receiver.server_port}/hook",
                        "mode": "batch",
                        "allow_private": True,
                    },
                    {"type": "postgres", "table": name, "key": ["event_id"], "order_by": "event_time"},
                    {"type": "redis", "structure": "hash", "key": f"{name}:{{event_id}}"},
                    {"type": "kafka_alerts", "topic": f"{name}_alerts", "key": "user_id"},
                ],
                "trigger": "1 second",
            }
        )
    )
    spec = load_pipeline(path)
    checkpoint = PipelineLayout(name, settings.state).main_checkpoint
    cmd = streamwise_command("run", str(path))
    env = child_env(settings)

    with open(tmp_path / "first.log", "w") as log:
        proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        try:
            while not receiver.held.wait(0.2):  # batch 1 is in Delta; the webhook holds it
                assert proc.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
        finally:
            kill_tree(proc)
            receiver.release.set()
    assert (batches(checkpoint, "commits"), batches(checkpoint, "offsets")) == (HELD_BATCH, HELD_BATCH + 1)

    at_kill = verify_pipeline(spec, settings)
    assert all(s.duplicated == 0 for s in at_kill.sinks) and any(s.lost > 0 for s in at_kill.sinks)
    delta_at_kill, _, _, _, alerts_at_kill = at_kill.sinks
    assert (delta_at_kill.found, alerts_at_kill.found) == (
        records_through(checkpoint, HELD_BATCH),
        records_through(checkpoint, HELD_BATCH - 1),
    )

    rerun = subprocess.run([*cmd, "--once"], env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stdout[-2000:] + rerun.stderr[-3000:]

    report = verify_pipeline(spec, settings)
    delta, webhook, postgres, redis, alerts = report.sinks
    assert (delta.checked, delta.expected, delta.found, delta.lost, delta.duplicated) == (
        True,
        sent.num_rows,
        sent.num_rows,
        0,
        0,
    )
    assert (postgres.checked, postgres.expected, postgres.found, postgres.lost, postgres.duplicated) == (
        True,
        distinct,
        distinct,
        0,
        0,
    )
    assert (redis.checked, redis.expected, redis.found, redis.lost, redis.duplicated) == (
        True,
        distinct,
        distinct,
        0,
        0,
    )
    assert (alerts.checked, alerts.expected, alerts.found, alerts.lost, alerts.duplicated) == (
        True,
        sent.num_rows,
        sent.num_rows,
        0,
        0,
    )
    assert report.ok and not webhook.checked

    # One query, one batch sequence: the sinks agree row for row, not only in number.
    kafka_rows = readers.json_rows(readers.topic_records(settings.kafka, f"{name}_alerts"), COLUMNS, query=alerts.query)
    delta_rows = readers.delta_rows(warehouse_path(f"{name}/events", settings.state), COLUMNS)
    assert sorted_rows(delta_rows) == sorted_rows(kafka_rows)
    pg_rows = readers.postgres_rows(settings.postgres, name, COLUMNS)
    redis_rows = readers.redis_hash_rows(settings.redis, f"{name}:{{event_id}}", ["user_id", "page"])
    assert sorted_rows(pg_rows) == sorted_rows(redis_rows) == sorted(set(sorted_rows(delta_rows)))


def records_through(checkpoint: Path, batch_id: int) -> int:
    """Records the query read in batches 0..batch_id: the end offsets its offset log holds for that
    batch (the source starts at offset 0 of every partition)."""
    ends = json.loads((checkpoint / "offsets" / str(batch_id)).read_text().splitlines()[-1])
    return sum(offset for partitions in ends.values() for offset in partitions.values())


def sorted_rows(frame: pd.DataFrame) -> list[tuple]:
    """The rows as (event_id, user_id, page) tuples of plain values, sorted: a multiset to compare."""
    return sorted((int(r.event_id), str(r.user_id), str(r.page)) for r in frame[COLUMNS].itertuples(index=False))
