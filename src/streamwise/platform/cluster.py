"""A Spark standalone cluster on this machine: one master and N workers from the pyspark distribution.

Each daemon is Spark's own (``bin/spark-class org.apache.spark.deploy.master.Master`` and
``...worker.Worker`` of the installed pyspark package) run as a supervised :class:`Service`
(``spark-master``, ``spark-worker-1`` ...): pid file, log in ``STATE/logs``, stopped by pid. All of
it listens on ``spark.cluster_host`` (loopback) at the ports of the settings: the master on
``master_port`` (7077) with its web UI and JSON status on ``master_ui_port`` (8080), worker ``i`` on
``worker_port + i - 1`` and its UI on ``worker_ui_port + i - 1``.

Files live under ``STATE/spark/cluster``: ``conf/`` is the daemons' ``SPARK_CONF_DIR`` (their
``spark-defaults.conf``), ``worker-<i>/work`` the executors' working folders (the jars they fetched
from the driver, their stdout and stderr), ``worker-<i>/local`` their shuffle and spill files, and
``cluster.json`` how many workers were started, so ``down`` and ``status`` find every one.

A pipeline runs on it with ``spark.master`` set to :attr:`SparkCluster.url` and nothing else:
:func:`streamwise.platform.spark.spark_session` ships the jars and streamwise's code itself.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

from streamwise.config import Settings
from streamwise.errors import ConfigError
from streamwise.platform.exceptions import PlatformError, ServiceStartError
from streamwise.platform.java import require_java
from streamwise.platform.ports import check_bind, ensure_port_free, free_port_block, free_ports
from streamwise.platform.process import Service, ServiceStatus
from streamwise.secret_files import private_dir

log = logging.getLogger(__name__)

MASTER = "spark-master"
WORKER = "spark-worker-{}"
MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"

# What the daemons read from SPARK_CONF_DIR/spark-defaults.conf.
DAEMON_CONF = {
    # The REST submission server (port 6066) would run any jar for whoever reaches it, unauthenticated.
    "spark.master.rest.enabled": "false",
    # The master's UI shows applications and workers; it does not kill them.
    "spark.ui.killEnabled": "false",
    # Each application leaves its fetched jars (~24 MB) in every worker's work folder: removed a day
    # after the application ends.
    "spark.worker.cleanup.enabled": "true",
    "spark.worker.cleanup.interval": "1800",
    "spark.worker.cleanup.appDataTtl": str(24 * 3600),
}


# Where a started cluster listens, recorded in cluster.json: its own settings, for the commands after.
RECORDED_ADDRESS = ("cluster_host", "master_port", "master_ui_port", "worker_port", "worker_ui_port")


@dataclass(frozen=True)
class WorkerInfo:
    """A worker as the master knows it (an entry of the master's ``/json/``)."""

    id: str
    address: str  # host:port of its RPC endpoint
    state: str  # ALIVE, DEAD, DECOMMISSIONED, UNKNOWN
    cores: int
    cores_used: int
    memory_mb: int
    memory_used_mb: int
    ui: str

    @classmethod
    def from_json(cls, entry: dict[str, Any]) -> WorkerInfo:
        return cls(
            id=str(entry.get("id", "")),
            address=f"{entry.get('host', '')}:{entry.get('port', '')}",
            state=str(entry.get("state", "UNKNOWN")),
            cores=int(entry.get("cores", 0)),
            cores_used=int(entry.get("coresused", 0)),
            memory_mb=int(entry.get("memory", 0)),
            memory_used_mb=int(entry.get("memoryused", 0)),
            ui=str(entry.get("webuiaddress", "")),
        )


@dataclass(frozen=True)
class AppInfo:
    """An application (a driver) running on the cluster, as the master knows it."""

    id: str
    name: str
    cores: int
    memory_per_executor_mb: int
    state: str

    @classmethod
    def from_json(cls, entry: dict[str, Any]) -> AppInfo:
        return cls(
            id=str(entry.get("id", "")),
            name=str(entry.get("name", "")),
            cores=int(entry.get("cores", 0)),
            memory_per_executor_mb=int(entry.get("memoryperexecutor", entry.get("memoryperslave", 0))),
            state=str(entry.get("state", "")),
        )


@dataclass(frozen=True)
class SparkClusterStatus:
    """What ``cluster status`` shows: the processes started here and what the master knows."""

    url: str
    ui_url: str
    master: ServiceStatus
    workers: list[ServiceStatus]  # the worker processes started here, in worker order
    alive: bool  # the master answers its JSON status and is ALIVE
    known: list[WorkerInfo]  # every worker the master lists (dead ones too, for a while)
    apps: list[AppInfo]
    numbers: dict[str, int]  # host:port of each worker this state folder runs -> its number

    def number(self, worker: WorkerInfo) -> int | None:
        """The number of ``worker`` here (from 1), or None for a worker started elsewhere."""
        return self.numbers.get(worker.address)

    @property
    def alive_workers(self) -> list[WorkerInfo]:
        return [w for w in self.known if w.state == "ALIVE"]

    @property
    def serving(self) -> bool:
        """The master is alive, and every worker started here runs and is registered with it, ALIVE."""
        alive = {w.address for w in self.alive_workers}
        return self.alive and all(w.running for w in self.workers) and all(address in alive for address in self.numbers)


def daemon_defaults() -> str:
    """The daemons' ``spark-defaults.conf``: :data:`DAEMON_CONF`, one ``key value`` a line."""
    return "".join(f"{key} {value}\n" for key, value in DAEMON_CONF.items())


def on_free_ports(settings: Settings, workers: int) -> Settings:
    """``settings`` whose local cluster listens on free loopback ports (a scratch cluster for tests and
    benchmarks beside a running one) with ``workers`` workers, and whose ``spark.master`` is that
    cluster: a driver started with these settings runs on it."""
    master, ui = free_ports(2)
    spark = settings.spark.model_copy(
        update={
            "cluster_host": "127.0.0.1",
            "master_port": master,
            "master_ui_port": ui,
            "worker_port": free_port_block(workers),
            "worker_ui_port": free_port_block(workers),
            "workers": workers,
        }
    )
    spark = spark.model_copy(update={"master": spark.cluster_url})
    return settings.model_copy(update={"spark": spark})


def spark_class() -> Path:
    """``bin/spark-class`` of the installed pyspark package (found without importing pyspark)."""
    spec = importlib.util.find_spec("pyspark")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        candidate = Path(location) / "bin" / "spark-class"
        if candidate.is_file():
            return candidate
    raise PlatformError(
        "pyspark's bin/spark-class was not found: is pyspark installed in this Python?",
        hint="install the project's dependencies (./dev setup, or pip install -e .)",
    )


class SparkCluster:
    """The local Spark standalone cluster: a master and ``workers`` workers under ``STATE/spark/cluster``."""

    def __init__(self, settings: Settings) -> None:
        self.home = settings.state / "spark" / "cluster"
        self.conf_dir = self.home / "conf"
        self.record_file = self.home / "cluster.json"
        self.master = Service(MASTER, settings.state)
        # A running cluster is where it was started, whatever ports these settings name.
        where = {key: value for key, value in self._record().items() if key in RECORDED_ADDRESS}
        if where and self.master.process() is not None:
            settings = settings.model_copy(update={"spark": settings.spark.model_copy(update=where)})
        self.settings = settings
        self.spark = settings.spark

    # --- where things are ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The master URL a driver is given (``spark.master``)."""
        return self.spark.cluster_url

    @property
    def ui_url(self) -> str:
        return f"http://{self.spark.cluster_host}:{self.spark.master_ui_port}"

    def worker(self, index: int) -> Service:
        """Worker ``index`` (from 1) as a supervised process."""
        return Service(WORKER.format(index), self.settings.state)

    def workers(self) -> list[Service]:
        """Every worker this state folder has started (see :meth:`worker_indices`), in order."""
        return [self.worker(i) for i in self.worker_indices()]

    def worker_home(self, index: int) -> Path:
        return self.home / f"worker-{index}"

    def worker_indices(self) -> list[int]:
        """Every worker this state folder has started: those recorded, and any with a pid file."""
        indices = set(range(1, self.recorded_workers() + 1))
        prefix = WORKER.format("")
        for pid_file in (self.settings.state / "run").glob(f"{prefix}*.pid"):
            suffix = pid_file.stem.removeprefix(prefix)
            if suffix.isdigit():
                indices.add(int(suffix))
        return sorted(indices)

    def recorded_workers(self) -> int:
        try:
            return int(json.loads(self.record_file.read_text())["workers"])
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return 0

    def ports(self, workers: int) -> list[tuple[int, int]]:
        """Each worker's (RPC port, web UI port); a ConfigError when they collide."""
        try:
            return self.spark.cluster_ports(workers)
        except ValueError as exc:
            raise ConfigError(
                str(exc), hint="set STREAMWISE_SPARK_WORKER_PORT / STREAMWISE_SPARK_WORKER_UI_PORT apart"
            ) from None

    # --- start, stop, kill -----------------------------------------------------------------------

    def start(self, workers: int | None = None, *, cores: int | None = None, memory: str | None = None) -> list[int]:
        """Bring the cluster to ``workers`` workers (default: as many as were started last, else
        ``spark.workers``) of ``cores`` cores and ``memory`` each: start the master and every missing
        worker, stop running ones beyond ``workers``; return the pids (master first) once every
        worker is registered with the master."""
        count = workers if workers is not None else (self.recorded_workers() or self.spark.workers)
        if count < 1:
            raise ConfigError(f"a cluster needs at least one worker (got {count})", hint="pass --workers 1 or more")
        cores = cores if cores is not None else self.spark.worker_cores
        memory = memory or self.spark.worker_memory
        ports = self.ports(count)
        check_bind(
            self.spark.cluster_host,
            "the Spark master and workers",
            self.settings,
            setting="spark.cluster_host",
            profile_protects=False,
        )
        self._check_ports(ports)
        private_dir(self.settings.state)
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        (self.conf_dir / "spark-defaults.conf").write_text(daemon_defaults())
        env = self.daemon_env()
        master_pid = self.master.start(
            self.master_command(),
            ready=lambda: (self.master_json() or {}).get("status") == "ALIVE",
            timeout_s=self.spark.cluster_start_timeout_s,
            env=env,
            cwd=self.home,
        )
        for extra in [i for i in self.worker_indices() if i > count]:
            self.worker(extra).stop(grace_s=20.0)
        pids = [master_pid]
        for index, (port, ui_port) in enumerate(ports, start=1):
            pids.append(self._launch_worker(index, port, ui_port, cores, memory, env))
        where = {key: getattr(self.spark, key) for key in RECORDED_ADDRESS}
        self.record_file.write_text(json.dumps({"workers": count, "cores": cores, "memory": memory, **where}))
        self._await_workers({index: port for index, (port, _) in enumerate(ports, start=1)})
        return pids

    def restart_worker(self, index: int) -> int:
        """Start worker ``index`` again (after a kill) with its recorded cores and memory; its pid once
        the master lists it ALIVE."""
        record = self._record()
        workers = int(record.get("workers", 0))
        if not 1 <= index <= workers:
            raise PlatformError(
                f"there is no Spark worker {index}: the cluster has {workers}",
                hint="streamwise cluster status lists them; cluster up --workers N starts N",
            )
        port, ui_port = self.ports(workers)[index - 1]
        cores = int(record.get("cores", self.spark.worker_cores))
        memory = str(record.get("memory", self.spark.worker_memory))
        pid = self._launch_worker(index, port, ui_port, cores, memory, self.daemon_env())
        self._await_workers({index: port})
        return pid

    def stop(self) -> bool:
        """Stop every worker (each stops its executors) at once, then the master; True if any ran."""
        workers = self.workers()
        stopped = []
        if workers:
            with ThreadPoolExecutor(max_workers=len(workers)) as pool:
                stopped = list(pool.map(lambda service: service.stop(grace_s=20.0), workers))
        return self.master.stop(grace_s=20.0) or any(stopped)

    def kill(self, index: int) -> bool:
        """SIGKILL worker ``index`` with its executors and their Python workers, as a machine dying
        would (the worker leads its own session); True if it ran."""
        proc = self.worker(index).process()
        if proc is None:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(psutil.Error):
            proc.wait(timeout=10)
        return True

    # --- what runs -------------------------------------------------------------------------------

    def master_json(self, timeout_s: float = 2.0) -> dict[str, Any] | None:
        """The master's JSON status (``/json/`` of its web UI), or None when it does not answer."""
        try:
            response = httpx.get(f"{self.ui_url}/json/", timeout=timeout_s)
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError):
            return None
        return body if isinstance(body, dict) else None

    def status(self) -> SparkClusterStatus:
        body = self.master_json() if self.master.process() is not None else None
        indices = self.worker_indices()
        ports = self.ports(max(indices)) if indices else []
        return SparkClusterStatus(
            url=self.url,
            ui_url=self.ui_url,
            master=self.master.status(),
            workers=[self.worker(i).status() for i in indices],
            alive=body is not None and body.get("status") == "ALIVE",
            known=[WorkerInfo.from_json(w) for w in (body or {}).get("workers", [])],
            apps=[AppInfo.from_json(a) for a in (body or {}).get("activeapps", [])],
            numbers={f"{self.spark.cluster_host}:{ports[i - 1][0]}": i for i in indices},
        )

    # --- inside ----------------------------------------------------------------------------------

    def _record(self) -> dict[str, Any]:
        try:
            record = json.loads(self.record_file.read_text())
        except (FileNotFoundError, ValueError):
            return {}
        return record if isinstance(record, dict) else {}

    def _check_ports(self, ports: list[tuple[int, int]]) -> None:
        """PortInUseError naming who holds a port a daemon that is not running yet needs."""
        host = self.spark.cluster_host
        if self.master.process() is None:
            ensure_port_free(host, self.spark.master_port, what="the Spark master", option="--master-port")
            ensure_port_free(host, self.spark.master_ui_port, what="the Spark master's web UI", option="--ui-port")
        for index, (port, ui_port) in enumerate(ports, start=1):
            if self.worker(index).process() is None:
                for number, what, variable in (
                    (port, f"Spark worker {index}", "STREAMWISE_SPARK_WORKER_PORT"),
                    (ui_port, f"Spark worker {index}'s web UI", "STREAMWISE_SPARK_WORKER_UI_PORT"),
                ):
                    ensure_port_free(host, number, what=what, option=f"{variable} (worker i uses it + i - 1)")

    def daemon_env(self) -> dict[str, str]:
        """The daemons' environment: Spark's home and a conf folder of their own, loopback, small heaps."""
        java = require_java()
        return {
            "SPARK_HOME": str(spark_class().parent.parent),
            "SPARK_CONF_DIR": str(self.conf_dir),
            "SPARK_LOCAL_IP": self.spark.cluster_host,
            "SPARK_DAEMON_MEMORY": self.spark.daemon_memory,
            "JAVA_HOME": os.environ.get("JAVA_HOME") or str(java.resolve().parent.parent),
        }

    def master_command(self) -> list[str]:
        """``spark-class ...Master`` on the cluster's host, port and UI port."""
        spark = self.spark
        return [
            str(spark_class()),
            MASTER_CLASS,
            *("--host", spark.cluster_host, "--port", str(spark.master_port)),
            *("--webui-port", str(spark.master_ui_port)),
        ]

    def worker_command(self, index: int, port: int, ui_port: int, cores: int, memory: str) -> list[str]:
        """``spark-class ...Worker`` number ``index``: its ports, what it offers, its work folder, the master."""
        return [
            str(spark_class()),
            WORKER_CLASS,
            *("--host", self.spark.cluster_host, "--port", str(port), "--webui-port", str(ui_port)),
            *("--cores", str(cores), "--memory", memory),
            *("--work-dir", str(self.worker_home(index) / "work")),
            self.url,
        ]

    def _launch_worker(self, index: int, port: int, ui_port: int, cores: int, memory: str, env: dict[str, str]) -> int:
        home = self.worker_home(index)
        for folder in (home / "work", home / "local"):
            folder.mkdir(parents=True, exist_ok=True)
        log.info(
            "starting Spark worker %d on %s:%d (%d core(s), %s)", index, self.spark.cluster_host, port, cores, memory
        )
        return self.worker(index).start(
            self.worker_command(index, port, ui_port, cores, memory),
            ready=lambda: True,  # registration is awaited for all workers at once
            timeout_s=self.spark.cluster_start_timeout_s,
            env={**env, "SPARK_LOCAL_DIRS": str(home / "local")},
            cwd=home,
        )

    def _await_workers(self, ports: dict[int, int]) -> None:
        """Wait until the master lists each worker (index: RPC port) ALIVE; a worker process that exits
        meanwhile fails the wait with its log's tail."""
        wanted = {f"{self.spark.cluster_host}:{port}": index for index, port in ports.items()}
        deadline = time.monotonic() + self.spark.cluster_start_timeout_s
        while time.monotonic() < deadline:
            for index in wanted.values():
                service = self.worker(index)
                if service.process() is None:
                    raise ServiceStartError(
                        f"Spark worker {index} exited while starting; last lines of {service.log_file}:\n"
                        + service.tail(),
                        hint=f"read {service.log_file} for the whole story",
                    )
            known = [WorkerInfo.from_json(w) for w in (self.master_json() or {}).get("workers", [])]
            if set(wanted) <= {w.address for w in known if w.state == "ALIVE"}:
                return
            time.sleep(0.5)
        raise ServiceStartError(
            f"Spark worker(s) {', '.join(map(str, wanted.values()))} not registered with the master at {self.url} "
            f"after {self.spark.cluster_start_timeout_s:.0f}s",
            hint=f"raise STREAMWISE_SPARK_CLUSTER_START_TIMEOUT_S on a slow machine, or read the logs in "
            f"{self.settings.state / 'logs'}",
        )
