"""`streamwise registry` as a user meets it when something is off: one red line, a hint, exit 1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path


def streamwise(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "streamwise", *args], capture_output=True, text=True, env=env, timeout=60
    )


def test_registry_start_on_a_taken_port(tmp_path: Path) -> None:
    """Setup: a socket listening on a free port; `registry start --port` on it. Invariant: exit 1 with
    the port, its owner and the option to change it; no traceback; nothing left running."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        result = streamwise("--state-dir", str(tmp_path), "registry", "start", "--port", str(port))
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"error: port {port} on 127.0.0.1 (for the schema registry) is taken by pid {os.getpid()}" in result.stderr
    assert "pass --port to use another port" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "run" / "registry.pid").exists()


def test_registry_status_when_stopped(tmp_path: Path) -> None:
    """Setup: an empty state folder. Invariant: `registry status` says stopped, names the log, exits 1."""
    result = streamwise("--state-dir", str(tmp_path), "registry", "status")
    assert result.returncode == 1
    assert f"● stopped (log: {tmp_path / 'logs' / 'registry.log'})" in result.stdout


def test_registry_start_without_kafka(tmp_path: Path) -> None:
    """Setup: no broker on the Kafka port given. Invariant: exit 1 at once, saying the registry keeps
    its state in Kafka and how to start it; no registry process or pid file left behind."""
    with socket.socket() as sock:  # a port nobody listens on: bound, never listening
        sock.bind(("127.0.0.1", 0))
        kafka_port = sock.getsockname()[1]
        with socket.socket() as other:
            other.bind(("127.0.0.1", 0))
            registry_port = other.getsockname()[1]
        result = streamwise(
            "--state-dir",
            str(tmp_path),
            "--kafka-port",
            str(kafka_port),
            "registry",
            "start",
            "--port",
            str(registry_port),
        )
    assert result.returncode == 1
    assert (
        f"error: Kafka on 127.0.0.1:{kafka_port} does not answer; the registry keeps its state there" in result.stderr
    )
    assert "start it first with `streamwise kafka start`" in result.stderr
    assert not (tmp_path / "run" / "registry.pid").exists()
