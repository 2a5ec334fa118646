"""The streamwise CLI in a child process, as users run it: one command line, one environment and
one way to kill it, for every test that needs a separate process (crash, signals, exit codes)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import psutil

from streamwise.config import Settings, settings_env
from streamwise.platform.ports import free_ports

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"


def streamwise_command(*args: str) -> list[str]:
    """``python -m streamwise ARGS`` with this interpreter (the project's venv)."""
    return [sys.executable, "-m", "streamwise", *args]


def child_env(settings: Settings | None = None, **extra: str) -> dict[str, str]:
    """This process's environment, plus exactly ``settings`` (never the default ports) and wide,
    colourless output so a test can match whole lines; ``extra`` adds or overrides variables."""
    return {
        **os.environ,
        **(settings_env(settings) if settings is not None else {}),
        "COLUMNS": "250",
        "NO_COLOR": "1",
        **extra,
    }


@dataclass(frozen=True)
class ScratchPlatform:
    """The environment of an ``up`` on free ports with its own state folder, and the ports it uses."""

    env: dict[str, str]
    kafka_port: int
    registry_port: int
    dashboard_port: int


def scratch_platform(state: Path) -> ScratchPlatform:
    """What ``up`` needs to run beside anything else on this machine: free ports, a small broker heap,
    ``local[2]`` without the Spark UI, the project's jar cache, and ``state`` as its state folder."""
    kafka_port, controller_port, registry_port, dashboard_port = free_ports(4)
    env = child_env(
        **{
            "STREAMWISE_STATE_DIR": str(state),
            "STREAMWISE_CACHE_DIR": str(REPO / ".streamwise" / "cache"),
            "STREAMWISE_KAFKA_PORT": str(kafka_port),
            "STREAMWISE_KAFKA_CONTROLLER_PORT": str(controller_port),
            "STREAMWISE_REGISTRY_PORT": str(registry_port),
            "STREAMWISE_DASHBOARD_PORT": str(dashboard_port),
            "STREAMWISE_KAFKA_HEAP": "512m",
            "STREAMWISE_SPARK_UI": "false",
            "STREAMWISE_SPARK_MASTER": "local[2]",
        }
    )
    return ScratchPlatform(env, kafka_port, registry_port, dashboard_port)


def run_streamwise(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run one CLI command to its end and capture its output (the exit code is the test's to check)."""
    return subprocess.run(
        streamwise_command(*args), capture_output=True, text=True, env=env, cwd=REPO, timeout=timeout, check=False
    )


def kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL a child and everything under it (the JVM of a Spark driver first: it does the
    writing), by pid: nothing gets to stop cleanly."""
    family = [proc.pid, *(c.pid for c in psutil.Process(proc.pid).children(recursive=True))]
    for pid in reversed(family):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait(timeout=30)
