"""What every command shares: the consoles, the root options and how settings are built from them."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from streamwise.config import Settings, load_settings
from streamwise.errors import ConfigError
from streamwise.platform.exceptions import SecurityError
from streamwise.platform.kafka import ClusterStatus, recorded_nodes
from streamwise.platform.process import ServiceStatus
from streamwise.platform.security import secure_recorded, speaking

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
# the state folder, so `kafka kill 2` or `produce` after `up --profile cluster --profile secure` need no
# flag: a secure storage makes every command speak SASL_SSL as admin.
class Profile(StrEnum):
    """A shape of the local platform."""

    single = "single"
    cluster = "cluster"
    secure = "secure"


# Each profile's Kafka settings; secure changes the security section instead (settings() below).
PROFILES: dict[Profile, dict[str, Any]] = {
    Profile.single: {"nodes": 1},
    Profile.cluster: {"nodes": 3},
    Profile.secure: {},
}

ProfileOpt = Annotated[
    list[Profile] | None,
    typer.Option(
        "--profile",
        help="single: one KRaft node; cluster: three nodes, replication 3, min.insync.replicas 2; secure: "
        "TLS everywhere, SCRAM logins and ACLs (repeat to combine: --profile cluster --profile secure; "
        "default: what the state folder was started with, else single)",
    ),
]


ExposeOpt = Annotated[
    bool,
    typer.Option(
        "--expose",
        help="Let services listen on addresses other machines reach (a --host or STREAMWISE_*_HOST that is "
        "not loopback) without the secure profile: unprotected, with a warning [env STREAMWISE_SECURITY_EXPOSE]",
    ),
]


def settings(profile: Profile | Sequence[Profile] | None = None, *, expose: bool = False, **kafka: Any) -> Settings:
    """Settings from the environment, the root options, the profiles and a command's own Kafka options
    (which win); ``expose`` is the ``--expose`` option.

    In the secure profile (asked for, or recorded by the state folder's Kafka storage) Kafka clients
    speak SASL_SSL as ``admin``."""
    profiles = _profiles(profile)
    overrides: dict[str, Any] = {}
    if root_options.state_dir is not None:
        overrides["state_dir"] = root_options.state_dir
    if expose:
        overrides.setdefault("security", {})["expose"] = True
    if Profile.secure in profiles:
        overrides.setdefault("security", {})["enabled"] = True
    shape = {key: value for p in profiles for key, value in PROFILES[p].items()}
    kafka = {**shape, **{k: v for k, v in kafka.items() if v is not None}}
    if root_options.kafka_port is not None:
        kafka.setdefault("port", root_options.kafka_port)
    cfg = load_settings(kafka=dict(kafka), **overrides)
    if "nodes" not in kafka and "STREAMWISE_KAFKA_NODES" not in os.environ:
        recorded = recorded_nodes(cfg.state)
        if recorded is not None and recorded != cfg.kafka.nodes:
            kafka["nodes"] = recorded
            cfg = load_settings(kafka=dict(kafka), **overrides)
    if not cfg.security.enabled and "STREAMWISE_SECURITY_ENABLED" not in os.environ and secure_recorded(cfg.state):
        overrides.setdefault("security", {})["enabled"] = True
        cfg = load_settings(kafka=dict(kafka), **overrides)
    # A process the platform started speaks as the principal its environment names (settings_env);
    # the operator's own commands as admin.
    try:
        return speaking(cfg)
    except SecurityError as exc:
        # A lost admin password must not block what needs no Kafka login (down --purge, its own fix);
        # whatever does need one fails on it again, with this message.
        logging.getLogger(__name__).warning("%s (%s)", exc.message, exc.hint)
        return cfg


def _profiles(profile: Profile | Sequence[Profile] | None) -> list[Profile]:
    """The profiles given, checked: single and cluster are two sizes of one thing."""
    profiles = [profile] if isinstance(profile, Profile) else list(profile or [])
    if {Profile.single, Profile.cluster} <= set(profiles):
        raise ConfigError(
            "--profile single and --profile cluster contradict each other",
            hint="give one size (single or cluster), with or without --profile secure",
        )
    return profiles


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
