"""The supervisor on real processes: a small Python child that fails a given number of times, then
runs (or finishes); the supervisor as its own process, as ``up`` starts it."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from streamwise.platform.supervise import Backoff, SupervisorRecord, failure_cause
from streamwise.testing import wait_for

# argv: COUNTER FAILURES THEN. Attempt n (from 1) fails with exit 3 while n <= FAILURES; after that
# THEN is "run" (until SIGTERM, then exit 0), "finish" (exit 0) or "usage" (exit 2 at once).
CHILD = """
import pathlib, signal, sys, time
counter, failures, then = pathlib.Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
attempt = int(counter.read_text()) + 1 if counter.exists() else 1
counter.write_text(str(attempt))
if then == "usage":
    print("error: pipeline file p.yaml, line 3: steps.0.type: no step", flush=True)
    print("wrapped here", flush=True)
    print("  → fix the file", flush=True)
    sys.exit(2)
if attempt <= failures:
    print(f"attempt {attempt}", flush=True)
    print(f"RuntimeError: attempt {attempt} failed", flush=True)
    sys.exit(3)
if then == "finish":
    sys.exit(0)
signal.signal(signal.SIGTERM, lambda *_: (print("child: stopping on TERM", flush=True), sys.exit(0)))
print("child: running", flush=True)
while True:
    time.sleep(0.05)
"""


def _start(tmp_path: Path, failures: int, then: str, *options: str) -> tuple[subprocess.Popen, Path, Path]:
    child = tmp_path / "child.py"
    child.write_text(CHILD)
    record, counter, log = tmp_path / "run" / "x.supervisor.json", tmp_path / "attempts", tmp_path / "sup.log"
    cmd = [sys.executable, "-m", "streamwise.platform.supervise", str(record), *options]
    cmd += ["--", sys.executable, str(child), str(counter), str(failures), then]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    return proc, record, counter


def _read(record: Path) -> SupervisorRecord:
    found = SupervisorRecord.read(record)
    assert found is not None
    return found


def test_restarts_with_doubling_backoff_then_stops_on_term_without_restart(tmp_path: Path) -> None:
    """Setup: a child that fails 3 times (exit 3, 'RuntimeError: attempt n failed') then runs;
    backoff 0.2 s doubling to 0.5 s. Invariant: 3 restarts recorded, each with exit code 3, its own
    cause and a next attempt 0.2, 0.4, 0.5 s after the failure; then the record says running with
    the live child's pid. SIGTERM to the supervisor reaches the child, which stops; the supervisor
    exits 0 without a 5th attempt and leaves no process behind."""
    proc, record, counter = _start(tmp_path, 3, "run", "--first-delay", "0.2", "--max-delay", "0.5")
    try:
        running = wait_for(
            lambda: (r := SupervisorRecord.read(record)) and r.state == "running" and r.restarts == 3 and r,
            bound_s=60,
            what="the child running after 3 restarts",
        )
        assert [(r.exit_code, r.cause, r.delay_s) for r in running.recent] == [
            (3, f"RuntimeError: attempt {n} failed", delay) for n, delay in ((1, 0.2), (2, 0.4), (3, 0.5))
        ]
        assert [round(r.next_attempt_at - r.failed_at, 6) for r in running.recent] == [0.2, 0.4, 0.5]
        assert (running.last_exit_code, running.last_cause) == (3, "RuntimeError: attempt 3 failed")
        assert running.supervisor_pid == proc.pid
        assert running.child_pid is not None
        child = psutil.Process(running.child_pid)
        assert child.ppid() == proc.pid and child.is_running()
        wait_for(lambda: "child: running" in (tmp_path / "sup.log").read_text(), bound_s=30, what="the child's output")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    log = (tmp_path / "sup.log").read_text()
    assert "child: stopping on TERM" in log
    assert "exited with code 3 (RuntimeError: attempt 3 failed); restart 3 in 0.5s" in log
    assert counter.read_text() == "4"  # no attempt after the stop
    stopped = _read(record)
    assert (stopped.state, stopped.restarts, stopped.child_pid) == ("stopped", 3, None)
    assert not child.is_running() and not psutil.pid_exists(proc.pid)


def test_a_usage_error_is_not_restarted(tmp_path: Path) -> None:
    """Setup: a child that exits 2 (a wrong pipeline file) with the CLI's wrapped error line.
    Invariant: the supervisor exits 2 after the one attempt, records 'gave up' with 0 restarts and
    the error line joined back whole as the cause."""
    proc, record, counter = _start(tmp_path, 0, "usage", "--first-delay", "0.1")
    assert proc.wait(timeout=60) == 2
    gave_up = _read(record)
    assert (gave_up.state, gave_up.restarts, gave_up.last_exit_code) == ("gave up", 0, 2)
    assert gave_up.last_cause == "pipeline file p.yaml, line 3: steps.0.type: no step wrapped here"
    assert counter.read_text() == "1"


def test_gives_up_after_failures_in_a_row(tmp_path: Path) -> None:
    """Setup: a child that always fails; give up after 2 failures in a row. Invariant: 3 attempts
    (2 restarts), then the supervisor exits with the child's code 3 and records 'gave up'."""
    proc, record, counter = _start(tmp_path, 99, "run", "--first-delay", "0.1", "--give-up-after", "2")
    assert proc.wait(timeout=60) == 3
    gave_up = _read(record)
    assert (gave_up.state, gave_up.restarts, gave_up.last_cause) == ("gave up", 2, "RuntimeError: attempt 3 failed")
    assert counter.read_text() == "3"
    assert gave_up.summary() == "gave up after 2 restarts: RuntimeError: attempt 3 failed (exit 3)"


def test_a_finished_run_is_not_restarted(tmp_path: Path) -> None:
    """Setup: a child that fails once, then exits 0 (a --once run that caught up). Invariant: one
    restart, then the supervisor exits 0 and records 'finished'."""
    proc, record, counter = _start(tmp_path, 1, "finish", "--first-delay", "0.1")
    assert proc.wait(timeout=60) == 0
    done = _read(record)
    assert (done.state, done.restarts, counter.read_text()) == ("finished", 1, "2")


@pytest.mark.parametrize(("failures", "delay"), [(1, 2.0), (2, 4.0), (3, 8.0), (5, 32.0), (6, 60.0), (12, 60.0)])
def test_default_backoff_doubles_from_2_to_60_seconds(failures: int, delay: float) -> None:
    """Invariant: 2 s after the first failure, doubling, never over 60 s."""
    assert Backoff().delay(failures) == delay


def test_cause_of_a_signal_and_of_a_traceback() -> None:
    """Invariant: a killed child's cause is the signal; a traceback's is its last exception line."""
    assert failure_cause(["starting"], -9) == "killed by SIGKILL"
    # A JVM logs handled exceptions as warnings: a SIGKILL after one is still a SIGKILL.
    assert failure_cause(["WARN ...", "java.lang.AssertionError: assertion failed"], -9) == "killed by SIGKILL"
    trace = ["Traceback (most recent call last):", '  File "x.py", line 1', "pkg.mod.BoomError: it broke", "bye"]
    assert failure_cause(trace, 1) == "BoomError: it broke"
    assert failure_cause([], 1) == "exit code 1 with no output"


def test_a_healthy_run_resets_the_backoff(tmp_path: Path) -> None:
    """Setup: a child that always fails; every run counts as healthy (--healthy-after 0); give up
    after 1 failure in a row. Invariant: 3 restarts and more (without the reset it would give up at
    the 2nd failure), each after the first delay only."""
    proc, record, _ = _start(
        tmp_path, 10_000, "run", "--first-delay", "0.1", "--healthy-after", "0", "--give-up-after", "1"
    )
    try:
        found = wait_for(
            lambda: (r := SupervisorRecord.read(record)) and r.restarts >= 3 and r, bound_s=60, what="3 restarts"
        )
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert found.state != "gave up" and {r.delay_s for r in found.recent} == {0.1}


def test_term_while_waiting_to_restart_ends_the_supervision(tmp_path: Path) -> None:
    """Setup: a child that always fails; the first restart is 600 s away. Invariant: SIGTERM during
    that wait ends the supervisor at once with exit 0, recorded 'stopped', with no second attempt."""
    proc, record, counter = _start(tmp_path, 10_000, "run", "--first-delay", "600")
    try:
        wait_for(lambda: (r := SupervisorRecord.read(record)) and r.state == "backing off", bound_s=60, what="the wait")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert (_read(record).state, _read(record).restarts, counter.read_text()) == ("stopped", 1, "1")
