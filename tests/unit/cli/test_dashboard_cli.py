"""`streamwise dashboard start|stop` as a user runs them: a detached, supervised process under the state
folder that answers on its port, then is stopped by its pid. Runs the real entry point in subprocesses;
no broker is needed (the page then shows Kafka as stopped)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest

from streamwise.platform.ports import free_ports


def streamwise(state: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streamwise", "--state-dir", str(state), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", **env},
        timeout=90,
    )


@pytest.fixture(autouse=True)
def _wired() -> None:
    from streamwise.cli import app

    if "dashboard" not in {group.name for group in app.registered_groups}:
        pytest.skip(
            "`dashboard` is not registered in streamwise.cli yet (app.add_typer(dashboard_app, name='dashboard'))"
        )


def test_start_answers_then_stop_ends_the_process(tmp_path: Path) -> None:
    """Setup: `dashboard start --port P` with Kafka pointed at a port nothing listens on.
    Invariants: the command returns once GET / answers 200, the pid file names a live process that
    serves /api/snapshot (Kafka stopped, no queries); a second start reuses it; `stop` ends it and
    removes the pid file."""
    port, kafka_port, controller = free_ports(3)
    env = {
        "STREAMWISE_KAFKA_PORT": str(kafka_port),
        "STREAMWISE_KAFKA_CONTROLLER_PORT": str(controller),
        "STREAMWISE_DASHBOARD_RESULTS_TABLE": str(tmp_path / "results"),
    }
    started = streamwise(tmp_path, "dashboard", "start", "--port", str(port), env=env)
    pid_file = tmp_path / "run" / "dashboard.pid"
    try:
        assert started.returncode == 0, started.stderr + started.stdout
        assert f"dashboard on http://127.0.0.1:{port}" in started.stdout
        pid = json.loads(pid_file.read_text())["pid"]
        assert httpx.get(f"http://127.0.0.1:{port}/").status_code == 200
        snap = httpx.get(f"http://127.0.0.1:{port}/api/snapshot", timeout=10).json()
        assert snap["bootstrap_servers"] == f"127.0.0.1:{kafka_port}" and snap["queries"] == []
        again = streamwise(tmp_path, "dashboard", "start", "--port", str(port), env=env)
        assert again.returncode == 0 and f"(pid {pid})" in again.stdout
    finally:
        stopped = streamwise(tmp_path, "dashboard", "stop", env=env)
    assert stopped.returncode == 0 and "dashboard stopped" in stopped.stdout
    assert not pid_file.exists() and not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE  # an orphan may wait for its reaper
    except psutil.NoSuchProcess:
        return False
