"""Each role's ACLs: exactly what its work needs, and nothing of another role's."""

from __future__ import annotations

from streamwise.app.principals import dashboard_acls, pipeline_acls, producer_acls, registry_acls
from streamwise.config import load_settings
from streamwise.pipeline import load_pipeline, resolve
from streamwise.platform.security import Acl

LOOKUPS = {
    ("group", "streamwise-offsets", "literal", "describe"),
    ("group", "streamwise-reader-", "prefixed", "describe"),
}


def rules(acls: list[Acl]) -> set[tuple[str, str, str, str]]:
    return {(a.resource, a.name, a.pattern, a.operation) for a in acls}


def test_the_clickstream_pipeline_gets_its_topics_group_and_transactions_only() -> None:
    """Setup: the shipped clickstream pipeline. Invariant: its principal reads its source, owns its
    dead-letter topics and its own ``clickstream.`` prefix, writes progress, commits to group
    ``clickstream`` only, and its transactions are under ``streamwise-clickstream.``."""
    acls = pipeline_acls(load_pipeline(resolve("clickstream")))
    assert {a.principal for a in acls} == {"pipeline-clickstream"}
    own = {"read", "write", "describe", "create"}
    expected = (
        {("topic", "clickstream", "literal", op) for op in ("read", "describe")}
        | {("topic", "clickstream.dlq", "literal", op) for op in own}
        | {("topic", "clickstream.", "prefixed", op) for op in own}
        | {("topic", "_streamwise_progress", "literal", op) for op in ("write", "describe", "create")}
        | {("group", "clickstream", "literal", op) for op in ("read", "describe")}
        | {("group", "streamwise.sink.clickstream.", "prefixed", op) for op in ("read", "describe")}
        | {("transactional_id", "streamwise-clickstream.", "prefixed", op) for op in ("write", "describe")}
        | LOOKUPS
    )
    assert rules(acls) == expected


def test_a_producer_writes_its_topic_and_its_dead_letters_and_reads_nothing() -> None:
    """Invariant: create/write/describe on the topic and on its dead-letter topic, the topic's configs
    (its size limit); no read anywhere."""
    acls = producer_acls("payments")
    assert {a.principal for a in acls} == {"producer-payments"}
    topics = {
        ("topic", t, "literal", op) for t in ("payments", "payments.dlq") for op in ("create", "write", "describe")
    }
    assert rules(acls) == topics | {("topic", "payments", "literal", "describe_configs")} | LOOKUPS


def test_the_registry_and_dashboard_get_their_own_topics() -> None:
    """Invariant: the registry touches only ``_schemas``; the dashboard reads only progress and alerts
    and may describe (never read) the other topics."""
    settings = load_settings()
    assert {(a.resource, a.name) for a in registry_acls(settings) if a.resource == "topic"} == {("topic", "_schemas")}
    assert {r for r in rules(registry_acls(settings)) if r[0] == "group"} == LOOKUPS
    dash = rules(dashboard_acls(settings))
    assert {r for r in dash if r[3] == "read"} == {
        ("topic", "_streamwise_progress", "literal", "read"),
        ("topic", "alerts", "literal", "read"),
    }
    assert ("topic", "*", "literal", "describe") in dash
