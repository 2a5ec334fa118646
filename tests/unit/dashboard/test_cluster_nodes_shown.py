"""The dashboard's components on the cluster profile: one per Kafka node, so a killed node shows."""

from __future__ import annotations

from pathlib import Path

from streamwise.dashboard.snapshot import _component
from streamwise.platform.process import ServiceStatus


def node(name: str, running: bool) -> ServiceStatus:
    return ServiceStatus(name, running, 4242 if running else None, Path(f"/state/logs/{name}.log"))


def test_a_killed_node_is_down_while_the_cluster_serves() -> None:
    shown = [_component(node(n, r), kafka_serving=True) for n, r in (("kafka-1", True), ("kafka-2", False))]
    assert [(c.name, c.level, c.state, c.pid) for c in shown] == [
        ("kafka-1", "ok", "serving", 4242),
        ("kafka-2", "down", "stopped", None),
    ]


def test_a_running_node_of_a_cluster_that_does_not_serve_is_a_warning() -> None:
    shown = _component(node("kafka-3", True), kafka_serving=False)
    assert (shown.level, shown.state) == ("warn", "not serving")
