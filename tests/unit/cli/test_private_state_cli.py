"""What the CLI writes under the state folder is its user's alone, the secure profile's dashboard needs
its token, and no service binds beyond loopback unless told to. Runs the real entry point in
subprocesses, from a parent whose umask lets others read (022); no broker is needed."""

from __future__ import annotations

import json
import os
import ssl
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from streamwise.platform.ports import free_ports


@pytest.fixture(autouse=True)
def _open_umask() -> Iterator[None]:
    """The parent's umask lets group and others read: what the CLI writes must not inherit it."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def streamwise(state: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streamwise", "--state-dir", str(state), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "400", **env},
        timeout=90,
    )


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    kafka_port, controller = free_ports(2)
    return {
        "STREAMWISE_KAFKA_PORT": str(kafka_port),
        "STREAMWISE_KAFKA_CONTROLLER_PORT": str(controller),
        "STREAMWISE_DASHBOARD_RESULTS_TABLE": str(tmp_path / "results"),
        **extra,
    }


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _umask(pid: int) -> int:
    """A live process's umask, as Linux reports it."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Umask:"):
            return int(line.split()[1], 8)
    raise AssertionError(f"no Umask line for pid {pid}")


def test_secure_dashboard_start_is_private_and_needs_its_token(tmp_path: Path) -> None:
    """Setup: `dashboard start` with the secure profile on (STREAMWISE_SECURITY_ENABLED) in a state folder
    that does not exist yet, from a parent with umask 022.
    Invariants: the state folder and every folder the CLI made are 0700 and its files (pid file, log,
    token) 0600; the started process runs with umask 077; the command prints the https URL and the token
    file, never the token; the dashboard answers 401 without the token and 200 with it (over TLS, trusting
    the project's CA); the token is not in the dashboard's log."""
    state = tmp_path / "state"
    port = free_ports(1)[0]
    env = _env(tmp_path, STREAMWISE_SECURITY_ENABLED="true")
    started = streamwise(state, "dashboard", "start", "--port", str(port), env=env)
    try:
        assert started.returncode == 0, started.stderr + started.stdout
        token_path = state / "security" / "dashboard.token"
        token = token_path.read_text().strip()
        assert f"dashboard on https://127.0.0.1:{port}" in started.stdout
        assert f"log in with the token in {token_path}" in started.stdout
        assert token not in started.stdout + started.stderr
        for folder in (state, state / "run", state / "logs", state / "security"):
            assert _mode(folder) == 0o700, folder
        for file in (state / "run" / "dashboard.pid", state / "logs" / "dashboard.log", token_path):
            assert _mode(file) == 0o600, file
        pid = json.loads((state / "run" / "dashboard.pid").read_text())["pid"]
        assert _umask(pid) == 0o077
        verify = ssl.create_default_context(cafile=str(state / "security" / "ca.pem"))
        url = f"https://127.0.0.1:{port}/api/snapshot"
        assert httpx.get(url, verify=verify, timeout=10).status_code == 401
        assert (
            httpx.get(url, verify=verify, headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code == 200
        )
    finally:
        stopped = streamwise(state, "dashboard", "stop", env=env)
    assert stopped.returncode == 0 and "dashboard stopped" in stopped.stdout
    assert token not in (state / "logs" / "dashboard.log").read_text()


def test_a_non_loopback_host_is_refused_unless_exposed(tmp_path: Path) -> None:
    """Setup: `dashboard start --host 0.0.0.0` without the secure profile, then the same with --expose.
    Invariants: without --expose the command exits 1 with the refusal and its way out, and nothing is
    started (no pid file, no log); with --expose it starts (the child, which checks again, gets the
    permission through the environment) and warns that the dashboard is unprotected."""
    state = tmp_path / "state"
    port = free_ports(1)[0]
    env = _env(tmp_path)
    refused = streamwise(state, "dashboard", "start", "--host", "0.0.0.0", "--port", str(port), env=env)
    assert refused.returncode == 1
    assert (
        "error: the dashboard would listen on 0.0.0.0 (dashboard.host, STREAMWISE_DASHBOARD_HOST), an address "
        "other machines can reach, while the secure profile is off" in refused.stderr
    )
    assert "--expose (STREAMWISE_SECURITY_EXPOSE=true)" in refused.stderr
    assert not (state / "run" / "dashboard.pid").exists() and not (state / "logs").exists()

    exposed = streamwise(state, "dashboard", "start", "--host", "0.0.0.0", "--port", str(port), "--expose", env=env)
    try:
        assert exposed.returncode == 0, exposed.stderr + exposed.stdout
        assert "the dashboard listens on 0.0.0.0 without the secure profile (--expose)" in exposed.stderr
        assert httpx.get(f"http://127.0.0.1:{port}/api/snapshot", timeout=10).status_code == 200
    finally:
        stopped = streamwise(state, "dashboard", "stop", env=env)
    assert stopped.returncode == 0 and "dashboard stopped" in stopped.stdout
