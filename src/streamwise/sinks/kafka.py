"""Kafka sinks (``kafka``, ``kafka_alerts``): each batch's rows as JSON records, in one Kafka
transaction with the batch marker.

The marker is Kafka's own exactly-once mechanism, as in consume-transform-produce: inside the
transaction the producer commits an offset for the group ``streamwise.sink.<query>`` (partition 0
of the topic) whose value is the next batch id. Records and marker become visible together to
``isolation.level=read_committed`` consumers, or not at all; a replayed batch finds the marker
past its id and writes nothing. ``transactional.id`` is derived from the query name, so a restarted
driver fences the old one and aborts its open transaction.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from streamwise.config import QUIET, KafkaSettings
from streamwise.platform.exceptions import TopicError
from streamwise.platform.topics import COORDINATOR_BUSY, create_topic
from streamwise.sinks._batch import Batch, RowSinkWriter, as_text, to_json
from streamwise.sinks.config import TopicSink
from streamwise.sinks.exceptions import SinkDataError

log = logging.getLogger(__name__)

_BUFFER_FULL_WAIT_S = 1.0
_BUFFER_FULL_TRIES = 60

# A record header as Producer.produce takes it (a list of them is invariant, so the value type is the producer's).
Header = tuple[str, str | bytes | None]


@dataclass(frozen=True)
class Record:
    """One record to produce inside a batch's transaction."""

    topic: str
    key: bytes | None
    value: bytes
    headers: list[Header]


def batch_headers(query: str, batch_id: int) -> list[Header]:
    """Headers naming the query and batch a record came from (for audits such as ``verify``)."""
    return [("streamwise.query", query.encode()), ("streamwise.batch_id", str(batch_id).encode())]


class TransactionalLedger:
    """A transactional producer for one query, and its batch marker kept as a committed group offset."""

    def __init__(
        self,
        kafka: KafkaSettings,
        query: str,
        marker_topic: str,
        *,
        timeout_s: float,
        transaction_timeout_s: float | None = None,
    ) -> None:
        self.kafka = kafka
        self.marker_topic = marker_topic
        self.transactional_id = f"streamwise-{query}"
        self.group = f"streamwise.sink.{query}"
        self.timeout_s = timeout_s
        # How long the broker keeps a transaction open before aborting it itself.
        self.transaction_timeout_s = transaction_timeout_s or max(60.0, 2 * timeout_s)
        self._producer: Producer | None = None
        self._consumer: Consumer | None = None
        self._next_batch: int | None = None  # cached: only this producer can move it while it is not fenced

    def next_batch(self) -> int:
        """The first batch id not yet committed (0 for a new query)."""
        self._ready()
        if self._next_batch is None:
            self._next_batch = max(self._committed_offset(), 0)  # no commit yet: a negative sentinel
        return self._next_batch

    def commit(self, records: Iterable[Record], batch_id: int) -> None:
        """Produce ``records`` and mark ``batch_id`` committed, atomically."""
        with self.transaction(batch_id) as produce:
            for record in records:
                produce(record)

    @contextmanager
    def transaction(self, batch_id: int) -> Iterator[Callable[[Record], None]]:
        """A transaction open for as long as the block runs: records given to the function it yields
        and the marker of ``batch_id`` commit together when the block ends, or are aborted if it raises
        (whatever the error: records produced from a failing iterator must not commit either)."""
        producer, consumer = self._ready()
        try:
            producer.begin_transaction()
            yield lambda record: self._produce(producer, record)
            marker = TopicPartition(self.marker_topic, 0, batch_id + 1, f"streamwise batch {batch_id}")
            producer.send_offsets_to_transaction([marker], consumer.consumer_group_metadata(), self.timeout_s)
            producer.commit_transaction(self.timeout_s)
        except BaseException as exc:
            self._recover(exc)
            raise
        self._next_batch = batch_id + 1

    def _committed_offset(self) -> int:
        assert self._consumer is not None
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                return self._consumer.committed([TopicPartition(self.marker_topic, 0)], timeout=self.timeout_s)[
                    0
                ].offset
            except KafkaException as exc:
                # The group coordinator moves or loads (e.g. __consumer_offsets is being created on a
                # new broker): librdkafka reports it at once rather than waiting, so wait here.
                if exc.args[0].code() not in COORDINATOR_BUSY or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
        self._producer = self._consumer = None
        self._next_batch = None

    def _ready(self) -> tuple[Producer, Consumer]:
        if self._producer is None:
            producer = Producer(
                self.kafka.client_config(
                    **QUIET,
                    **{
                        "transactional.id": self.transactional_id,
                        "enable.idempotence": True,
                        "acks": "all",
                        "transaction.timeout.ms": int(self.transaction_timeout_s * 1000),
                        "linger.ms": 5,
                    },
                )
            )
            # Fences an older producer with this id (a previous driver) and aborts its open transaction,
            # so the marker read next is final.
            producer.init_transactions(self.timeout_s)
            self._producer, self._next_batch = producer, None
        if self._consumer is None:
            self._consumer = Consumer(
                self.kafka.client_config(
                    **QUIET,
                    **{
                        "group.id": self.group,
                        "enable.auto.commit": False,
                        # librdkafka then asks for stable offsets: a marker in an open transaction is waited for.
                        "isolation.level": "read_committed",
                    },
                )
            )
        return self._producer, self._consumer

    def _produce(self, producer: Producer, record: Record) -> None:
        for _ in range(_BUFFER_FULL_TRIES):
            try:
                producer.produce(record.topic, record.value, record.key, headers=record.headers)
                return
            except BufferError:
                producer.poll(_BUFFER_FULL_WAIT_S)  # the local queue is full: let it drain
        raise BufferError(f"producer queue stayed full for {_BUFFER_FULL_TRIES * _BUFFER_FULL_WAIT_S:.0f}s")

    def _recover(self, exc: BaseException) -> None:
        """Abort the open transaction; a fatal error (fenced, or abort impossible) drops the producer."""
        error = exc.args[0] if isinstance(exc, KafkaException) and exc.args else None
        self._next_batch = None
        if error is not None and error.fatal():
            log.warning(
                "transactional producer %s hit a fatal error (%s); re-creating it", self.transactional_id, error
            )
            self._producer = None
            return
        try:
            if self._producer is not None:
                self._producer.abort_transaction(self.timeout_s)
        except KafkaException:
            self._producer = None  # the next attempt starts over with init_transactions


class TopicWriter(RowSinkWriter):
    """Writes micro-batches to ``sink.topic``, exactly once for read_committed readers."""

    retriable = (KafkaException, BufferError, TopicError)

    def __init__(self, sink: TopicSink, kafka: KafkaSettings, query: str) -> None:
        self.sink_type = sink.type
        super().__init__(query, sink.retry)
        self.sink = sink
        self.kafka = kafka
        self.ledger = TransactionalLedger(kafka, query, sink.topic, timeout_s=sink.timeout_s)
        self._topic_ready = False

    def write(self, batch: Batch) -> bool:
        if not self._topic_ready:
            create_topic(self.kafka, self.sink.topic, partitions=self.sink.partitions, exist_ok=True)
            self._topic_ready = True
        if self.sink.key and self.sink.key not in batch.columns:
            raise SinkDataError(
                f"{self.sink_type} sink {self.sink.topic}: no key column {self.sink.key!r} in {batch.columns}"
            )
        if batch.batch_id < self.ledger.next_batch():
            return False
        headers = batch_headers(batch.query, batch.batch_id)
        key = self.sink.key
        started, produced = time.monotonic(), 0
        # The rows stream from Spark straight into the open transaction: the driver never holds the batch.
        with self.ledger.transaction(batch.batch_id) as produce:
            for row in batch.rows:
                produce(
                    Record(
                        self.sink.topic,
                        as_text(row[key]).encode() if key and row[key] is not None else None,
                        to_json(row).encode(),
                        headers,
                    )
                )
                produced += 1
        log.debug(
            "%s %s: batch %d, %d records in %.2fs",
            self.sink_type,
            self.sink.topic,
            batch.batch_id,
            produced,
            time.monotonic() - started,
        )
        return True
