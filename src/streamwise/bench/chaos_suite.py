"""``streamwise bench chaos``: every drill on a platform of its own, one report.

Each drill gets a scratch state folder and free loopback ports, with what it needs started and
stopped by pid around it: the three-node cluster for R1, one node for the others, PostgreSQL for R3
and R4, Redis for R3. A drill that fails to run is reported with its error; the others still run.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from streamwise.bench.chaos import DrillResult, broker_kills, driver_kills
from streamwise.bench.chaos_input import KINDS, bad_input
from streamwise.bench.chaos_load import soak, spike
from streamwise.bench.chaos_outage import sink_outage
from streamwise.bench.exceptions import BenchError
from streamwise.bench.registry import BenchReport, Column
from streamwise.config import Settings, load_settings
from streamwise.errors import StreamwiseError
from streamwise.platform.kafka import KafkaCluster
from streamwise.platform.ports import free_port_block, free_ports
from streamwise.platform.services import PostgresServer, RedisServer


@dataclass(frozen=True)
class Drill:
    """A drill: its platform, and how to run it at full size and at CI size."""

    id: str
    title: str
    nodes: int
    databases: tuple[str, ...]
    full: Callable[[Settings], DrillResult]
    short: Callable[[Settings], DrillResult]


DRILLS = {
    d.id: d
    for d in (
        Drill(
            "R1",
            "broker hard kill (cluster profile)",
            3,
            (),
            lambda s: broker_kills(s, duration_s=180, rate=20_000, every_s=15),
            lambda s: broker_kills(s, duration_s=45, rate=2_000, every_s=15),
        ),
        Drill(
            "R2",
            "driver kill",
            1,
            (),
            lambda s: driver_kills(s, rate=5_000, kills=5, within_s=10),
            lambda s: driver_kills(s, rate=2_000, kills=2, within_s=5),
        ),
        Drill(
            "R3",
            "sink outage (PostgreSQL, then Redis)",
            1,
            ("postgres", "redis"),
            # PostgreSQL and Redis are written from the driver: 500 events/s is what keeps up here.
            lambda s: sink_outage(s, down_s=30, rate=500),
            lambda s: sink_outage(s, down_s=10, rate=300),
        ),
        Drill(
            "R4",
            "bad input",
            1,
            ("postgres",),
            lambda s: bad_input(s, bad=10_010, rate=2_000, seconds=60),
            lambda s: bad_input(s, bad=100 * len(KINDS), rate=1_000, seconds=30),
        ),
        Drill(
            "R6",
            "soak",
            1,
            (),
            lambda s: soak(s, minutes=30, rate=20_000),
            lambda s: soak(s, minutes=3, rate=5_000),
        ),
        Drill(
            "R7",
            "spike ×10 for 30 s",
            1,
            (),
            lambda s: spike(s, base_rate=500, factor=10, spike_s=30),
            lambda s: spike(s, base_rate=500, factor=10, spike_s=10, max_offsets_per_trigger=10_000),
        ),
    )
}

COLUMNS = [
    Column("drill", "drill"),
    Column("ok", "ok"),
    Column("sent", "sent", "{:,}"),
    Column("acknowledged", "acked", "{:,}"),
    Column("consumed", "consumed (min over sinks)", "{:,}"),
    Column("lost", "lost", "{:,}"),
    Column("duplicated", "duplicated", "{:,}"),
    Column("dead_lettered", "dead-lettered", "{:,}"),
    Column("faults", "faults"),
    Column("recovery_max_s", "recovery max s", "{:.1f}"),
    Column("pipeline_restarts", "pipeline restarts"),
    Column("seconds", "seconds", "{:.0f}"),
]


def run_suite(project: Settings, drills: list[str], *, short: bool, on_step: Callable[[str], None]) -> BenchReport:
    """Run ``drills`` (ids of :data:`DRILLS`) one after the other; one row each."""
    unknown = [d for d in drills if d not in DRILLS]
    if unknown:
        raise BenchError(f"unknown drill(s) {', '.join(unknown)}", hint=f"choose among {', '.join(DRILLS)}")
    rows: list[dict[str, Any]] = []
    for drill_id in drills:
        drill = DRILLS[drill_id]
        on_step(f"{drill.id} {drill.title}: starting its platform")
        started = time.monotonic()
        try:
            with scratch_platform(project, drill) as settings:
                on_step(f"{drill.id} {drill.title}: running ({'short' if short else 'full size'})")
                result = (drill.short if short else drill.full)(settings)
            rows.append({**result.row(), "drill": f"{drill.id} {result.drill.split(' ', 1)[-1]}"})
        except (StreamwiseError, AssertionError, OSError) as exc:
            rows.append(
                {
                    "drill": f"{drill.id} {drill.title}",
                    "ok": False,
                    "error": str(exc)[:500],
                    "seconds": time.monotonic() - started,
                }
            )
    return BenchReport(
        name="chaos",
        rows=rows,
        columns=COLUMNS,
        config={"drills": drills, "size": "short" if short else "full", "cpus": os.cpu_count()},
        checks={
            row["drill"]: {"passed": bool(row.get("ok")), "detail": row.get("error") or _detail(row)} for row in rows
        },
    )


def _detail(row: dict[str, Any]) -> str:
    failed = [name for name, held in row.get("checks", {}).items() if not held]
    return (
        f"{row['acknowledged']:,} acknowledged, {row['consumed']:,} in every sink (fewest), {row['lost']} lost, "
        f"{row['duplicated']} duplicated, {row['dead_lettered']:,} dead-lettered"
        + (f"; failed: {', '.join(failed)}" if failed else "")
    )


@contextmanager
def scratch_platform(project: Settings, drill: Drill) -> Iterator[Settings]:
    """A platform for one drill under ``STATE/bench/chaos-<pid>/<drill>``: Kafka with the drill's
    nodes and its databases, on free loopback ports; stopped by pid and removed afterwards."""
    first = free_port_block(2 * drill.nodes)
    registry, dashboard, postgres, redis = free_ports(4)
    state = project.state / "bench" / f"chaos-{os.getpid()}" / drill.id
    settings = load_settings(
        state_dir=state,
        cache_dir=project.cache,
        kafka={"port": first, "controller_port": first + 1, "nodes": drill.nodes, "heap": "512m"},
        spark={"master": "local[2]", "ui": False},
        registry={"port": registry},
        dashboard={"port": dashboard},
        postgres={"port": postgres},
        redis={"port": redis},
    )
    servers = {"postgres": PostgresServer, "redis": RedisServer}
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, state, True)
        for server in [KafkaCluster(settings), *(servers[name](settings) for name in drill.databases)]:
            server.start()
            stack.callback(server.stop)
        yield settings
