"""Restarts of a supervised service, as `streamwise status` and the dashboard show them: a real
supervisor started as the pipeline service of a state folder, over a child that fails at once."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import httpx
import pytest
from cli_process import child_env, run_streamwise

from streamwise.config import Settings, load_settings
from streamwise.dashboard import BackgroundServer, DashboardSettings, create_app
from streamwise.platform.ports import free_ports
from streamwise.platform.process import Service
from streamwise.platform.supervise import SupervisorRecord

FAIL = "import sys; print('ValueError: the sink is gone', flush=True); sys.exit(3)"


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Kafka on a port nothing listens on: status and the dashboard show services without a broker."""
    port, controller = free_ports(2)
    return load_settings(
        state_dir=tmp_path_factory.mktemp("state"), kafka={"port": port, "controller_port": controller}
    )


@pytest.fixture(scope="module")
def pipeline_service(settings: Settings) -> Iterator[Service]:
    """The pipeline service: a supervisor whose child failed once and waits 600 s to restart."""
    service = Service("pipeline", settings.state)
    cmd = [sys.executable, "-m", "streamwise.platform.supervise", str(service.supervisor_file), "--first-delay", "600"]
    service.start(
        [*cmd, "--", sys.executable, "-c", FAIL],
        ready=lambda: (r := SupervisorRecord.read(service.supervisor_file)) is not None and r.state == "backing off",
        timeout_s=60,
    )
    supervisor = service.process()
    assert supervisor is not None
    yield service
    assert service.stop(grace_s=30)
    assert not supervisor.is_running()
    assert SupervisorRecord.read(service.supervisor_file).state == "stopped"  # type: ignore[union-attr]


def test_status_shows_the_pipelines_restarts(settings: Settings, pipeline_service: Service) -> None:
    """Setup: the pipeline service's supervisor waits to restart its failed child. Invariant: the
    services table of `streamwise status` says the pipeline is restarting, with 1 restart and the
    cause the child printed."""
    result = run_streamwise(child_env(settings), "status", timeout=60)
    assert result.returncode == 0, result.stderr
    (row,) = [line for line in result.stdout.splitlines() if line.strip("│ ").startswith("pipeline ")]
    assert "restarting" in row
    assert "1 restart, last: ValueError: the sink is gone; next attempt in" in row


def test_dashboard_badge_shows_the_pipelines_restarts(settings: Settings, pipeline_service: Service) -> None:
    """Setup: as above, the real dashboard app over the state folder. Invariant: the pipeline's
    component is 'restarting' at level warn, with 1 restart and the child's cause; the other
    services carry no restarts."""
    dashboard = DashboardSettings(results_table=settings.state / "none", push_interval_s=0.2)
    with BackgroundServer(create_app(settings, dashboard), port=free_ports(1)[0]) as srv:
        snap = httpx.get(srv.url + "/api/snapshot", timeout=30).json()
    pipeline = next(c for c in snap["components"] if c["name"] == "pipeline")
    assert pipeline == {
        "name": "pipeline",
        "level": "warn",
        "state": "restarting",
        "pid": pipeline_service.process().pid,  # type: ignore[union-attr]
        "restarts": 1,
        "last_cause": "ValueError: the sink is gone",
    }
    assert all(c["restarts"] == 0 for c in snap["components"] if c["name"] != "pipeline")
