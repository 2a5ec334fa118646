"""Webhook sink: HTTP POST of each row (or each batch) as JSON, with retries and backoff.

A request that still fails after its retries, or that the receiver rejects outright (a 4xx other
than 408/429), goes to the dead-letter topic ``<name>.dlq`` with the reason: never lost silently.
A receiver that cannot be reached at all is a sink that is down: the batch fails (Spark replays it).

Each request carries an ``Idempotency-Key`` derived from (query, batch id, payload), the same on
every replay, so a receiver that honours it sees each notification once even if a batch is cut off
half way. Dead letters and the batch marker commit in one Kafka transaction (see
:mod:`streamwise.sinks.dead_letters`, which the PostgreSQL and Redis sinks share), so a finished batch
is never posted again. In row mode the rows stream from Spark; batch mode posts them in one request.

The URL and the credential headers are secrets: what streamwise logs, raises or dead-letters shows the
URL redacted (:class:`Redactor`). Every connection resolves the host itself and refuses private,
loopback, link-local and unspecified addresses unless the sink allows them (:class:`GuardedBackend`).
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import socket
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import httpcore
import httpx

from streamwise.config import KafkaSettings
from streamwise.sinks._batch import Batch, RowSinkWriter, to_json
from streamwise.sinks._retry import RetryPolicy, call_with_retries
from streamwise.sinks.config import WebhookSink, address_kind, refused_target_message
from streamwise.sinks.dead_letters import KAFKA_ERRORS, DeadLetterTopic
from streamwise.sinks.exceptions import SinkDataError, SinkUnavailableError
from streamwise.sinks.kafka import Record

log = logging.getLogger(__name__)
T = TypeVar("T")

# Statuses that say "try again later", not "this request is wrong".
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
LEDGER_RETRY = RetryPolicy()


class RetriableStatus(Exception):
    """The receiver answered with a status worth retrying."""


class TargetRefusedError(SinkDataError):
    """A webhook's host resolved to an address its sink's config does not allow (private, loopback,
    link-local, unspecified): the batch fails, as retrying cannot help."""


class Redactor:
    """Takes a webhook's secrets (URL parts, credential headers) out of any text before it is logged,
    raised or dead-lettered."""

    def __init__(self, sink: WebhookSink) -> None:
        self.url = str(sink.url)
        self.redacted = sink.redacted_url
        self.secrets = sink.secrets()

    def __call__(self, text: str) -> str:
        text = text.replace(self.url, self.redacted)
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


class GuardedBackend(httpcore.SyncBackend):
    """httpcore's network backend, resolving each host itself before connecting: every address the
    name resolves to must be allowed by the sink (:func:`check_target`), and the connection goes to
    the address checked, so a DNS answer that changes between check and connect (rebinding) cannot
    slip a private address in. TLS still verifies the URL's host name (httpcore passes it as SNI)."""

    def __init__(self, sink: WebhookSink) -> None:
        self.sink = sink

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        address = check_target(self.sink, host, port)
        return super().connect_tcp(address, port, timeout, local_address, socket_options)


def check_target(sink: WebhookSink, host: str, port: int) -> str:
    """Resolve ``host`` and return the address to connect to; TargetRefusedError when any address it
    resolves to is private, loopback, link-local or unspecified and the sink does not allow it."""
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise httpx.ConnectError(f"cannot resolve the webhook's host: {exc}") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    for text in addresses:
        address = ipaddress.ip_address(text.split("%")[0])
        kind = address_kind(address)
        if kind is not None and not sink.allows(host, address):
            raise TargetRefusedError(
                refused_target_message(sink, host, text, kind),
                hint="if the receiver is yours on purpose, set allow_private: true on the sink or add its "
                "host to allowed_hosts",
            )
    return addresses[0]


def guarded_client(sink: WebhookSink) -> httpx.Client:
    """An httpx client for ``sink``: its headers and timeout, every connection through
    :class:`GuardedBackend`, and no proxy from the environment (a proxy would connect for us,
    past the address check)."""
    transport = httpx.HTTPTransport()
    pool = transport._pool  # httpx does not take a network backend; its pool does, set here
    assert hasattr(pool, "_network_backend"), "httpcore's ConnectionPool changed: no _network_backend"
    pool._network_backend = GuardedBackend(sink)
    return httpx.Client(timeout=sink.timeout_s, headers=sink.headers, transport=transport, trust_env=False)


class _HttpxUrlFilter(logging.Filter):
    """httpx logs each request's full URL at INFO: the webhooks' secrets are taken out of it."""

    redactors: ClassVar[dict[str, Redactor]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if self.redactors and isinstance(record.args, tuple):
            record.args = tuple(self._scrub(arg) for arg in record.args)
        return True

    def _scrub(self, arg: object) -> object:
        if not isinstance(arg, httpx.URL | str):
            return arg
        text = str(arg)
        for redact in self.redactors.values():
            text = redact(text)
        return text


_HTTPX_FILTER = _HttpxUrlFilter()
logging.getLogger("httpx").addFilter(_HTTPX_FILTER)


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
        self.redact = Redactor(sink)
        _HttpxUrlFilter.redactors[str(sink.url)] = self.redact
        self.dead_letters = DeadLetterTopic(kafka, query, sink.dead_letter_topic(query), f"webhook {sink.redacted_url}")
        self.client = guarded_client(sink)

    def write(self, batch: Batch) -> bool:
        if batch.batch_id < self._kafka(self.dead_letters.next_batch):
            return False
        dead: list[Record] = []
        for delivery in deliveries(batch, self.sink.mode):
            reason = self._post(delivery, batch.batch_id)
            if reason is not None:
                log.warning(
                    "webhook %s: batch %d request %s dead-lettered: %s",
                    self.sink.redacted_url,
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
            # The receiver's answer may echo the request (its URL, a header): scrubbed like the rest.
            reason = self.redact(
                f"HTTP {response.status_code} from {self.sink.redacted_url}: {response.text.strip()[:300]}"
            )
            if response.status_code in RETRY_STATUSES:
                raise RetriableStatus(reason)
            return reason  # the receiver says this request is wrong: retrying cannot help

        what = f"webhook {self.sink.redacted_url} (query {self.query!r}, batch {batch_id})"
        try:
            return call_with_retries(
                once,
                self.retry,
                retriable=(httpx.TransportError, RetriableStatus),
                what=what,
                on_retry=lambda n, exc, d: self._retrying(what, n, _scrubbed(exc, self.redact), d),
            )
        except SinkUnavailableError as exc:
            if isinstance(exc.__cause__, RetriableStatus):
                return f"{exc.__cause__} (after {self.retry.attempts} attempts)"
            # unreachable receiver: fail the batch; nothing is marked, the replay posts again
            raise SinkUnavailableError(self.redact(exc.message), hint=exc.hint) from None


class WebhookRetryError(Exception):
    """A retried error's type and text once its secrets are taken out (what the retry log and the
    sink's status show)."""


def _scrubbed(exc: BaseException, redact: Redactor) -> WebhookRetryError:
    return WebhookRetryError(redact(f"{type(exc).__name__}: {exc}"))
