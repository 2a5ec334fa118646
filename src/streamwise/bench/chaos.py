"""Chaos drills: faults injected while events flow, then an exact count of what the sinks hold.

Every drill feeds the clickstream generator's events (each with its ``event_id``, recorded in the
ground truth as sent; the producer's delivery reports say which were acknowledged) into a
pass-through pipeline with two exactly-once sinks, a Delta table and a transactional Kafka topic,
run under the supervisor as ``streamwise up`` runs it. While events flow, the drill injects its
faults. When they stop and the pipeline has caught up, it is stopped (SIGTERM: it stops between two
batches and settles them), and :func:`streamwise.verify.verify_pipeline` counts, per sink, every
record found once (ok), never (lost) or twice (duplicated).

- **R1 broker kill** (cluster profile): SIGKILL a random node every ``every_s`` seconds, restart it;
  recovery = kill until every partition it holds has it back in sync.
- **R2 driver kill**: SIGKILL the driver and its JVM at random points; the supervisor restarts it
  on its checkpoint; recovery = kill until the restarted driver commits a batch.
- **R4 bad input**: fuzzed records of every kind the decoder refuses, mixed into the valid ones; each
  must reach the dead-letter topic with its reason, and no query may stop.

``streamwise bench chaos`` runs them at full size; ``tests/chaos`` runs short variants in CI.
"""

from __future__ import annotations

import logging
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import psutil
import yaml

from streamwise.app.local import start_pipeline
from streamwise.bench.exceptions import BenchError
from streamwise.config import Settings
from streamwise.ingest.disorder import RateProfile
from streamwise.ingest.encoding import Format
from streamwise.ingest.producer import EventProducer
from streamwise.ingest.run import ProduceReport, produce
from streamwise.ingest.scenario import create
from streamwise.ingest.truth import GroundTruthWriter
from streamwise.pipeline import load_pipeline
from streamwise.pipeline.batches import batch_range, last_committed
from streamwise.pipeline.exceptions import PipelineError
from streamwise.pipeline.layout import PipelineLayout
from streamwise.platform.dead_letters import dlq_topic
from streamwise.platform.kafka import KafkaCluster
from streamwise.platform.process import Service
from streamwise.platform.storage import data_root
from streamwise.platform.supervise import SupervisorRecord
from streamwise.platform.topics import create_topic, end_offsets
from streamwise.verify import readers, verify_pipeline

log = logging.getLogger(__name__)

SCHEMA = "event_id BIGINT, user_id STRING, page STRING, event_time LONG"
SAFETY_S = 600.0  # bound on any single wait for the platform to recover; reaching it fails the drill
# Bound on a pipeline's catch-up after the faults: R1's full size left 3.8 M events to drain, which
# took 516 s on 2 cores. A safety net only, far above what any drill here needs.
CATCH_UP_S = 3600.0


@dataclass
class DrillResult:
    """One drill's counts: what was sent and acknowledged, what each sink holds, and the faults."""

    drill: str
    seconds: float
    sent: int
    acknowledged: int
    consumed: dict[str, int]
    lost: int
    duplicated: int
    dead_lettered: int
    faults: int
    recovery_s: list[float] = field(default_factory=list)
    pipeline_restarts: int = 0
    expected: dict[str, int] | None = None  # rows each sink must hold; None: every acknowledged record
    checks: dict[str, bool] = field(default_factory=dict)  # the drill's own invariants, by what they say
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Nothing lost, nothing twice, every sink holding what it must, every check of the drill held."""
        expected = self.expected or dict.fromkeys(self.consumed, self.acknowledged)
        return (
            self.lost == 0
            and self.duplicated == 0
            and bool(self.consumed)
            and self.consumed == expected
            and all(self.checks.values())
        )

    def row(self) -> dict[str, Any]:
        """The row ``bench chaos`` reports."""
        return {
            **{k: v for k, v in asdict(self).items() if k not in ("recovery_s", "consumed", "expected", "extra")},
            "consumed": min(self.consumed.values(), default=0),
            "recovery_max_s": round(max(self.recovery_s), 1) if self.recovery_s else None,
            "recovery_s": [round(s, 1) for s in self.recovery_s],
            "ok": self.ok,
            **self.extra,
        }


def default_sinks(name: str, topic: str) -> list[dict[str, Any]]:
    """Delta and a transactional Kafka topic: two exactly-once sinks that keep every record."""
    return [
        {"type": "delta", "path": f"{name}/events"},
        {"type": "kafka_alerts", "topic": f"{topic}_out", "key": "user_id"},
    ]


class Flow:
    """Events flowing from the generator through a supervised pass-through pipeline, and its end."""

    def __init__(
        self,
        settings: Settings,
        name: str,
        *,
        rate: float | RateProfile,
        sinks: list[dict[str, Any]] | None = None,
        source: dict[str, Any] | None = None,
        partitions: int = 3,
    ) -> None:
        self.settings = settings
        self.name = name
        self.topic = f"chaos_{name}"
        self.pace = rate if isinstance(rate, RateProfile) else RateProfile(rate)
        self.sinks = sinks if sinks is not None else default_sinks(name, self.topic)
        self.source = source or {}  # more source settings, e.g. max_offsets_per_trigger
        self.stop_producing = threading.Event()
        self.timings: dict[str, float] = {}
        self.partitions = partitions
        self.spec_path = settings.state / "chaos" / f"{name}.yaml"
        self.layout = PipelineLayout(name, data_root(settings))
        self.checkpoint = self.layout.main_checkpoint
        self.pipeline = Service("pipeline", settings.state)
        self.report: ProduceReport | None = None
        self._producing: threading.Thread | None = None
        self._error: BaseException | None = None

    def write_pipeline(self) -> Path:
        """The pass-through pipeline: every record, its id kept, into the flow's sinks."""
        spec = {
            "name": self.name,
            "source": {
                "topic": self.topic,
                "schema": SCHEMA,
                "required": ["page"],
                "require_key": True,
                **self.source,
            },
            "sinks": self.sinks,
            "trigger": "1 second",
        }
        self.spec_path.parent.mkdir(parents=True, exist_ok=True)
        self.spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
        return self.spec_path

    def start(self) -> None:
        """Create the topic, start the pipeline (supervised) and the generator."""
        create_topic(self.settings.kafka, self.topic, partitions=self.partitions, exist_ok=True)
        self.write_pipeline()
        starting = time.monotonic()
        start_pipeline(self.settings, str(self.spec_path), self.layout)
        self.timings["pipeline_start_s"] = round(time.monotonic() - starting, 1)
        self._producing = threading.Thread(target=self._produce, name=f"chaos-{self.name}-producer", daemon=True)
        self._producing.start()

    def _produce(self) -> None:
        source = create("clickstream", seed=7)
        truth = GroundTruthWriter(
            self.settings.state,
            self.topic,
            schema=source.schema,
            key_field=source.key_field,
            meta={"source": "clickstream", "drill": self.name},
        )
        try:
            self.report = produce(
                EventProducer(self.settings.kafka, self.topic),
                source,
                pace=self.pace,
                fmt=Format.JSON,
                truth=truth,
                stop=self.stop_producing,
            )
        except BaseException as exc:  # the drill reports it; a thread cannot raise to its caller
            self._error = exc

    def restarts(self) -> int:
        record = SupervisorRecord.read(self.pipeline.supervisor_file)
        return record.restarts if record else 0

    def driver(self) -> psutil.Process | None:
        """The driver the supervisor runs now (None while it backs off between two runs)."""
        record = SupervisorRecord.read(self.pipeline.supervisor_file)
        if record is None or record.child_pid is None or record.state != "running":
            return None
        try:
            return psutil.Process(record.child_pid)
        except psutil.Error:
            return None

    def caught_up(self) -> bool:
        """True once the main query has committed every record the topic holds; a BenchError when
        the pipeline is no longer running (it would never catch up)."""
        if not self.pipeline.status().running:
            raise BenchError(
                f"chaos: pipeline {self.name} stopped before catching up:\n{self.pipeline.tail()}",
                hint=f"read {self.pipeline.log_file}",
            )
        return self.committed() >= self.produced()

    def produced(self) -> int:
        """Records in the topic now (the sum of its partitions' end offsets)."""
        return sum(end_offsets(self.settings.kafka, self.topic, list(range(self.partitions))).values())

    def committed(self) -> int:
        """Records up to the end of the main query's last committed batch (0 before the first, or
        while the newest offsets file is rotating out)."""
        batch = last_committed(self.checkpoint)
        if batch is None:
            return 0
        try:
            end = batch_range(self.checkpoint, batch, self.topic).end
        except PipelineError:
            return 0
        return sum(end.get(self.topic, {}).values())

    def committed_batches(self) -> int:
        """Batches the main query has committed (its checkpoint's ``commits`` log)."""
        newest = last_committed(self.checkpoint)
        return 0 if newest is None else newest + 1

    def finish(
        self, drill: str, *, faults: int, recovery_s: list[float], started: float, verify: bool = True
    ) -> DrillResult:
        """Stop the generator; once the pipeline caught up, stop it; verify every sink (a
        drill that counts on its own passes ``verify=False`` and fills the counts itself)."""
        self.stop_producing.set()
        if self._producing is not None:
            self._producing.join(SAFETY_S)
        if self._error is not None:
            raise self._error
        draining = time.monotonic()
        wait_until(self.caught_up, f"pipeline {self.name} to catch up with {self.topic}", CATCH_UP_S)
        self.timings["catch_up_s"] = round(time.monotonic() - draining, 1)
        restarts = self.restarts()
        self.pipeline.stop(grace_s=60.0)  # SIGTERM: it stops between two batches and settles them
        produced = self.report
        assert produced is not None
        checked = (
            [s for s in verify_pipeline(load_pipeline(self.spec_path), self.settings).sinks if s.checked]
            if verify
            else []
        )
        dead = readers.dead_letters(self.settings.kafka, dlq_topic(self.topic))
        return DrillResult(
            drill=drill,
            seconds=round(time.monotonic() - started, 1),
            sent=produced.records,
            acknowledged=produced.stats.delivered,
            consumed={s.sink: s.found for s in checked},
            lost=sum(s.lost + s.unknown for s in checked),
            duplicated=sum(s.duplicated for s in checked),
            dead_lettered=len(dead),
            faults=faults,
            recovery_s=recovery_s,
            pipeline_restarts=restarts,
            extra=dict(self.timings),
        )


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = SAFETY_S) -> float:
    """Seconds until ``condition()`` held; BenchError after ``timeout_s`` (a safety net only)."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout_s:
            raise BenchError(f"chaos: still waiting for {what} after {timeout_s:.0f}s")
        time.sleep(0.2)
    return time.monotonic() - start


def broker_kills(
    settings: Settings,
    *,
    duration_s: float = 180,
    rate: float = 20_000,
    every_s: float = 15,
    down_s: float = 3,
    seed: int = 1,
) -> DrillResult:
    """R1: on a cluster of three, SIGKILL a random node every ``every_s`` s while events flow for
    ``duration_s`` s, and restart it after ``down_s`` s. ``settings`` name a running cluster."""
    cluster = KafkaCluster(settings)
    if len(cluster.nodes) < 3:
        raise BenchError(
            f"R1 needs the cluster profile: these settings have {len(cluster.nodes)} Kafka node(s), and with one "
            "node down no other replica can lead",
            hint="run it with STREAMWISE_KAFKA_NODES=3, as streamwise bench chaos does",
        )
    rng = random.Random(seed)
    started = time.monotonic()
    with flowing(settings, "r1_broker_kill", rate=rate) as flow:
        recovery: list[float] = []
        begin = time.monotonic()
        next_kill = begin + every_s
        while next_kill < begin + duration_s:
            time.sleep(max(0.0, next_kill - time.monotonic()))
            victim = rng.choice(cluster.nodes).node_id
            killed_at = time.monotonic()
            log.info("chaos R1: SIGKILL Kafka node %d", victim)
            cluster.kill(victim)
            time.sleep(down_s)
            cluster.restart(victim)  # returns once the node is back in sync on every partition it holds
            recovery.append(time.monotonic() - killed_at)
            next_kill = killed_at + every_s
        time.sleep(max(0.0, begin + duration_s - time.monotonic()))
        result = flow.finish("R1 broker kill", faults=len(recovery), recovery_s=recovery, started=started)
    result.checks["every node back in sync"] = cluster.under_replicated() == []
    return result


def driver_kills(
    settings: Settings, *, rate: float = 5_000, kills: int = 5, within_s: float = 10, seed: int = 2
) -> DrillResult:
    """R2: SIGKILL the driver and its JVM ``kills`` times at random points while events flow; the
    supervisor restarts it on its checkpoint each time. Events flow until ``within_s`` s after the
    last restart committed a batch."""
    rng = random.Random(seed)
    started = time.monotonic()
    with flowing(settings, "r2_driver_kill", rate=rate) as flow:
        recovery: list[float] = []
        for _ in range(kills):
            # A random point of a batch's life: between 1 and ``within_s`` seconds after the driver
            # (first started, or restarted by the supervisor) committed a batch.
            time.sleep(rng.uniform(1.0, within_s))
            driver = flow.driver()
            assert driver is not None, "the driver is not running"
            restarts, batches = flow.restarts(), flow.committed_batches()
            killed_at = time.monotonic()
            log.info("chaos R2: SIGKILL driver pid %d and its JVM", driver.pid)
            kill_tree(driver)
            wait_until(partial(grew, flow.restarts, restarts), "the supervisor to notice the kill")
            wait_until(partial(grew, flow.committed_batches, batches), "the restarted driver to commit a batch")
            recovery.append(time.monotonic() - killed_at)
        time.sleep(within_s)
        result = flow.finish("R2 driver kill", faults=len(recovery), recovery_s=recovery, started=started)
    result.checks["the supervisor restarted each killed driver"] = result.pipeline_restarts == len(recovery) == kills
    return result


def grew(count: Callable[[], int], before: int) -> bool:
    """True once ``count()`` is above ``before``: with ``partial``, a condition for :func:`wait_until`."""
    return count() > before


def kill_tree(proc: psutil.Process) -> None:
    """SIGKILL a process and every process under it (a driver and its JVM), as a crash would."""
    family = [proc, *proc.children(recursive=True)]
    for member in family:
        try:
            member.send_signal(signal.SIGKILL)
        except psutil.Error:
            pass
    psutil.wait_procs(family, timeout=30)


@contextmanager
def flowing(
    settings: Settings,
    name: str,
    *,
    rate: float | RateProfile,
    sinks: list[dict[str, Any]] | None = None,
    source: dict[str, Any] | None = None,
) -> Iterator[Flow]:
    """A started :class:`Flow` whose generator and pipeline are stopped however the drill ends."""
    flow = Flow(settings, name, rate=rate, sinks=sinks, source=source)
    flow.start()
    try:
        yield flow
    finally:
        flow.stop_producing.set()
        flow.pipeline.stop(grace_s=60.0)
