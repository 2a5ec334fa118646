"""The local platform's pipeline under its supervisor: a driver that dies is started again, the
restart shows in `streamwise status`, and a stop ends both without a restart."""

from __future__ import annotations

import os
import signal
import time

import psutil
from cli_process import child_env, run_streamwise
from windowed_pipeline import SPEC, T0

from streamwise.app.local import start_pipeline
from streamwise.pipeline import load_pipeline
from streamwise.pipeline.layout import PipelineLayout
from streamwise.platform.process import Service
from streamwise.platform.supervise import SupervisorRecord
from streamwise.platform.topics import create_topic
from streamwise.testing import produce_events, wait_for


def test_a_killed_driver_is_restarted_and_shown(broker, settings, topic_name, tmp_path) -> None:
    """Setup: `start_pipeline` (what `up` runs) of a windowed pipeline in a scratch state folder;
    once ready, SIGKILL to the Spark driver (an out-of-memory kill, say); new events after it.
    Invariant: the supervisor keeps running and starts a new driver (1 restart recorded, cause
    'killed by SIGKILL', exit code -9), which commits a batch of the new events; `streamwise
    status` shows the restart; the service's stop ends supervisor and driver with no restart and
    leaves no process of theirs behind."""
    settings = settings.model_copy(update={"state_dir": tmp_path / "state", "cache_dir": settings.cache})
    create_topic(settings.kafka, topic_name, partitions=1)
    path = tmp_path / "p.yaml"
    path.write_text(SPEC.format(name=topic_name))
    layout = PipelineLayout(load_pipeline(path).name, settings.state)
    commits = layout.main_checkpoint / "commits"
    produce_events(settings, topic_name, [{"page": "/a", "event_time": T0}])
    service = Service("pipeline", settings.state)
    supervisor_pid = start_pipeline(settings, str(path), layout)
    family: list[psutil.Process] = []
    try:
        supervisor = psutil.Process(supervisor_pid)
        first = SupervisorRecord.read(service.supervisor_file)
        assert first is not None and first.state == "running" and first.child_pid is not None
        driver = psutil.Process(first.child_pid)
        assert driver.ppid() == supervisor_pid
        family += [supervisor, driver, *driver.children(recursive=True)]
        killed_at = time.time()
        os.kill(driver.pid, signal.SIGKILL)
        second = wait_for(
            lambda: (
                (r := SupervisorRecord.read(service.supervisor_file)) and r.state == "running" and r.restarts == 1 and r
            ),
            bound_s=120,
            what="a restarted driver",
        )
        assert (second.last_exit_code, second.last_cause) == (-9, "killed by SIGKILL")
        assert [r.delay_s for r in second.recent] == [2.0]  # the first delay of the default backoff
        assert second.child_pid not in (None, driver.pid) and supervisor.is_running()
        restarted = psutil.Process(second.child_pid)  # type: ignore[arg-type]  # checked just above
        produce_events(settings, topic_name, [{"page": "/a", "event_time": T0 + 30_000}])
        wait_for(
            lambda: any(f.stat().st_mtime > killed_at for f in commits.iterdir()),
            bound_s=300,
            what="a batch committed by the new driver",
        )
        family += [restarted, *restarted.children(recursive=True)]
        status = run_streamwise(child_env(settings), "status", timeout=60)
        (row,) = [line for line in status.stdout.splitlines() if line.strip("│ ").startswith("pipeline ")]
        assert "running" in row and "1 restart, last: killed by SIGKILL" in row, status.stdout
    finally:
        stopped = service.stop(grace_s=60)
    assert stopped
    after = SupervisorRecord.read(service.supervisor_file)
    assert after is not None and (after.state, after.restarts) == ("stopped", 1)
    assert not [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
