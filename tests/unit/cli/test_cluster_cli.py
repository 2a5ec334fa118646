"""``streamwise cluster …`` and ``run --master`` as a user meets them, without a cluster running: the
commands there are, what they say when nothing runs, and refusals before anything starts."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from streamwise.cli.cluster import status_tables, up_summary
from streamwise.config import load_settings
from streamwise.platform.cluster import AppInfo, SparkCluster, SparkClusterStatus, WorkerInfo
from streamwise.platform.process import ServiceStatus


def streamwise(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "STREAMWISE_STATE_DIR": str(state)}
    return subprocess.run(
        [sys.executable, "-m", "streamwise", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_commands_and_what_they_say_with_nothing_running(tmp_path: Path) -> None:
    """Setup: an empty state folder. Invariants: the sub-app lists up, down, status, kill and restart;
    status exits 1 saying the master is stopped; down, kill and restart say there is nothing to stop
    or start; config show lists the cluster's settings with their variables."""
    help_text = streamwise(tmp_path, "cluster", "--help").stdout
    for command in ("up", "down", "status", "kill", "restart"):
        assert f"│ {command} " in help_text
    status = streamwise(tmp_path, "cluster", "status")
    assert status.returncode == 1
    assert "● master stopped (log: " in status.stdout
    assert "no Spark cluster was running" in streamwise(tmp_path, "cluster", "down").stdout
    assert "worker 1 was not running" in streamwise(tmp_path, "cluster", "kill", "1").stdout
    restart = streamwise(tmp_path, "cluster", "restart", "3")
    assert restart.returncode == 1
    assert "error: there is no Spark worker 3: the cluster has 0" in restart.stderr
    shown = streamwise(tmp_path, "config", "show").stdout
    for line in ("spark.master_port", "STREAMWISE_SPARK_WORKER_MEMORY", "spark.driver_bind_address"):
        assert line in shown


def test_up_refuses_bad_options_before_starting(tmp_path: Path) -> None:
    """Setup: a taken master port; zero workers; a worker port range into the master UI's port.
    Invariants: one red line each (exit 1) or Typer's usage error (exit 2), and no pid file."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        taken = streamwise(tmp_path, "cluster", "up", "--master-port", str(port), "--ui-port", "1")
    assert taken.returncode == 1, taken.stderr
    assert f"error: port {port} on 127.0.0.1 (for the Spark master) is taken by" in taken.stderr
    assert "pass --master-port to use another port" in taken.stderr
    assert streamwise(tmp_path, "cluster", "up", "--workers", "0").returncode == 2
    overlap = streamwise(tmp_path, "cluster", "up", "--ui-port", "7079")
    assert overlap.returncode == 1
    assert "error: invalid cluster option: " in overlap.stderr and "overlap" in overlap.stderr
    assert not (tmp_path / "run").exists()


def test_run_master_option(tmp_path: Path) -> None:
    """Setup: run with an empty --master. Invariant: exit 2 (not retried by a supervisor), one red line."""
    result = streamwise(tmp_path, "run", "clickstream", "--master", " ")
    assert result.returncode == 2
    assert "error: --master is empty" in result.stderr


def test_what_up_and_status_print(tmp_path: Path) -> None:
    """Setup: a cluster's settings, and a status with one worker alive, one dead and an application.
    Invariants: up prints the master URL, its UI, and the two ways to run a pipeline on it; status
    prints the master's line, a row per worker (our number, state, cores and memory in use, pid) and
    the application."""
    cluster = SparkCluster(load_settings(state_dir=tmp_path))
    printed = _text(up_summary(cluster, [100, 101, 102]))
    assert "Spark cluster up: master spark://127.0.0.1:7077 (pid 100), 2 worker(s) (pid 101, 102)" in printed
    assert "master UI  http://127.0.0.1:8080" in printed
    assert "STREAMWISE_SPARK_MASTER=spark://127.0.0.1:7077 streamwise run clickstream" in printed
    assert "streamwise run clickstream --master spark://127.0.0.1:7077" in printed

    running = ServiceStatus("spark-worker-1", True, 4242, tmp_path)
    st = SparkClusterStatus(
        url="spark://127.0.0.1:7077",
        ui_url="http://127.0.0.1:8080",
        master=ServiceStatus("spark-master", True, 4241, tmp_path),
        workers=[running, ServiceStatus("spark-worker-2", False, None, tmp_path)],
        alive=True,
        known=[
            WorkerInfo("worker-a", "127.0.0.1:7078", "ALIVE", 1, 1, 1024, 1024, ""),
            WorkerInfo("worker-b", "127.0.0.1:7079", "DEAD", 1, 0, 1024, 0, ""),
        ],
        apps=[AppInfo("app-1", "streamwise-clickstream", 1, 1024, "RUNNING")],
        numbers={"127.0.0.1:7078": 1, "127.0.0.1:7079": 2},
    )
    text = "\n".join(_text(part) for part in status_tables(st))
    assert "● master spark://127.0.0.1:7077 alive (pid 4241), UI http://127.0.0.1:8080" in text
    assert "workers the master knows: 1 alive; 1 process(es) started here" in text
    assert "│ 1      │ 127.0.0.1:7078 │ ALIVE │ 1/1" in text and "1,024/1,024 MiB" in text and "4242" in text
    assert "│ 2      │ 127.0.0.1:7079 │ DEAD" in text
    assert "app-1" in text and "streamwise-clickstream" in text
    assert not st.serving


def _text(renderable: object) -> str:
    console = Console(width=200, no_color=True, record=True)
    console.print(renderable)
    return console.export_text()
