"""``streamwise down`` stops a Spark cluster started with ``cluster up`` (every worker, then the master),
by pid, with the rest of the platform."""

from __future__ import annotations

import sys
from pathlib import Path

from streamwise.app import local
from streamwise.config import load_settings
from streamwise.platform.process import SERVICES, Service

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]


def test_down_stops_the_master_and_every_worker_by_pid(tmp_path: Path) -> None:
    """Setup: processes under the names `cluster up` gives the master and three workers (worker 3 from
    a later `up --workers 3`, so only its pid file knows it), and a pipeline.
    Invariants: down stops them all, naming spark-master once after the pipeline and before Kafka;
    no pid file is left."""
    settings = load_settings(state_dir=tmp_path)
    names = ["pipeline", "spark-master", "spark-worker-1", "spark-worker-2", "spark-worker-3"]
    processes = [Service(name, settings.state) for name in names]
    for service in processes:
        service.start(SLEEPER, ready=lambda: True, timeout_s=10)
    (settings.state / "spark" / "cluster").mkdir(parents=True)
    (settings.state / "spark" / "cluster" / "cluster.json").write_text('{"workers": 2}')

    assert local.down(settings) == ["pipeline", "spark-master"]
    assert [s.status().running for s in processes] == [False] * len(names)
    assert list((settings.state / "run").glob("*.pid")) == []
    assert SERVICES.index("pipeline") < SERVICES.index("spark-master") < SERVICES.index("kafka")
