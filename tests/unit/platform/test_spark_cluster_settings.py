"""The Spark settings a pipeline runs with anywhere (local, the local standalone cluster, any cluster) and
the local cluster's command lines, rendered without starting anything."""

from __future__ import annotations

import logging
import socket
import sys
import zipfile
from pathlib import Path

import pytest

from streamwise.config import load_settings, settings_env
from streamwise.errors import ConfigError
from streamwise.platform.cluster import (
    DAEMON_CONF,
    MASTER_CLASS,
    WORKER_CLASS,
    SparkCluster,
    SparkClusterStatus,
    WorkerInfo,
    daemon_defaults,
    on_free_ports,
    spark_class,
)
from streamwise.platform.exceptions import ExposedBindError, PortInUseError
from streamwise.platform.ports import check_bind
from streamwise.platform.process import ServiceStatus
from streamwise.platform.spark import PACKAGE, package_zip, spark_conf, spark_session


def test_defaults_keep_everything_on_loopback_and_small(tmp_path: Path) -> None:
    """Setup: nothing set. Invariants: local[*]; the driver binds and is reached on loopback; a cluster's
    executors get 1 core and 1g each, spark.cores.max unset (all); the local cluster listens on
    127.0.0.1: master 7077 (spark://127.0.0.1:7077), UI 8080, workers 7078/7079 with UIs 8082/8083
    (8081 is the schema registry's), 2 workers of 1 core and 1g, daemons' heap 256m."""
    spark = load_settings(state_dir=tmp_path).spark
    assert (spark.master, spark.local) == ("local[*]", True)
    assert (spark.driver_host, spark.driver_bind_address) == ("127.0.0.1", "127.0.0.1")
    assert (spark.executor_cores, spark.executor_memory, spark.cores_max, spark.executor_python) == (
        1,
        "1g",
        None,
        None,
    )
    assert (spark.cluster_host, spark.master_port, spark.master_ui_port) == ("127.0.0.1", 7077, 8080)
    assert spark.cluster_url == "spark://127.0.0.1:7077"
    assert spark.cluster_ports(2) == [(7078, 8082), (7079, 8083)]
    assert (spark.workers, spark.worker_cores, spark.worker_memory, spark.daemon_memory) == (2, 1, "1g", "256m")


@pytest.mark.parametrize(
    ("master", "local"),
    [("local", True), ("local[2]", True), ("local[*, 4]", True), ("spark://10.0.0.5:7077", False), ("yarn", False)],
)
def test_local_masters_are_told_from_clusters(master: str, local: bool, tmp_path: Path) -> None:
    assert load_settings(state_dir=tmp_path, spark={"master": master}).spark.local is local


def test_every_cluster_setting_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Setup: STREAMWISE_SPARK_* variables for the master, executors and driver placement.
    Invariants: each lands in its field, and settings_env hands them on to a child unchanged (an
    unset cores_max stays unset)."""
    for name, value in {
        "MASTER": "spark://127.0.0.1:17077",
        "EXECUTOR_CORES": "2",
        "EXECUTOR_MEMORY": "2g",
        "DRIVER_HOST": "10.0.0.5",
        "DRIVER_BIND_ADDRESS": "0.0.0.0",
        "EXECUTOR_PYTHON": "/opt/venv/bin/python",
    }.items():
        monkeypatch.setenv(f"STREAMWISE_SPARK_{name}", value)
    cfg = load_settings(state_dir=tmp_path)
    spark = cfg.spark
    assert (spark.master, spark.executor_cores, spark.executor_memory) == ("spark://127.0.0.1:17077", 2, "2g")
    assert (spark.driver_host, spark.driver_bind_address, spark.executor_python) == (
        "10.0.0.5",
        "0.0.0.0",
        "/opt/venv/bin/python",
    )
    env = settings_env(cfg)
    assert env["STREAMWISE_SPARK_MASTER"] == "spark://127.0.0.1:17077"
    assert env["STREAMWISE_SPARK_DRIVER_BIND_ADDRESS"] == "0.0.0.0"
    assert "STREAMWISE_SPARK_CORES_MAX" not in env


def test_cluster_ports_that_collide_are_refused_naming_them(tmp_path: Path) -> None:
    """Setup: workers' RPC ports that run into the master's UI port, and three workers whose ports run
    into their UI ports. Invariant: a ConfigError naming the ports and what to move."""
    with pytest.raises(ConfigError, match=r"overlap or pass 65535 with 2 worker\(s\): master 7077, its UI 8080"):
        load_settings(state_dir=tmp_path, spark={"worker_port": 8079})
    cluster = SparkCluster(load_settings(state_dir=tmp_path, spark={"worker_port": 9000, "worker_ui_port": 9002}))
    assert cluster.ports(2) == [(9000, 9002), (9001, 9003)]
    with pytest.raises(ConfigError, match="with 3 worker") as raised:
        cluster.ports(3)
    assert raised.value.hint == "set STREAMWISE_SPARK_WORKER_PORT / STREAMWISE_SPARK_WORKER_UI_PORT apart"


def test_spark_conf_places_executors_and_driver_from_the_settings(tmp_path: Path, monkeypatch) -> None:
    """Setup: a cluster master, executors of 2 cores and 2g, 4 cores at most, the driver reached at
    10.0.0.5 and bound everywhere; the state folder given as a relative path.
    Invariants: each setting is its spark.* key; every path Spark is given (jars, local and warehouse
    folders) is absolute, so executors in working folders of their own find the same files."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cache" / "jars" / "spark").mkdir(parents=True)
    monkeypatch.setattr("streamwise.platform.jars.cached_jars", lambda cache, profile: [Path("cache/jars/spark/a.jar")])
    cfg = load_settings(
        state_dir=Path("state"),
        cache_dir=Path("cache"),
        spark={
            "master": "spark://127.0.0.1:7077",
            "executor_cores": 2,
            "executor_memory": "2g",
            "cores_max": 4,
            "driver_host": "10.0.0.5",
            "driver_bind_address": "0.0.0.0",
        },
    )
    conf = spark_conf(cfg, "streamwise-test")
    assert {key: conf[key] for key in conf if key.startswith(("spark.executor.", "spark.cores.", "spark.driver."))} == {
        "spark.executor.cores": "2",
        "spark.executor.memory": "2g",
        "spark.cores.max": "4",
        "spark.driver.memory": "1g",
        "spark.driver.host": "10.0.0.5",
        "spark.driver.bindAddress": "0.0.0.0",
    }
    assert conf["spark.master"] == "spark://127.0.0.1:7077"
    assert conf["spark.jars"] == str(tmp_path / "cache" / "jars" / "spark" / "a.jar")
    assert conf["spark.local.dir"] == str(tmp_path / "state" / "spark" / "tmp")
    assert conf["spark.sql.warehouse.dir"] == str(tmp_path / "state" / "spark" / "warehouse")
    assert "spark.cores.max" not in spark_conf(load_settings(state_dir=tmp_path), "x")


def test_spark_conf_takes_any_other_setting_last(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Setup: STREAMWISE_SPARK_CONF as a JSON object (a Kubernetes image, executor instances, and the
    driver's bind address). Invariants: each is in the session's conf, over streamwise's own value; a
    bind address set this way is checked like driver_bind_address."""
    monkeypatch.setattr("streamwise.platform.jars.cached_jars", lambda cache, profile: [])
    monkeypatch.setenv(
        "STREAMWISE_SPARK_CONF",
        '{"spark.kubernetes.container.image": "streamwise:0.1", "spark.executor.instances": "3", '
        '"spark.sql.shuffle.partitions": "8"}',
    )
    cfg = load_settings(state_dir=tmp_path)
    conf = spark_conf(cfg, "x")
    assert (conf["spark.kubernetes.container.image"], conf["spark.executor.instances"]) == ("streamwise:0.1", "3")
    assert conf["spark.sql.shuffle.partitions"] == "8"
    assert settings_env(cfg)["STREAMWISE_SPARK_CONF"].startswith('{"spark.kubernetes.container.image"')
    monkeypatch.setenv("STREAMWISE_SPARK_CONF", '{"spark.driver.bindAddress": "0.0.0.0"}')
    with pytest.raises(ExposedBindError, match="the Spark driver"):
        spark_session(load_settings(state_dir=tmp_path))


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20"])
def test_a_reachable_driver_or_cluster_needs_expose_whatever_the_profile(
    host: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Setup: a driver or cluster address other machines reach, with and without the secure profile.
    Invariants: refused, even in the secure profile (Spark's RPC is not authenticated by it), with
    the setting to change; spark_session refuses before any JVM starts; --expose allows it with a
    warning."""
    monkeypatch.setattr("streamwise.platform.jars.cached_jars", lambda cache, profile: [])
    for security in ({}, {"enabled": True}):
        cfg = load_settings(state_dir=tmp_path, security=security, spark={"driver_bind_address": host})
        with pytest.raises(ExposedBindError) as raised:
            spark_session(cfg)
        assert raised.value.message == (
            f"the Spark driver (RPC, block manager) would listen on {host} (spark.driver_bind_address, "
            "STREAMWISE_SPARK_DRIVER_BIND_ADDRESS), an address other machines can reach, and nothing "
            "authenticates who connects (the secure profile does not cover Spark's RPC)"
        )
        assert "--profile secure" not in (raised.value.hint or "")
        with pytest.raises(ExposedBindError, match="the Spark master and workers would listen"):
            SparkCluster(load_settings(state_dir=tmp_path, security=security, spark={"cluster_host": host})).start()
    exposed = load_settings(state_dir=tmp_path, security={"expose": True})
    with caplog.at_level(logging.WARNING):
        check_bind(host, "the Spark driver", exposed, setting="spark.driver_bind_address", profile_protects=False)
    assert "without the secure profile (--expose)" in caplog.text


def test_the_package_zip_holds_streamwise_and_is_named_by_its_content(tmp_path: Path) -> None:
    """Setup: the zip of the installed package; then a copy of a small package, zipped, changed, zipped.
    Invariants: the zip holds streamwise's modules and data files under ``streamwise/`` and no
    bytecode caches; zipping the same files again reuses the file; a changed file gives a new name."""
    archive = package_zip(tmp_path / "pyfiles")
    names = set(zipfile.ZipFile(archive).namelist())
    assert archive.name.startswith("streamwise-") and archive.suffix == ".zip"
    assert {"streamwise/__init__.py", "streamwise/pipeline/anomaly.py", "streamwise/examples/clickstream.yaml"} <= names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert len(names) == len([p for p in PACKAGE.rglob("*") if p.is_file() and "__pycache__" not in p.parts])
    assert package_zip(tmp_path / "pyfiles") == archive

    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "sub" / "m.py").write_text("X = 1\n")
    first = package_zip(tmp_path / "out", package)
    (package / "sub" / "m.py").write_text("X = 2\n")
    second = package_zip(tmp_path / "out", package)
    assert first != second and first.is_file() and second.is_file()
    assert zipfile.ZipFile(second).read("pkg/sub/m.py") == b"X = 2\n"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted([first.name, second.name])  # no partials


def test_daemon_command_lines_and_files(tmp_path: Path) -> None:
    """Setup: the default cluster settings on a state folder. Invariants: the master and worker run
    pyspark's own spark-class on loopback at the configured ports; a worker offers its cores and
    memory, works in STATE/spark/cluster/worker-<i>/work and joins spark://127.0.0.1:7077; the
    daemons' environment names Spark's home, their conf folder, loopback and a 256m heap; their
    spark-defaults.conf turns the REST submission server and the UI's kill links off."""
    cluster = SparkCluster(load_settings(state_dir=tmp_path))
    spark_class_path = str(spark_class())
    assert spark_class_path.endswith("pyspark/bin/spark-class")
    assert cluster.master_command() == [
        spark_class_path,
        MASTER_CLASS,
        *("--host", "127.0.0.1", "--port", "7077", "--webui-port", "8080"),
    ]
    assert cluster.worker_command(2, 7079, 8083, 1, "1g") == [
        spark_class_path,
        WORKER_CLASS,
        *("--host", "127.0.0.1", "--port", "7079", "--webui-port", "8083", "--cores", "1", "--memory", "1g"),
        *("--work-dir", str(tmp_path / "spark" / "cluster" / "worker-2" / "work")),
        "spark://127.0.0.1:7077",
    ]
    env = cluster.daemon_env()
    assert env["SPARK_HOME"] == str(Path(spark_class_path).parent.parent)
    assert (env["SPARK_CONF_DIR"], env["SPARK_LOCAL_IP"], env["SPARK_DAEMON_MEMORY"]) == (
        str(tmp_path / "spark" / "cluster" / "conf"),
        "127.0.0.1",
        "256m",
    )
    assert daemon_defaults().splitlines()[:2] == ["spark.master.rest.enabled false", "spark.ui.killEnabled false"]
    assert len(daemon_defaults().splitlines()) == len(DAEMON_CONF)


def test_a_taken_port_fails_before_anything_starts(tmp_path: Path) -> None:
    """Setup: the master's port held by a listening socket. Invariant: PortInUseError naming the port,
    what needs it and the option to pick another; no pid file written, nothing started."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        cfg = on_free_ports(load_settings(state_dir=tmp_path), 2)
        cfg = cfg.model_copy(update={"spark": cfg.spark.model_copy(update={"master_port": port})})
        with pytest.raises(PortInUseError) as raised:
            SparkCluster(cfg).start(2)
    assert raised.value.message.startswith(f"port {port} on 127.0.0.1 (for the Spark master) is taken by")
    assert raised.value.hint == "pass --master-port to use another port, or stop that process"
    assert not (tmp_path / "run").exists()


def test_workers_are_found_from_the_record_and_pid_files(tmp_path: Path) -> None:
    """Setup: a record of 2 workers, and a pid file of a worker 4 (started by a later `up`).
    Invariants: down and status look at workers 1, 2 and 4; status numbers a master-known worker by
    its port, and is serving only when every worker started here runs and is ALIVE."""
    cluster = SparkCluster(load_settings(state_dir=tmp_path))
    cluster.home.mkdir(parents=True)
    cluster.record_file.write_text('{"workers": 2, "cores": 1, "memory": "1g"}')
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "spark-worker-4.pid").write_text("{}")
    assert cluster.worker_indices() == [1, 2, 4]
    assert cluster.status().alive is False

    def worker(port: int, state: str) -> WorkerInfo:
        return WorkerInfo(f"w-{port}", f"127.0.0.1:{port}", state, 1, 0, 1024, 0, "")

    def status(known: list[WorkerInfo], running: list[bool]) -> SparkClusterStatus:
        processes = [
            ServiceStatus(f"spark-worker-{i}", up, 1 if up else None, tmp_path) for i, up in enumerate(running, 1)
        ]
        numbers = {"127.0.0.1:7078": 1, "127.0.0.1:7079": 2}
        return SparkClusterStatus("spark://x", "http://x", processes[0], processes, True, known, [], numbers)

    both = status([worker(7078, "ALIVE"), worker(7079, "ALIVE")], [True, True])
    assert both.serving and [both.number(w) for w in both.known] == [1, 2]
    assert not status([worker(7078, "ALIVE"), worker(7079, "DEAD")], [True, False]).serving
    assert status([worker(9999, "ALIVE")], [True]).number(worker(9999, "ALIVE")) is None


def test_on_free_ports_points_the_master_at_the_scratch_cluster(tmp_path: Path) -> None:
    cfg = on_free_ports(load_settings(state_dir=tmp_path), 3).spark
    assert cfg.master == cfg.cluster_url == f"spark://127.0.0.1:{cfg.master_port}"
    ports = [cfg.master_port, cfg.master_ui_port, *(p for pair in cfg.cluster_ports(3) for p in pair)]
    assert len(set(ports)) == 8 and cfg.workers == 3


def test_a_running_cluster_is_found_where_it_was_started(tmp_path: Path) -> None:
    """Setup: a cluster record of a start on other ports than the settings name, once with its master
    process running (a stand-in) and once without.
    Invariants: while the master runs, every command (status, kill, restart, down) addresses the
    recorded ports; once it is gone, the settings' ports again."""
    settings = load_settings(state_dir=tmp_path)
    cluster = SparkCluster(settings)
    cluster.home.mkdir(parents=True)
    cluster.record_file.write_text(
        '{"workers": 2, "cores": 1, "memory": "1g", "cluster_host": "127.0.0.1", "master_port": 17077, '
        '"master_ui_port": 18080, "worker_port": 17078, "worker_ui_port": 18082}'
    )
    assert SparkCluster(settings).url == "spark://127.0.0.1:7077"
    cluster.master.start([sys.executable, "-c", "import time; time.sleep(60)"], ready=lambda: True, timeout_s=10)
    try:
        running = SparkCluster(settings)
        assert (running.url, running.ui_url) == ("spark://127.0.0.1:17077", "http://127.0.0.1:18080")
        assert running.ports(2) == [(17078, 18082), (17079, 18083)]
        assert running.status().numbers == {"127.0.0.1:17078": 1, "127.0.0.1:17079": 2}
    finally:
        cluster.master.stop(grace_s=5)
