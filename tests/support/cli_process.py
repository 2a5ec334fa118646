"""The streamwise CLI in a child process, as users run it: one command line, one environment and
one way to kill it, for every test that needs a separate process (crash, signals, exit codes)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil

from streamwise.config import Settings, settings_env

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
