"""`streamwise up --profile cluster --spark-workers 2`: the whole distributed deployment on one machine
(three Kafka nodes and a Spark standalone cluster of two workers) as a user brings it up and down.

Slow-marked: three brokers, a master, two workers with their executors and a driver are nine JVMs on
two cores, beyond the default run's budget; the same parts are covered there one by one
(tests/integration/platform/test_spark_cluster.py runs the pipeline on both clusters)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import psutil
import pytest
from cli_process import scratch_platform, streamwise_command

from streamwise.platform.ports import free_port_block, free_ports


@pytest.mark.slow
def test_up_runs_the_pipeline_on_a_spark_cluster_over_three_brokers_and_down_stops_it(tmp_path: Path) -> None:
    """Setup: `up --profile cluster --spark-workers 2 --no-watch` on free ports and a scratch state
    folder (clickstream at 2,000 events/s), then `down`.
    Invariants: it prints the three brokers, the cluster's UI and a first window table; the master runs
    exactly one application, the pipeline, with an executor on each of the two workers; `down` stops
    the three nodes, the master and both workers by pid with everything else, and leaves no pid file."""
    state = tmp_path / "state"
    env = scratch_platform(state).env
    kafka = free_port_block(6)
    master, master_ui = free_ports(2)
    env |= {
        "STREAMWISE_KAFKA_PORT": str(kafka),
        "STREAMWISE_KAFKA_CONTROLLER_PORT": str(kafka + 1),
        "STREAMWISE_KAFKA_HEAP": "384m",
        "STREAMWISE_SPARK_MASTER_PORT": str(master),
        "STREAMWISE_SPARK_MASTER_UI_PORT": str(master_ui),
        "STREAMWISE_SPARK_WORKER_PORT": str(free_port_block(2)),
        "STREAMWISE_SPARK_WORKER_UI_PORT": str(free_port_block(2)),
    }
    cmd = streamwise_command()
    try:
        up = subprocess.run(
            [
                *cmd,
                "up",
                "--profile",
                "cluster",
                "--spark-workers",
                "2",
                "--no-watch",
                "--rate",
                "2000",
                "--wait",
                "420",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=900,
        )
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        bootstrap = ",".join(f"127.0.0.1:{kafka + 2 * i}" for i in range(3))
        assert bootstrap in up.stdout
        assert f"cluster http://127.0.0.1:{master_ui} (2 workers)" in up.stdout
        assert "first results" in up.stdout and "/page/0" in up.stdout
        status = httpx.get(f"http://127.0.0.1:{master_ui}/json/", timeout=10).json()
        assert [(a["name"], a["state"]) for a in status["activeapps"]] == [("streamwise-clickstream", "RUNNING")]
        assert sorted(w["coresused"] for w in status["workers"] if w["state"] == "ALIVE") == [1, 1]
        pids = {p.stem: json.loads(p.read_text())["pid"] for p in (state / "run").glob("*.pid")}
        assert set(pids) == {
            "kafka-1", "kafka-2", "kafka-3", "spark-master", "spark-worker-1", "spark-worker-2",
            "registry", "dashboard", "generator", "pipeline",
        }  # fmt: skip
    finally:
        down = subprocess.run([*cmd, "down"], capture_output=True, text=True, env=env, timeout=300)
    assert down.returncode == 0, down.stderr
    assert not any(
        psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE for pid in pids.values()
    )
    assert list((state / "run").glob("*.pid")) == []
