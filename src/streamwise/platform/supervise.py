"""Keep one command running: restart it with exponential backoff when it fails, record each restart.

:func:`supervise` runs a command (in practice ``streamwise run PIPELINE``) as its child, copies the
child's output to its own, and when the child exits with an error starts it again after a delay
that doubles from ``first_s`` up to ``max_s``. A run that stayed up ``healthy_after_s`` counts as
healthy: the next failure starts from ``first_s`` again. Every restart is logged with the exit code
and the line of the child's output that names the cause, and recorded in a small JSON file (written
atomically) that ``streamwise status`` and the dashboard read.

When it does not restart, and why:

* exit code 0: the command finished (a ``run --once`` that caught up); nothing to do again.
* exit code 2 (:data:`NO_RETRY_EXIT`): the command line, a setting or the pipeline file is wrong.
  It would fail again identically, so the supervisor gives up at once and exits 2 itself.
* ``give_up_after`` failures in a row, none of them after a healthy run: something outside (the
  broker, a database) stays broken; the supervisor gives up rather than retry forever in silence.
* SIGTERM or SIGINT to the supervisor: it forwards TERM to the child (a driver stops its queries
  between two batches and settles them), waits for it and exits with its code, without a restart.

The child stays in the supervisor's process group, so a KILL of the group after a stop's grace
period (:meth:`Service.stop <streamwise.platform.process.Service.stop>`) reaches both.

Run it on any command: ``python -m streamwise.platform.supervise RECORD.json -- CMD ...``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Literal

NO_RETRY_EXIT = 2  # usage, setting or pipeline-file errors (Typer's usage errors exit 2 as well)
RECENT = 10  # restarts kept in the record, newest last

State = Literal["running", "backing off", "stopping", "stopped", "finished", "gave up"]


@dataclass(frozen=True)
class Backoff:
    """When to restart: after ``first_s``, doubling up to ``max_s``; a run of ``healthy_after_s``
    or more resets the delay; ``give_up_after`` failures in a row without one end the supervision."""

    first_s: float = 2.0
    max_s: float = 60.0
    healthy_after_s: float = 300.0
    give_up_after: int = 10

    def delay(self, failures_in_a_row: int) -> float:
        """The wait before the restart that follows the ``failures_in_a_row``-th failure (from 1)."""
        return min(self.max_s, self.first_s * 2 ** max(0, failures_in_a_row - 1))


@dataclass
class Restart:
    """One failure of the child and the restart it was given."""

    failed_at: float  # epoch seconds
    exit_code: int
    cause: str
    delay_s: float
    next_attempt_at: float  # epoch seconds


@dataclass
class SupervisorRecord:
    """What ``STATE/run/NAME.supervisor.json`` holds: the supervision of one command since its start."""

    supervisor_pid: int
    command: list[str]
    started_at: float
    state: State = "running"
    child_pid: int | None = None
    restarts: int = 0
    last_exit_code: int | None = None
    last_cause: str | None = None
    last_failure_at: float | None = None
    next_attempt_at: float | None = None
    recent: list[Restart] = field(default_factory=list)

    def write(self, path: Path) -> None:
        """Atomically: a reader sees the previous record or this one, never half of one."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1))
        os.replace(tmp, path)

    @classmethod
    def read(cls, path: Path) -> SupervisorRecord | None:
        """The record at ``path``, or None when there is none (or it is not one)."""
        try:
            raw = json.loads(path.read_text())
            raw["recent"] = [Restart(**r) for r in raw.get("recent", [])]
            return cls(**raw)
        except (FileNotFoundError, ValueError, TypeError):
            return None

    def summary(self) -> str:
        """One line for ``status`` and the dashboard: restarts and the last cause, or ''."""
        if self.state == "gave up":
            return f"gave up after {self.restarts} restarts: {self.last_cause} (exit {self.last_exit_code})"
        if not self.restarts:
            return ""
        text = f"{self.restarts} restart{'s' if self.restarts != 1 else ''}, last: {self.last_cause}"
        if self.state == "backing off" and self.next_attempt_at is not None:
            text += f"; next attempt in {max(0.0, self.next_attempt_at - time.time()):.0f}s"
        return text


_ERROR_LINE = re.compile(r"^error:\s*(.*)$")
_EXCEPTION_LINE = re.compile(r"^\s*([\w.]+(?:Error|Exception|Exit|Interrupt)): ?(.*)$")


def failure_cause(lines: Sequence[str], exit_code: int) -> str:
    """What ended a failed command: the signal's name when one killed it (whatever its output
    said last: a JVM logs handled exceptions as warnings, and SIGKILL leaves no line of its own);
    else the CLI's ``error: ...`` line (joined back when the console wrapped it, up to its
    ``→ hint``), else the last ``SomeError: message`` of a traceback, else the last line."""
    if exit_code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-exit_code).name}"
    lines = [line.rstrip() for line in lines]
    for i in range(len(lines) - 1, -1, -1):
        match = _ERROR_LINE.match(lines[i].strip())
        if match:
            parts = [match.group(1)]
            for more in lines[i + 1 :]:
                if not more.strip() or more.strip().startswith("→"):
                    break
                parts.append(more.strip())
            return " ".join(parts)
    for line in reversed(lines):
        match = _EXCEPTION_LINE.match(line)
        if match:
            return f"{match.group(1).rsplit('.', 1)[-1]}: {match.group(2)}".strip()
    last = next((line.strip() for line in reversed(lines) if line.strip()), "")
    return last or f"exit code {exit_code} with no output"


class _Tee:
    """Copies a child's output to ``out`` line by line, keeping the last lines for the cause."""

    def __init__(self, source: IO[bytes], out: IO[bytes], keep: int = 60) -> None:
        self.last: deque[str] = deque(maxlen=keep)
        self._source, self._out = source, out
        self._thread = threading.Thread(target=self._copy, daemon=True)
        self._thread.start()

    def _copy(self) -> None:
        for line in iter(self._source.readline, b""):
            self.last.append(line.decode(errors="replace"))
            with contextlib.suppress(OSError, ValueError):
                self._out.write(line)
                self._out.flush()

    def join(self) -> list[str]:
        self._thread.join(timeout=10)  # the child has exited: its pipe ends as soon as its children's do
        return list(self.last)


def supervise(
    cmd: Sequence[str],
    record_path: Path,
    *,
    backoff: Backoff | None = None,
    env: dict[str, str] | None = None,
    out: IO[bytes] | None = None,
) -> int:
    """Run ``cmd`` until it succeeds, cannot succeed, or the supervisor is told to stop; return the
    exit code to exit with (the child's last). See the module's text for the rules."""
    backoff = backoff or Backoff()
    out = out or sys.stdout.buffer
    record = SupervisorRecord(supervisor_pid=os.getpid(), command=list(cmd), started_at=time.time())
    stop = threading.Event()
    child: subprocess.Popen[bytes] | None = None

    def on_signal(_signum: int, _frame: object) -> None:
        stop.set()
        if child is not None and child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signal.SIGTERM)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    failures = 0
    try:
        while True:
            started = time.monotonic()
            child = subprocess.Popen(
                list(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
            )
            tee = _Tee(child.stdout, out)  # type: ignore[arg-type]  # PIPE: never None
            record.state, record.child_pid, record.next_attempt_at = "running", child.pid, None
            record.write(record_path)
            if stop.is_set():  # the signal came between the last check and the child's start
                on_signal(signal.SIGTERM, None)
            code = child.wait()
            lines = tee.join()
            record.child_pid = None
            if stop.is_set():
                record.state = "stopped"
                _say(out, f"stopped on request; {_describe(cmd)} exited with code {code}")
                return code
            if code == 0:
                record.state = "finished"
                _say(out, f"{_describe(cmd)} finished (exit code 0): not restarted")
                return 0
            cause = failure_cause(lines, code)
            record.last_exit_code, record.last_cause, record.last_failure_at = code, cause, time.time()
            if time.monotonic() - started >= backoff.healthy_after_s:
                failures = 0
            failures += 1
            if code == NO_RETRY_EXIT or failures > backoff.give_up_after:
                why = (
                    "an error in the command line, a setting or the pipeline file fails again identically"
                    if code == NO_RETRY_EXIT
                    else f"{failures} failures in a row"
                )
                record.state = "gave up"
                _say(out, f"{_describe(cmd)} exited with code {code} ({cause}); not restarted: {why}")
                return code
            delay = backoff.delay(failures)
            restart = Restart(record.last_failure_at, code, cause, delay, record.last_failure_at + delay)
            record.recent = [*record.recent, restart][-RECENT:]
            record.state, record.next_attempt_at = "backing off", restart.next_attempt_at
            record.restarts += 1
            record.write(record_path)
            _say(
                out,
                f"{_describe(cmd)} exited with code {code} ({cause}); restart {record.restarts} in {delay:g}s",
            )
            if stop.wait(delay):
                record.state = "stopped"
                _say(out, "stopped on request while waiting to restart")
                return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if record.state in ("running", "backing off"):  # an unexpected error in the loop itself
            record.state = "stopped"
        record.write(record_path)


def _describe(cmd: Sequence[str]) -> str:
    shown = [Path(cmd[0]).name, *cmd[1:]] if cmd else []
    return " ".join(shown[3:] if shown[1:3] == ["-m", "streamwise"] else shown) or "(nothing)"


def _say(out: IO[bytes], message: str) -> None:
    with contextlib.suppress(OSError, ValueError):
        out.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} supervisor: {message}\n".encode())
        out.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m streamwise.platform.supervise RECORD -- CMD ...``: supervise any command."""
    parser = argparse.ArgumentParser(prog="python -m streamwise.platform.supervise", description=__doc__.split("\n")[0])
    parser.add_argument("record", type=Path, help="the JSON file to record restarts in")
    parser.add_argument("--first-delay", type=float, default=Backoff.first_s)
    parser.add_argument("--max-delay", type=float, default=Backoff.max_s)
    parser.add_argument("--healthy-after", type=float, default=Backoff.healthy_after_s)
    parser.add_argument("--give-up-after", type=int, default=Backoff.give_up_after)
    parser.add_argument("cmd", nargs="+", help="the command, after --")
    args = parser.parse_args(argv)
    backoff = Backoff(args.first_delay, args.max_delay, args.healthy_after, args.give_up_after)
    return supervise(args.cmd, args.record, backoff=backoff)


if __name__ == "__main__":
    sys.exit(main())
