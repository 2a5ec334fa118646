"""Dead letters of the sinks that write rows one by one (PostgreSQL, Redis, webhooks): a row the sink
cannot take goes to the sink's topic ``<name>.dlq`` with the reason, and the rest of its batch is
written. It neither fails the batch on every replay nor disappears.

A dead letter's value is the row as JSON (:func:`to_json`); its headers are ``dlq.reason`` (the name
the pipeline's decoding uses for its own dead letters, so one reader serves both), ``dlq.sink`` (the
sink's type and where it writes), ``dlq.query`` (the writer id) and ``dlq.batch_id``, named in
:mod:`streamwise.platform.dead_letters`, where ``verify`` reads them too.

Exactly once: a batch's dead letters are produced in one Kafka transaction whose marker is the batch
id (:class:`TransactionalLedger`), so a replayed batch finds its marker and produces none again.

A sink with a store of its own (PostgreSQL, Redis) has a second marker, in the store, committed with
its rows. Two commits, so their order decides what a crash between them leaves:

* dead letters first, then the store (the order used here): a crash between leaves the dead letters
  committed and the rows not. The replay writes the rows and, meeting the same bad rows again, finds
  the Kafka marker and produces nothing: no loss, no duplicate. This holds because a row's fate is a
  function of the row and the table: the checks before writing are pure, and PostgreSQL refuses the
  same value again (unless someone changes the table in between).
* the store first would lose the dead letters of that crash: the replay finds the store's marker and
  skips the batch without looking at its rows again.

So the store's transaction stays open while the rows are checked and written, the dead letters are
produced into the Kafka transaction as they are found (never more than one in memory), the Kafka
transaction commits, and the store commits last. A batch without a dead letter never touches Kafka.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from contextlib import ExitStack
from types import TracebackType
from typing import Any

from confluent_kafka import KafkaException

from streamwise.config import KafkaSettings
from streamwise.platform import dead_letters as dlq
from streamwise.platform.exceptions import TopicError
from streamwise.platform.topics import create_topic
from streamwise.sinks._batch import to_json
from streamwise.sinks.kafka import Header, Record, TransactionalLedger

log = logging.getLogger(__name__)

# What a Kafka step of a dead-letter write raises when the broker is slow or away: worth a retry.
KAFKA_ERRORS: tuple[type[BaseException], ...] = (KafkaException, BufferError, TopicError)
REASON_HEADER, SINK_HEADER, QUERY_HEADER, BATCH_HEADER = dlq.REASON, dlq.SINK, dlq.QUERY, dlq.BATCH_ID
# A batch of a row sink can take minutes to write while its dead-letter transaction is open.
_TRANSACTION_TIMEOUT_S = 600.0
_LOGGED_PER_BATCH = 5  # a batch of bad rows logs its first few, then a count


class DeadLetterTopic:
    """One writer's dead-letter topic and its transactional ledger (marker: the batch id)."""

    def __init__(self, kafka: KafkaSettings, query: str, topic: str, sink: str, *, timeout_s: float = 30.0) -> None:
        self.kafka = kafka
        self.query = query
        self.topic = topic
        self.sink = sink  # e.g. "postgres public.page_counts", for the dlq.sink header
        self.ledger = TransactionalLedger(
            kafka, query, topic, timeout_s=timeout_s, transaction_timeout_s=_TRANSACTION_TIMEOUT_S
        )
        self._topic_ready = False

    def next_batch(self) -> int:
        """The first batch whose dead letters are not committed (creating the topic when missing)."""
        if not self._topic_ready:
            create_topic(self.kafka, self.topic, partitions=1, exist_ok=True)
            self._topic_ready = True
        return self.ledger.next_batch()

    def record(
        self,
        row: dict[str, Any],
        reason: str,
        batch_id: int,
        *,
        key: bytes | None = None,
        headers: Iterable[Header] = (),
    ) -> Record:
        """The dead letter of ``row``: the row as JSON, the reason and its origin in headers."""
        return Record(
            self.topic,
            key,
            to_json(row).encode(),
            [
                (REASON_HEADER, reason.encode()),
                (SINK_HEADER, self.sink.encode()),
                (QUERY_HEADER, self.query.encode()),
                (BATCH_HEADER, str(batch_id).encode()),
                *headers,
            ],
        )

    def commit(self, records: Iterable[Record], batch_id: int) -> None:
        """Produce ``records`` and mark ``batch_id`` done, in one transaction (also with no record)."""
        self.next_batch()
        self.ledger.commit(records, batch_id)

    def batch(self, batch_id: int) -> DeadLetters:
        """The dead letters of one batch, produced as they are found (see :class:`DeadLetters`)."""
        return DeadLetters(self, batch_id)


class DeadLetters:
    """A context for one batch: ``add`` a row with its reason; the Kafka transaction begins at the
    first dead letter and commits when the block ends, or is aborted if the block raises.

    If the batch's dead letters were committed before (a replay after a crash between the two
    commits), ``add`` only counts: they are in the topic already.
    """

    def __init__(self, topic: DeadLetterTopic, batch_id: int) -> None:
        self.topic = topic
        self.batch_id = batch_id
        self.count = 0
        self._stack = ExitStack()
        self._produce: Any = None  # the open transaction's produce function, once begun
        self._committed_before = False

    def add(self, row: dict[str, Any], reason: str, *, key: bytes | None = None) -> None:
        self.count += 1
        if self.count <= _LOGGED_PER_BATCH:
            log.warning(
                "%s, batch %d: row dead-lettered to %s: %s", self.topic.sink, self.batch_id, self.topic.topic, reason
            )
        if self._committed_before:
            return
        if self._produce is None:
            if self.batch_id < self.topic.next_batch():
                self._committed_before = True
                log.info("%s, batch %d: its dead letters were committed before", self.topic.sink, self.batch_id)
                return
            self._produce = self._stack.enter_context(self.topic.ledger.transaction(self.batch_id))
        self._produce(self.topic.record(row, reason, self.batch_id, key=key))

    def __enter__(self) -> DeadLetters:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.count > _LOGGED_PER_BATCH:
            log.warning("%s, batch %d: %d rows dead-lettered in all", self.topic.sink, self.batch_id, self.count)
        self._stack.__exit__(exc_type, exc, tb)  # commits the transaction, or aborts it on an error
