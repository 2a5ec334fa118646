"""What every command shares: the consoles, the root options and how settings are built from them."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from streamwise.config import Settings, load_settings
from streamwise.platform.kafka import ClusterStatus, recorded_nodes
from streamwise.platform.process import ServiceStatus

console = Console()
err_console = Console(stderr=True)


class RootOptions:
    """Options given before the sub-command (``streamwise --state-dir X kafka start``)."""

    state_dir: Path | None = None
    kafka_port: int | None = None
    debug: bool = False


root_options = RootOptions()

PortOpt = Annotated[int | None, typer.Option("--port", help="Kafka client listener port (default 9092)")]
ControllerPortOpt = Annotated[
    int | None, typer.Option("--controller-port", help="KRaft controller port (default 9093)")
]


# What each --profile changes. Without one, a command follows the Kafka storage already formatted in
# the state folder, so `kafka kill 2` or `produce` after `up --profile cluster` need no flag.
class Profile(StrEnum):
    """A shape of the local platform."""

    single = "single"
    cluster = "cluster"


PROFILES: dict[Profile, dict[str, Any]] = {Profile.single: {"nodes": 1}, Profile.cluster: {"nodes": 3}}

ProfileOpt = Annotated[
    Profile | None,
    typer.Option(
        "--profile",
        help="single: one KRaft node; cluster: three nodes, replication 3, min.insync.replicas 2 "
        "(default: what the state folder was started with, else single)",
    ),
]


def settings(profile: Profile | None = None, **kafka: Any) -> Settings:
    """Settings from the environment, the root options, the profile and a command's own Kafka options
    (which win)."""
    overrides: dict[str, Any] = {}
    if root_options.state_dir is not None:
        overrides["state_dir"] = root_options.state_dir
    kafka = {**(PROFILES[profile] if profile else {}), **{k: v for k, v in kafka.items() if v is not None}}
    if root_options.kafka_port is not None:
        kafka.setdefault("port", root_options.kafka_port)
    cfg = load_settings(kafka=dict(kafka), **overrides)
    if "nodes" in kafka or "STREAMWISE_KAFKA_NODES" in os.environ:
        return cfg
    recorded = recorded_nodes(cfg.state)
    if recorded is None or recorded == cfg.kafka.nodes:
        return cfg
    return load_settings(kafka={**kafka, "nodes": recorded}, **overrides)


def print_status(process: ServiceStatus, *, serving: bool, where: str) -> None:
    """One line: running and serving, started but not answering yet, or stopped (with its log)."""
    if serving:
        console.print(f"[green]● running[/] pid {process.pid}, serving {where}")
    elif process.running:
        console.print(f"[yellow]● started[/] pid {process.pid}, not answering on {where} yet")
    else:
        console.print(f"[red]● stopped[/] (log: {process.log})")


def kafka_nodes_table(status: ClusterStatus) -> Table:
    """One row per node, titled with what clients see: serving or not, quorum leader, replicas short."""
    short = status.under_replicated
    served = "[green]serving[/]" if status.serving else "[red]not serving[/]"
    leader = status.controller_leader if status.controller_leader is not None else "-"
    urp = f"[yellow]{len(short)} under-replicated[/] ({', '.join(short[:5])}{' …' if len(short) > 5 else ''})"
    table = Table(
        "node",
        "process",
        "pid",
        "listener",
        "in cluster",
        title=f"Kafka {status.bootstrap_servers}: {served}, controller leader {leader}, "
        + (urp if short else "all partitions fully replicated"),
    )
    for node in status.nodes:
        process = "[green]running[/]" if node.process.running else "[red]stopped[/]"
        member = "[green]yes[/]" if node.registered else "[dim]no[/]"
        table.add_row(str(node.node_id), process, str(node.process.pid or ""), node.address, member)
    return table
