"""One small supervisor for every process streamwise starts (broker, generator, pipeline, ...).

A :class:`Service` starts a command in its own session (so a stop reaches its children, e.g. the
JVM under a PySpark driver) with umask 077, waits until a readiness probe passes, records its pid and
start time in ``STATE/run/NAME.pid`` and logs to ``STATE/logs/NAME.log`` (the state folder and both
made 0700 when missing); it stops by pid, TERM then KILL.
The start time guards against a recycled pid: a pid file whose process is gone or is another
process is stale and ignored. A service whose command restarts itself under a supervisor
(:mod:`streamwise.platform.supervise`) reports its restarts in its status too.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from streamwise.platform.exceptions import ServiceStartError
from streamwise.platform.supervise import SupervisorRecord
from streamwise.secret_files import private_dir

# The services of the local platform by name, in the order `down` stops them: consumers before
# producers before the broker, a Spark cluster's workers and master (spark-master stands for them)
# after the drivers that ran on them. The dashboard lists their state in this order too.
SERVICES = ("dashboard", "pipeline", "generator", "spark-master", "registry", "kafka", "redis", "postgres")

# What every started process writes (logs, data, checkpoints) is private to its user, whatever the
# mask of the process that starts it (the CLI sets the same; a library caller may not).
CHILD_UMASK = 0o077


@dataclass(frozen=True)
class ServiceStatus:
    """What ``status`` reports for one supervised process."""

    name: str
    running: bool
    pid: int | None
    log: Path
    supervisor: SupervisorRecord | None = None  # restarts, when a supervisor runs the service


class Service:
    """A named process under the state folder: start, wait until ready, status, stop by pid."""

    def __init__(self, name: str, state_dir: Path) -> None:
        self.name = name
        self.state_dir = state_dir
        self.pid_file = state_dir / "run" / f"{name}.pid"
        self.log_file = state_dir / "logs" / f"{name}.log"
        # Written by a supervisor that runs the service's command (`run --supervise`): its restarts.
        self.supervisor_file = state_dir / "run" / f"{name}.supervisor.json"

    def process(self) -> psutil.Process | None:
        """The live process this service started, or None (no pid file, or a stale one)."""
        try:
            record = json.loads(self.pid_file.read_text())
            proc = psutil.Process(record["pid"])
            if abs(proc.create_time() - record["create_time"]) > 1.0 or proc.status() == psutil.STATUS_ZOMBIE:
                return None
            return proc
        except (FileNotFoundError, ValueError, KeyError, psutil.Error):
            return None

    def status(self) -> ServiceStatus:
        proc = self.process()
        return ServiceStatus(
            self.name,
            proc is not None,
            proc.pid if proc else None,
            self.log_file,
            SupervisorRecord.read(self.supervisor_file),
        )

    def start(
        self,
        cmd: Sequence[str],
        *,
        ready: Callable[[], bool],
        timeout_s: float,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> int:
        """Start ``cmd`` detached, wait until ``ready()`` is true; return the pid.

        Raises ServiceStartError with the log's last lines when the process exits or is not ready
        within ``timeout_s``; in the latter case the process is stopped first.
        """
        existing = self.process()
        if existing is not None:
            return existing.pid
        private_dir(self.state_dir)
        private_dir(self.pid_file.parent)
        private_dir(self.log_file.parent)
        self.supervisor_file.unlink(missing_ok=True)  # an earlier start's restarts are not this one's
        with self.log_file.open("ab") as log:
            log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(cmd)}\n".encode())
            log.flush()
            popen = subprocess.Popen(
                list(cmd),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
                cwd=cwd,
                start_new_session=True,
                umask=CHILD_UMASK,
            )
        create_time = psutil.Process(popen.pid).create_time()
        self.pid_file.write_text(json.dumps({"pid": popen.pid, "create_time": create_time, "cmd": list(cmd)}))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            code = popen.poll()
            if code is not None:
                self.pid_file.unlink(missing_ok=True)
                raise ServiceStartError(
                    f"{self.name} exited with code {code} while starting; last lines of {self.log_file}:\n"
                    + self.tail(),
                    hint=f"read {self.log_file} for the whole story",
                )
            try:
                if ready():
                    return popen.pid
            except Exception:
                pass
            time.sleep(0.5)
        self.stop()
        raise ServiceStartError(
            f"{self.name} was not ready after {timeout_s:.0f}s; last lines of {self.log_file}:\n" + self.tail(),
            hint="raise the timeout on a slow machine, or read the log",
        )

    def stop(self, grace_s: float = 15.0) -> bool:
        """Stop the process by pid: TERM to it, then KILL to its whole session after ``grace_s``.
        True if one ran. TERM goes to the process alone: a driver stops its own JVM in order
        (queries between two batches, then Spark), where a JVM told at the same time would shut
        Spark down under the queries still stopping."""
        proc = self.process()
        self.pid_file.unlink(missing_ok=True)
        if proc is None:
            return False
        family = [proc, *_children(proc)]
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        _, alive = psutil.wait_procs(family, timeout=grace_s)
        if alive:
            _signal_group(proc.pid, signal.SIGKILL)
            for straggler in alive:
                with contextlib.suppress(psutil.Error):
                    straggler.kill()
            psutil.wait_procs(alive, timeout=5)
        return True

    def tail(self, lines: int = 20) -> str:
        """The last ``lines`` lines of the service's log."""
        try:
            text = self.log_file.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return "(no log written)"
        return "\n".join(f"  | {line}" for line in text[-lines:])


def _children(proc: psutil.Process) -> list[psutil.Process]:
    try:
        return proc.children(recursive=True)
    except psutil.Error:
        return []


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)  # the service leads its own session, so its pgid is its pid
    except ProcessLookupError:
        pass
