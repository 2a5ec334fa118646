"""The benchmark family: each benchmark is registered by name, runs against a :class:`BenchContext`
and returns a :class:`BenchReport`, which is written to ``DIR/<name>.json`` and shown as a table.

A new benchmark is a class with ``name``, ``description`` and ``run(context)``, decorated with
:func:`register`; ``streamwise bench list`` shows it and a command in ``cli/bench.py`` runs it.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from rich.table import Table

from streamwise.bench.exceptions import BenchError
from streamwise.config import Settings, load_settings
from streamwise.platform.kafka import KafkaCluster
from streamwise.platform.ports import free_port
from streamwise.platform.spark import spark_session

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

_REGISTRY: dict[str, type[Benchmark]] = {}


@dataclass(frozen=True)
class Column:
    """A column of a report's table: the row key it shows and how."""

    key: str
    title: str
    fmt: str = "{}"  # format of the value, e.g. "{:,.0f}"


@dataclass
class BenchReport:
    """A benchmark's result: its rows (one per case) and what it ran with."""

    name: str
    rows: list[dict[str, Any]]
    columns: list[Column]
    config: dict[str, Any] = field(default_factory=dict)
    goals: dict[str, Any] = field(default_factory=dict)  # name -> {"target", "value", "met"[, "at_most": True]}
    checks: dict[str, Any] = field(default_factory=dict)  # name -> {"passed", "detail", ...}: sanity checks of the run
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "benchmark": self.name,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
            "config": self.config,
            "results": self.rows,
            "goals": self.goals,
            "checks": self.checks,
            "notes": self.notes,
        }

    def write(self, directory: Path) -> Path:
        """Write ``directory/<name>.json`` (the folder is created); return its path."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{self.name}.json"
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        return path

    def table(self) -> Table:
        table = Table(*(c.title for c in self.columns), title=f"bench {self.name}")
        for row in self.rows:
            table.add_row(*(c.fmt.format(row[c.key]) if row.get(c.key) is not None else "–" for c in self.columns))
        return table


@dataclass(frozen=True)
class BenchContext:
    """Where a benchmark runs: the settings of the broker it talks to, and options of the run."""

    settings: Settings
    options: dict[str, Any] = field(default_factory=dict)

    def spark(self, benchmark: str) -> SparkSession:
        """The session given in ``options["spark"]`` (tests pass theirs), else the project's session
        settings without the UI: a benchmark must not take port 4040 from a running pipeline."""
        if self.options.get("spark") is not None:
            return self.options["spark"]

        spark = self.settings.spark.model_copy(update={"ui": False})
        return spark_session(
            self.settings.model_copy(update={"spark": spark}), app_name=f"streamwise-bench-{benchmark}"
        )

    def scratch(self, benchmark: str) -> tuple[str, Path]:
        """A run's own names, fresh even on a shared ``--bootstrap`` broker: the topic name
        ``bench.<benchmark>.<time>_<pid>`` and the folder ``STATE/bench/<benchmark>-<time>_<pid>``."""
        run_id = f"{int(time.time())}_{os.getpid()}"
        return f"bench.{benchmark}.{run_id}", self.settings.state / "bench" / f"{benchmark}-{run_id}"


class Benchmark(Protocol):
    """One member of the family."""

    name: ClassVar[str]
    description: ClassVar[str]

    def run(self, context: BenchContext) -> BenchReport: ...


def register(cls: type[Benchmark]) -> type[Benchmark]:
    """Class decorator: make a benchmark available by its name."""
    _REGISTRY[cls.name] = cls
    return cls


def benchmarks() -> dict[str, type[Benchmark]]:
    """Every registered benchmark, by name (the package imports the built-in ones)."""
    return dict(sorted(_REGISTRY.items()))


def get(name: str) -> Benchmark:
    found = benchmarks().get(name)
    if found is None:
        raise BenchError(f"unknown benchmark {name!r}", hint=f"available: {', '.join(benchmarks())}")
    return found()


@contextmanager
def scratch_broker(project: Settings) -> Iterator[Settings]:
    """A broker of its own for a benchmark: free loopback ports, a scratch state folder under the
    project's (``STATE/bench/scratch-<pid>``), the project's jar cache; stopped and removed after."""
    port = free_port()
    controller = free_port()
    while controller == port:
        controller = free_port()
    scratch = project.state / "bench" / f"scratch-{os.getpid()}"
    settings = load_settings(
        state_dir=scratch,
        cache_dir=project.cache,
        kafka={"port": port, "controller_port": controller, "heap": "1g", "default_partitions": 8},
    )
    broker = KafkaCluster(settings)
    broker.start()
    try:
        yield settings
    finally:
        broker.stop()
        shutil.rmtree(scratch, ignore_errors=True)


def bench_settings(project: Settings, bootstrap: str) -> Settings:
    """The project's settings on an existing Kafka (``--bootstrap host:port[,host:port...]``): its
    bootstrap servers, checked as the setting checks them, and the project's own security settings."""
    kafka = project.kafka.model_dump(exclude={"bootstrap_servers"}, exclude_unset=True)
    return load_settings(
        state_dir=project.state_dir, cache_dir=project.cache, kafka={**kafka, "bootstrap_servers": bootstrap}
    )
