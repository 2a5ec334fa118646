"""Pre-flight checks of the platform: ports, Java, cluster ids, the process supervisor."""

from __future__ import annotations

import json
import os
import re
import socket
import sys
from pathlib import Path

import psutil
import pytest

from streamwise.platform.exceptions import JavaNotFoundError, PortInUseError, ServiceStartError
from streamwise.platform.java import find_java, require_java
from streamwise.platform.kafka import new_cluster_id
from streamwise.platform.ports import ensure_port_free, free_ports, port_is_free
from streamwise.platform.process import Service


@pytest.fixture
def listening_socket():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    yield sock.getsockname()[1]
    sock.close()


def test_taken_port_error_names_owner_and_option(listening_socket: int) -> None:
    """Setup: this test process listens on a port. Invariant: the error names our pid and the option."""
    assert not port_is_free("127.0.0.1", listening_socket)
    with pytest.raises(PortInUseError) as err:
        ensure_port_free("127.0.0.1", listening_socket, what="the Kafka client listener", option="--port")
    assert f"port {listening_socket} on 127.0.0.1 (for the Kafka client listener)" in err.value.message
    assert f"taken by pid {os.getpid()}" in err.value.message
    assert "pass --port" in err.value.hint


def test_free_ports_are_free_and_distinct() -> None:
    ports = free_ports(5)
    assert len(set(ports)) == 5
    assert all(port_is_free("127.0.0.1", port) for port in ports)


def test_missing_java_home_binary(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "nojdk"))
    with pytest.raises(JavaNotFoundError, match=r"JAVA_HOME is .*nojdk, but .*bin/java is not an executable"):
        find_java()


def test_no_java_anywhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(JavaNotFoundError) as err:
        find_java()
    assert "no JAVA_HOME and no `java` on PATH" in err.value.message
    assert "openjdk-17" in err.value.hint


def test_too_old_java_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "bin" / "java"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'openjdk version \"1.8.0_402\"' >&2\n")
    fake.chmod(0o755)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(JavaNotFoundError, match="is Java 8; Kafka 4 and Spark 4 need Java 17"):
        require_java()


def test_cluster_id_is_kafka_shaped() -> None:
    ids = {new_cluster_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_\-]{21}", i) for i in ids)


def test_service_starts_reports_and_stops_by_pid(tmp_path: Path) -> None:
    """Setup: a child that spawns a grandchild. Invariant: stop ends both and removes the pid file."""
    svc = Service("sleeper", tmp_path)
    script = "import subprocess, time; subprocess.Popen(['sleep', '300']); print('child' + 'started', flush=True); time.sleep(300)"
    # The marker is split in the script so that the log's echo of the command does not match it.
    ready = lambda: "childstarted" in svc.log_file.read_text()
    pid = svc.start([sys.executable, "-c", script], ready=ready, timeout_s=20)
    assert svc.status().running and svc.status().pid == pid
    family = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    assert len(family) == 2
    assert svc.stop(grace_s=5)
    assert not svc.pid_file.exists()
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in family)
    assert svc.stop() is False


def test_service_that_dies_reports_its_log(tmp_path: Path) -> None:
    svc = Service("crasher", tmp_path)
    with pytest.raises(ServiceStartError) as err:
        svc.start(
            [sys.executable, "-c", "print('boom: bad config'); raise SystemExit(3)"], ready=lambda: False, timeout_s=20
        )
    assert "crasher exited with code 3" in err.value.message
    assert "boom: bad config" in err.value.message
    assert not svc.pid_file.exists()


def test_stale_pid_file_is_ignored(tmp_path: Path) -> None:
    svc = Service("ghost", tmp_path)
    svc.pid_file.parent.mkdir(parents=True)
    svc.pid_file.write_text(json.dumps({"pid": os.getpid(), "create_time": 1.0, "cmd": []}))
    assert svc.process() is None  # our pid, but not the process that file describes
    assert not svc.status().running
