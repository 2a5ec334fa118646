"""Webhook sink: HTTP POST of each row (or each batch) as JSON, with retries and backoff.

A request that still fails after its retries, or that the receiver rejects outright (a 4xx other
than 408/429), goes to the dead-letter topic ``<name>.dlq`` with the reason: never lost silently.
A receiver that cannot be reached at all is a sink that is down: the batch fails (Spark replays it).

Each request carries an ``Idempotency-Key`` derived from (query, batch id, payload), the same on
every replay, so a receiver that honours it sees each notification once even if a batch is cut off
half way. Dead letters and the batch marker commit in one Kafka transaction (see sinks.kafka), so
a finished batch is never posted again.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from confluent_kafka import KafkaException

from streamwise.config import KafkaSettings
from streamwise.platform.exceptions import TopicError
from streamwise.platform.topics import create_topic
from streamwise.sinks._batch import Batch, RowSinkWriter, to_json
from streamwise.sinks._retry import RetryPolicy, call_with_retries
from streamwise.sinks.config import WebhookSink
from streamwise.sinks.exceptions import SinkUnavailableError
from streamwise.sinks.kafka import Header, Record, TransactionalLedger, batch_headers

log = logging.getLogger(__name__)
T = TypeVar("T")

# Statuses that say "try again later", not "this request is wrong".
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
LEDGER_RETRY = RetryPolicy()


class RetriableStatus(Exception):
    """The receiver answered with a status worth retrying."""


@dataclass(frozen=True)
class Delivery:
    """One POST: its payload (a row or a list of rows) and its idempotency key."""

    key: str
    payload: Any
    rows: list[dict[str, Any]]


def deliveries(batch: Batch, mode: str) -> list[Delivery]:
    """The batch's requests, each keyed by a hash of (query, batch, payload, repeat number)."""
    out: list[Delivery] = []
    seen: Counter[str] = Counter()
    groups = [[row] for row in batch.rows] if mode == "row" else ([batch.rows] if batch.rows else [])
    for rows in groups:
        payload = rows[0] if mode == "row" else rows
        body = to_json(payload)
        seen[body] += 1  # identical rows in one batch are separate notifications
        digest = hashlib.sha256(f"{batch.query}\x00{batch.batch_id}\x00{body}\x00{seen[body]}".encode()).hexdigest()
        out.append(Delivery(digest[:32], payload, rows))
    return out


class WebhookWriter(RowSinkWriter):
    """POSTs micro-batches of one query to ``sink.url``; dead letters to ``<name>.dlq``."""

    sink_type = "webhook"
    retriable = ()  # retries happen per request and per ledger step, not for the whole batch

    def __init__(self, sink: WebhookSink, kafka: KafkaSettings, query: str) -> None:
        super().__init__(query, sink.retry)
        self.sink = sink
        self.kafka = kafka
        self.dlq_topic = sink.dead_letter_topic(query)
        self.ledger = TransactionalLedger(kafka, query, self.dlq_topic, timeout_s=30.0)
        self.client = httpx.Client(timeout=sink.timeout_s, headers=sink.headers)
        self._topic_ready = False

    def write(self, batch: Batch) -> bool:
        if batch.batch_id < self._kafka(self._prepare_ledger):
            return False
        headers = batch_headers(batch.query, batch.batch_id)
        dead: list[Record] = []
        for delivery in deliveries(batch, self.sink.mode):
            reason = self._post(delivery, batch.batch_id)
            if reason is not None:
                log.warning(
                    "webhook %s: batch %d request %s dead-lettered: %s",
                    self.sink.url,
                    batch.batch_id,
                    delivery.key,
                    reason,
                )
                dead += [self._dead_letter(batch, delivery, row, reason, headers) for row in delivery.rows]
        self._kafka(lambda: self.ledger.commit(dead, batch.batch_id))
        return True

    def _prepare_ledger(self) -> int:
        if not self._topic_ready:
            create_topic(self.kafka, self.dlq_topic, partitions=1, exist_ok=True)
            self._topic_ready = True
        return self.ledger.next_batch()

    def _kafka(self, fn: Callable[[], T]) -> T:
        # The dead-letter broker is not the receiver: it gets the default patience, not the webhook's.
        return call_with_retries(
            fn,
            LEDGER_RETRY,
            retriable=(KafkaException, BufferError, TopicError),
            what=f"dead-letter topic {self.dlq_topic} of query {self.query!r}",
            on_retry=lambda n, exc, d: self._retrying(self.dlq_topic, n, exc, d),
        )

    def _post(self, delivery: Delivery, batch_id: int) -> str | None:
        """Deliver with retries; None when accepted, else the reason it goes to the dead-letter topic.

        Raises SinkUnavailableError when the receiver cannot be reached through every retry.
        """
        body = to_json(delivery.payload).encode()
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": delivery.key,
            "X-Streamwise-Query": self.query,
            "X-Streamwise-Batch": str(batch_id),
        }
        url = str(self.sink.url)

        def once() -> str | None:
            response = self.client.post(url, content=body, headers=headers)
            if response.is_success:
                return None
            reason = f"HTTP {response.status_code} from {url}: {response.text.strip()[:300]}"
            if response.status_code in RETRY_STATUSES:
                raise RetriableStatus(reason)
            return reason  # the receiver says this request is wrong: retrying cannot help

        what = f"webhook {url} (query {self.query!r}, batch {batch_id})"
        try:
            return call_with_retries(
                once,
                self.retry,
                retriable=(httpx.TransportError, RetriableStatus),
                what=what,
                on_retry=lambda n, exc, d: self._retrying(what, n, exc, d),
            )
        except SinkUnavailableError as exc:
            if isinstance(exc.__cause__, RetriableStatus):
                return f"{exc.__cause__} (after {self.retry.attempts} attempts)"
            raise  # unreachable receiver: fail the batch; nothing is marked, the replay posts again

    def _dead_letter(
        self, batch: Batch, delivery: Delivery, row: dict[str, Any], reason: str, headers: list[Header]
    ) -> Record:
        value = {
            "query": batch.query,
            "batch_id": batch.batch_id,
            "url": str(self.sink.url),
            "idempotency_key": delivery.key,
            "reason": reason,
            "row": row,
        }
        return Record(
            self.dlq_topic,
            delivery.key.encode(),
            to_json(value).encode(),
            [*headers, ("streamwise.reason", reason[:500].encode())],
        )
