"""Webhook sink: HTTP POST of each row (or each batch) as JSON, with retries and backoff.

A request that still fails after its retries, or that the receiver rejects outright (a 4xx other
than 408/429), goes to the dead-letter topic ``<name>.dlq`` with the reason: never lost silently.
A receiver that cannot be reached at all is a sink that is down: the batch fails (Spark replays it).

Each request carries an ``Idempotency-Key`` derived from (query, batch id, payload), the same on
every replay, so a receiver that honours it sees each notification once even if a batch is cut off
half way. Dead letters and the batch marker commit in one Kafka transaction (see
:mod:`streamwise.sinks.dead_letters`, which the PostgreSQL and Redis sinks share), so a finished batch
is never posted again. In row mode the rows stream from Spark; batch mode posts them in one request.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from streamwise.config import KafkaSettings
from streamwise.sinks._batch import Batch, RowSinkWriter, to_json
from streamwise.sinks._retry import RetryPolicy, call_with_retries
from streamwise.sinks.config import WebhookSink
from streamwise.sinks.dead_letters import KAFKA_ERRORS, DeadLetterTopic
from streamwise.sinks.exceptions import SinkUnavailableError
from streamwise.sinks.kafka import Record

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


def deliveries(batch: Batch, mode: str) -> Iterator[Delivery]:
    """The batch's requests, each keyed by a hash of (query, batch, payload, repeat number)."""
    seen: Counter[bytes] = Counter()  # by the body's digest: a repeat count per distinct row, not the rows
    if mode == "row":
        groups: Iterator[list[dict[str, Any]]] = ([row] for row in batch.rows)
    else:
        whole = list(batch.rows)
        groups = iter([whole] if whole else [])
    for rows in groups:
        payload = rows[0] if mode == "row" else rows
        body = to_json(payload)
        body_digest = hashlib.sha256(body.encode()).digest()
        seen[body_digest] += 1  # identical rows in one batch are separate notifications
        digest = hashlib.sha256(
            f"{batch.query}\x00{batch.batch_id}\x00{body}\x00{seen[body_digest]}".encode()
        ).hexdigest()
        yield Delivery(digest[:32], payload, rows)


class WebhookWriter(RowSinkWriter):
    """POSTs micro-batches of one query to ``sink.url``; dead letters to ``<name>.dlq``."""

    sink_type = "webhook"
    retriable = ()  # retries happen per request and per ledger step, not for the whole batch

    def __init__(self, sink: WebhookSink, kafka: KafkaSettings, query: str) -> None:
        super().__init__(query, sink.retry)
        self.sink = sink
        self.kafka = kafka
        self.dead_letters = DeadLetterTopic(kafka, query, sink.dead_letter_topic(query), f"webhook {sink.url}")
        self.client = httpx.Client(timeout=sink.timeout_s, headers=sink.headers)

    def write(self, batch: Batch) -> bool:
        if batch.batch_id < self._kafka(self.dead_letters.next_batch):
            return False
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
                dead += [
                    self.dead_letters.record(
                        row,
                        reason,
                        batch.batch_id,
                        key=delivery.key.encode(),
                        headers=[("dlq.idempotency_key", delivery.key.encode())],
                    )
                    for row in delivery.rows
                ]
        # The marker commits with no dead letter too: here it is the batch's only marker.
        self._kafka(lambda: self.dead_letters.commit(dead, batch.batch_id))
        return True

    def _kafka(self, fn: Callable[[], T]) -> T:
        # The dead-letter broker is not the receiver: it gets the default patience, not the webhook's.
        topic = self.dead_letters.topic
        return call_with_retries(
            fn,
            LEDGER_RETRY,
            retriable=KAFKA_ERRORS,
            what=f"dead-letter topic {topic} of query {self.query!r}",
            on_retry=lambda n, exc, d: self._retrying(topic, n, exc, d),
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
