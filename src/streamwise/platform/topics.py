"""Create, list and describe Kafka topics through the Admin API (any Kafka-speaking tool sees the same)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from streamwise.config import QUIET, KafkaSettings
from streamwise.platform.exceptions import TopicError

_TIMEOUT_S = 15.0
# A partition whose leader is not (yet) serving it: transient right after the topic is created.
_NOT_READY = (KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE, KafkaError.UNKNOWN_TOPIC_OR_PART)
_RETRY_S = 60.0  # a broker restarting on a loaded machine can take this long to lead its partitions again


@dataclass(frozen=True)
class PartitionInfo:
    """One partition: where it lives and how far its log reaches."""

    partition: int
    leader: int
    replicas: list[int]
    isr: list[int]
    end_offset: int


@dataclass(frozen=True)
class TopicInfo:
    """A topic as ``topics describe`` shows it."""

    name: str
    partitions: list[PartitionInfo]
    configs: dict[str, str] = field(default_factory=dict)

    @property
    def replication(self) -> int:
        return len(self.partitions[0].replicas) if self.partitions else 0


# Errors of a group coordinator that is moving or loading (a new group, a new broker): worth a short wait.
COORDINATOR_BUSY = frozenset(
    {
        KafkaError.NOT_COORDINATOR,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
    }
)


def _admin(kafka: KafkaSettings) -> AdminClient:
    return AdminClient(kafka.client_config(**QUIET))


def create_topic(
    kafka: KafkaSettings,
    name: str,
    *,
    partitions: int,
    replication: int | None = None,
    retention_ms: int | None = None,
    cleanup_policy: str | None = None,
    exist_ok: bool = False,
) -> bool:
    """Create ``name``; return False if it existed and ``exist_ok``. Raises TopicError otherwise.

    ``replication`` defaults to the cluster's (:attr:`KafkaSettings.replication_factor`): three
    replicas on the cluster profile, one on a single node, and on an existing Kafka -1: its brokers'
    ``default.replication.factor``."""
    replication = kafka.replication_factor if replication is None else replication
    if partitions < 1 or (replication < 1 and replication != -1):
        raise TopicError(
            f"topic {name}: partitions must be ≥ 1 and replication ≥ 1 or -1 for the brokers' default "
            f"(got {partitions}, {replication})"
        )
    if cleanup_policy not in (None, "delete", "compact", "compact,delete", "delete,compact"):
        raise TopicError(
            f"topic {name}: cleanup policy {cleanup_policy!r} is not one of delete, compact, compact,delete"
        )
    configs: dict[str, str] = {}
    if retention_ms is not None:
        configs["retention.ms"] = str(retention_ms)
    if cleanup_policy:
        configs["cleanup.policy"] = cleanup_policy
    admin = _admin(kafka)  # must outlive the future: a collected client cancels its requests
    future = admin.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=replication, config=configs)],
        operation_timeout=_TIMEOUT_S,
        request_timeout=_TIMEOUT_S,
    )[name]
    try:
        future.result()
    except KafkaException as exc:
        err = exc.args[0]
        if err.name() == "TOPIC_ALREADY_EXISTS" and exist_ok:
            # Another client may have created it a moment ago, its partitions not yet led: a caller
            # that reads its partitions next would see none (seen with a topic of three replicas).
            _await_leaders(admin, name, None)
            return False
        raise TopicError(f"cannot create topic {name} on {kafka.bootstrap}: {err.str()}") from None
    _await_leaders(admin, name, partitions)
    return True


def delete_topic(kafka: KafkaSettings, name: str) -> bool:
    """Delete ``name`` and wait until the brokers no longer list it; False if it did not exist.
    Raises TopicError otherwise."""
    admin = _admin(kafka)  # must outlive the future, as in create_topic
    future = admin.delete_topics([name], operation_timeout=_TIMEOUT_S, request_timeout=_TIMEOUT_S)[name]
    try:
        future.result()
    except KafkaException as exc:
        err = exc.args[0]
        if err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
            return False
        raise TopicError(f"cannot delete topic {name} on {kafka.bootstrap}: {err.str()}") from None
    # Deletion is acknowledged by the controller before the brokers' metadata drops the topic.
    deadline = time.monotonic() + _TIMEOUT_S
    while name in admin.list_topics(timeout=_TIMEOUT_S).topics and time.monotonic() < deadline:
        time.sleep(0.1)
    return True


def _await_leaders(admin: AdminClient, name: str, partitions: int | None) -> None:
    """Wait until the new topic's partitions (``partitions`` of them; any number, when None) all have
    a leader in the broker's metadata: creation is acknowledged by the controller before brokers know
    the topic, and clients that ask too soon get 'unknown partition'."""
    deadline = time.monotonic() + _TIMEOUT_S
    while time.monotonic() < deadline:
        meta = admin.list_topics(topic=name, timeout=_TIMEOUT_S).topics.get(name)
        found = len(meta.partitions) if meta is not None and meta.error is None else 0
        complete = found == partitions if partitions is not None else found > 0
        if complete and meta is not None and all(p.leader >= 0 and p.error is None for p in meta.partitions.values()):
            return
        time.sleep(0.1)
    raise TopicError(f"topic {name} was created but its partitions have no leader after {_TIMEOUT_S:.0f}s")


def list_topics(kafka: KafkaSettings, *, internal: bool = False) -> list[str]:
    """Topic names, without Kafka's internal ``__*`` topics unless ``internal``."""
    try:
        names = _admin(kafka).list_topics(timeout=_TIMEOUT_S).topics
    except KafkaException as exc:
        raise TopicError(
            f"cannot list topics on {kafka.bootstrap}: {exc.args[0].str()}",
            hint="is the broker running? try `streamwise kafka status`",
        ) from None
    return sorted(n for n in names if internal or not n.startswith("__"))


def partition_count(kafka: KafkaSettings, name: str) -> int:
    """How many partitions ``name`` has (0 if it does not exist)."""
    meta = _admin(kafka).list_topics(topic=name, timeout=_TIMEOUT_S).topics.get(name)
    return len(meta.partitions) if meta is not None and meta.error is None else 0


def describe_topic(kafka: KafkaSettings, name: str) -> TopicInfo:
    """Partitions (leader, replicas, ISR, end offset) and the topic's non-default configs."""
    admin = _admin(kafka)
    try:
        meta = admin.list_topics(topic=name, timeout=_TIMEOUT_S).topics.get(name)
    except KafkaException as exc:
        raise TopicError(f"cannot describe {name}: {exc.args[0].str()}") from None
    if meta is None or meta.error is not None:
        raise TopicError(
            f"topic {name} does not exist on {kafka.bootstrap}",
            hint="see `streamwise topics list`, or create it with `streamwise topics create`",
        )
    ends = end_offsets(kafka, name, sorted(meta.partitions))
    partitions = [
        PartitionInfo(p.id, p.leader, list(p.replicas), list(p.isrs), ends[p.id])
        for p in sorted(meta.partitions.values(), key=lambda p: p.id)
    ]
    resource = ConfigResource(ConfigResource.Type.TOPIC, name)
    entries = admin.describe_configs([resource], request_timeout=_TIMEOUT_S)[resource].result()
    configs = {k: str(v.value) for k, v in entries.items() if not v.is_default}
    for key in ("retention.ms", "cleanup.policy"):
        configs.setdefault(key, str(entries[key].value))
    return TopicInfo(name, partitions, configs)


def end_offsets(kafka: KafkaSettings, topic: str, partitions: list[int]) -> dict[int, int]:
    """The log end offset (next offset to be written) of each partition."""
    consumer = Consumer(kafka.client_config(**QUIET, **{"group.id": "streamwise-offsets", "enable.auto.commit": False}))
    try:
        return {p: _log_end(consumer, TopicPartition(topic, p)) for p in partitions}
    finally:
        consumer.close()


def _log_end(consumer: Consumer, partition: TopicPartition) -> int:
    """The high watermark, retrying errors Kafka marks retriable and a leader that is not serving (a
    broker just restarted may still be taking leadership of its partitions, and a cluster moves
    leaders back to a node that rejoined: NOT_LEADER_FOR_PARTITION for a moment, which librdkafka
    does not flag retriable here)."""
    deadline = time.monotonic() + _RETRY_S
    while True:
        try:
            return int(consumer.get_watermark_offsets(partition, timeout=_TIMEOUT_S)[1])
        except KafkaException as exc:
            err = exc.args[0]
            if not (err.retriable() or err.code() in _NOT_READY) or time.monotonic() > deadline:
                raise TopicError(
                    f"cannot read the end offset of {partition.topic}[{partition.partition}]: {err.str()}"
                ) from None
            time.sleep(0.2)


def read_to_end(
    kafka: KafkaSettings, topic: str, *, committed: bool = True, tail: int | None = None, timeout_s: float = 30.0
) -> list[Message]:
    """Every record of ``topic`` up to its end now, all partitions, in offset order per partition;
    with ``tail``, only the last ``tail`` offsets of each partition. ``committed`` reads with
    ``isolation.level=read_committed`` (records of aborted or open transactions are never seen). An
    absent topic holds nothing, and is not created. The end is reached by position, not by count:
    transaction markers and compacted-away records take offsets too. A TopicError when Kafka
    cannot be read, or the end is not reached within ``timeout_s`` (a transaction still open)."""
    consumer = Consumer(
        kafka.client_config(
            **QUIET,
            **{
                "group.id": f"streamwise-reader-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
                "isolation.level": "read_committed" if committed else "read_uncommitted",
                "fetch.wait.max.ms": 50,  # reading to an end: don't let the broker hold a fetch for more data
            },
        )
    )
    try:
        # All topics' metadata, not this one's: asking for one topic by name can create it.
        meta = consumer.list_topics(timeout=_TIMEOUT_S).topics.get(topic)
        if meta is None or meta.error is not None or not meta.partitions:
            return []
        deadline = time.monotonic() + timeout_s
        marks = {p: _watermarks(consumer, TopicPartition(topic, p), deadline) for p in sorted(meta.partitions)}
        start = {p: max(low, high - tail) if tail is not None else low for p, (low, high) in marks.items()}
        todo = {p for p, (_, high) in marks.items() if high > start[p]}
        consumer.assign([TopicPartition(topic, p, start[p]) for p in sorted(todo)])
        records: list[Message] = []
        while todo:
            records += [msg for msg in consumer.consume(500, timeout=0.2) if msg.error() is None]
            positions = consumer.position([TopicPartition(topic, p) for p in todo])
            todo -= {tp.partition for tp in positions if tp.offset >= marks[tp.partition][1]}
            if todo and time.monotonic() > deadline:
                raise TopicError(
                    f"{topic}: the records up to its end offsets were not all readable in {timeout_s:.0f}s",
                    hint="a transaction may still be open; let its producer finish or stop it",
                )
        return records
    except KafkaException as exc:
        raise TopicError(
            f"cannot read topic {topic} on {kafka.bootstrap}: {exc.args[0].str()}",
            hint="is Kafka running? try `streamwise kafka status`",
        ) from None
    finally:
        consumer.close()


def _watermarks(consumer: Consumer, partition: TopicPartition, deadline: float) -> tuple[int, int]:
    """The partition's low and high offsets. A topic created a moment ago can have a leader in the
    metadata that does not serve it yet (a loaded machine): that is retried until ``deadline``."""
    while True:
        try:
            low, high = consumer.get_watermark_offsets(partition, timeout=max(1.0, deadline - time.monotonic()))
            return low, high
        except KafkaException as exc:
            if exc.args[0].code() not in _NOT_READY or time.monotonic() >= deadline:
                raise
            time.sleep(0.2)
