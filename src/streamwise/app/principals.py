"""One Kafka principal per role of the local platform, each with only the ACLs its work needs.

In the secure profile nobody but ``admin`` (the operator's CLI) and the brokers themselves is a
super user. ``up`` makes a SCRAM user per role and grants it exactly this:

================  ==========================================================================
role              may
================  ==========================================================================
``producer-<t>``  create, write and describe topic ``t`` and its dead-letter topic ``t.dlq``;
                  read ``t``'s configs (its size limit)
``pipeline-<p>``  read its source (and stream-join) topics; write its dead-letter topics, its
                  sinks' topics and the progress topic; commit offsets to its own consumer
                  group ``p`` (the lag tools read); its transactions (``streamwise-p.*``)
                  and their marker groups (``streamwise.sink.p.*``); every topic named
                  ``p.*`` (its sinks' own dead-letter topics)
``registry``      the registry's compacted topic ``_schemas`` (create, read, write)
``dashboard``     read the progress and alerts topics; describe every topic (lag, listing)
every role        describe the groups streamwise's offset look-ups name (never joined)
================  ==========================================================================

A pipeline's names carry no dot (``[a-z][a-z0-9_]*``), so the prefixes ``p.`` and
``streamwise-p.`` of one pipeline never cover another pipeline's resources.
"""

from __future__ import annotations

from collections.abc import Iterable

from streamwise.config import Settings
from streamwise.monitor.listener import PROGRESS_TOPIC
from streamwise.pipeline.spec import JoinStep, PipelineSpec, StreamSide
from streamwise.platform.dead_letters import dlq_topic
from streamwise.platform.security import Acl, Operation, Pattern, Resource, add_user, as_principal, grant
from streamwise.sinks.config import DeadLetterSink, TopicSink

REGISTRY = "registry"
DASHBOARD = "dashboard"

_READ: tuple[Operation, ...] = ("read", "describe")
_WRITE: tuple[Operation, ...] = ("write", "describe")
_OWN: tuple[Operation, ...] = ("read", "write", "describe", "create")


def producer_principal(topic: str) -> str:
    return f"producer-{topic}"


def pipeline_principal(name: str) -> str:
    return f"pipeline-{name}"


def _acls(
    principal: str,
    resource: Resource,
    names: Iterable[str],
    operations: Iterable[Operation],
    pattern: Pattern = "literal",
) -> list[Acl]:
    ops = tuple(operations)
    return [Acl(principal, resource, name, op, pattern) for name in dict.fromkeys(names) for op in ops]


def _lookups(principal: str) -> list[Acl]:
    """Describe on the groups streamwise's own offset look-ups and readers name (never joined nor
    committed to: they assign partitions), so librdkafka's coordinator look-up for them is not
    denied and logged at every call."""
    return _acls(principal, "group", ["streamwise-offsets"], ("describe",)) + _acls(
        principal, "group", ["streamwise-reader-"], ("describe",), "prefixed"
    )


def producer_acls(topic: str) -> list[Acl]:
    """A scenario generator: its topic (created if missing, as ``produce`` does), and the dead-letter
    topic its oversized records go to."""
    who = producer_principal(topic)
    # describe_configs: the producer reads the topic's max.message.bytes to send oversized records to
    # the dead-letter topic instead of failing them.
    return (
        _acls(who, "topic", [topic, dlq_topic(topic)], (*_WRITE, "create"))
        + _acls(who, "topic", [topic], ("describe_configs",))
        + _lookups(who)
    )


def pipeline_acls(spec: PipelineSpec) -> list[Acl]:
    """A pipeline's driver (see the module's table)."""
    who, name = pipeline_principal(spec.name), spec.name
    reads = [spec.source.topic] + [
        step.right.topic for step in spec.steps if isinstance(step, JoinStep) and isinstance(step.right, StreamSide)
    ]
    sink_topics = [sink.topic for sink in spec.sinks if isinstance(sink, TopicSink)]
    # A sink's own dead letters go to <label>.dlq (label = p.<i>.<type>, under the prefix below), or to
    # <name>.dlq when the sink names it.
    named_dlqs = [dlq_topic(s.name) for s in spec.sinks if isinstance(s, DeadLetterSink) and s.name]
    return (
        _acls(who, "topic", reads, _READ)
        + _acls(who, "topic", [*map(dlq_topic, reads), *sink_topics, *named_dlqs], _OWN)
        + _acls(who, "topic", [PROGRESS_TOPIC], (*_WRITE, "create"))
        + _acls(who, "topic", [f"{name}."], _OWN, "prefixed")
        + _acls(who, "group", [name], ("read", "describe"))
        + _acls(who, "group", [f"streamwise.sink.{name}."], ("read", "describe"), "prefixed")
        + _acls(who, "transactional_id", [f"streamwise-{name}."], ("write", "describe"), "prefixed")
        + _lookups(who)
    )


def registry_acls(settings: Settings) -> list[Acl]:
    """The registry: its own topic, nothing else."""
    return _acls(REGISTRY, "topic", [settings.registry.topic], (*_OWN, "describe_configs")) + _lookups(REGISTRY)


def dashboard_acls(settings: Settings) -> list[Acl]:
    """The dashboard: the progress and alerts topics, and the names and ends of all topics."""
    reads = _acls(DASHBOARD, "topic", [PROGRESS_TOPIC, settings.dashboard.alerts_topic], _READ)
    everything = _acls(DASHBOARD, "topic", ["*"], ("describe",))  # "*": Kafka's wildcard, any topic
    own_group = _acls(DASHBOARD, "group", ["streamwise-dashboard"], ("describe",))
    return reads + everything + own_group + _lookups(DASHBOARD)


def provision(settings: Settings, principal: str, acls: list[Acl]) -> Settings:
    """Make ``principal`` a user (once; its password stays), grant it ``acls``, and return the settings
    that speak as it. Outside the secure profile, ``settings`` unchanged."""
    if not settings.security.enabled:
        return settings
    add_user(settings, principal)
    grant(settings, acls)
    return as_principal(settings, principal)
