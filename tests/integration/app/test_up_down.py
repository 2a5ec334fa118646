"""`streamwise up` / `down` as a newcomer runs them: the platform reaches printed window results, and
`down` leaves no process behind."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import httpx
import psutil
from cli_process import scratch_platform, streamwise_command


def _processes_mentioning(text: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline", "environ"]):
        try:
            blob = " ".join(proc.info["cmdline"] or []) + " ".join((proc.info["environ"] or {}).values())
        except psutil.Error:
            continue
        if text in blob and proc.pid != os.getpid():
            found.append(proc)
    return found


def wait_for_line(proc: subprocess.Popen, text: str) -> None:
    """Read ``proc``'s output until a line holds ``text`` (fails if the process ends first)."""
    assert proc.stdout is not None
    for line in proc.stdout:
        if text in line:
            return
    raise AssertionError(f"the process ended (code {proc.wait()}) without printing {text!r}")


def test_up_shows_windows_and_down_stops_everything(tmp_path: Path) -> None:
    """Setup: `up --no-watch` on free ports with a scratch state folder (generator at 3,000 events/s),
    then a second `up` that watches the results, then `down`.
    Invariant: it prints the endpoints and a first window table; `down` stops broker, registry,
    dashboard, generator and pipeline by pid, no process that belongs to this state folder is left,
    and the watching `up` ends by itself (exit 0) saying the pipeline is no longer running."""
    state = tmp_path / "state"
    platform = scratch_platform(state)
    env, dashboard_port = platform.env, platform.dashboard_port
    cmd = streamwise_command()
    try:
        up = subprocess.run(
            [*cmd, "up", "--no-watch", "--rate", "3000", "--wait", "420"],
            capture_output=True,
            text=True,
            env=env,
            timeout=720,
        )
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        assert "platform up in" in up.stdout
        assert str(state / "warehouse" / "clickstream" / "page_view_counts") in up.stdout
        assert "first results" in up.stdout
        assert "/page/0" in up.stdout  # the most popular page heads a window in the table
        pids = {p.stem: json.loads(p.read_text())["pid"] for p in (state / "run").glob("*.pid")}
        assert set(pids) == {"kafka", "registry", "dashboard", "generator", "pipeline"}
        assert httpx.get(f"http://127.0.0.1:{dashboard_port}/metrics", timeout=10).status_code == 200
        # A second `up` keeps what runs and watches the results, until the platform is stopped.
        watcher = subprocess.Popen(
            [*cmd, "up", "--rate", "3000"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        wait_for_line(watcher, "first results")
    finally:
        down = subprocess.run([*cmd, "down"], capture_output=True, text=True, env=env, timeout=180)
    watched, _ = watcher.communicate(timeout=60)  # the watcher ends by itself once the pipeline is gone
    assert watcher.returncode == 0 and "the pipeline is no longer running" in watched, watched[-2000:]
    assert down.returncode == 0, down.stderr
    assert "stopped dashboard, pipeline, generator, registry, kafka" in down.stdout
    assert not any(
        psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE for pid in pids.values()
    )
    assert _processes_mentioning(str(state)) == []
    assert list((state / "run").glob("*.pid")) == []
