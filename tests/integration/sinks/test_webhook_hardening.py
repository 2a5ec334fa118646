"""The webhook sink's refusals and redaction against a real receiver in a thread: a target on a
loopback address refused unless the sink allows it, and a URL token or credential header never in
the logs nor in the dead-letter topic."""

from __future__ import annotations

import logging
import socket

import pytest
from sink_helpers import Receiver, dead_letters

from streamwise.platform.ports import free_port
from streamwise.sinks import RetryPolicy, WebhookSink, sink_writer
from streamwise.sinks.webhook import TargetRefusedError

FAST = RetryPolicy(attempts=2, initial_backoff_s=0.05, max_backoff_s=0.1, jitter=0)
URL_TOKEN = "urltoken-5f3c9a1e77"
HEADER_TOKEN = "headertoken-0b6a0bd3c4"


def test_a_loopback_target_is_refused_and_delivered_to_once_allowed(
    spark, sink_settings, broker, topic_name: str
) -> None:
    """Setup: a receiver on 127.0.0.1; a webhook sink on http://localhost:<port>/hook (a name, so only
    its resolution tells), without and then with allow_private.
    Invariant: without, writing a batch raises TargetRefusedError with the exact message and the
    receiver gets no call; with allow_private, the same batch is delivered (both rows, once each)."""
    port = free_port()
    first = socket.getaddrinfo("localhost", port, type=socket.SOCK_STREAM)[0][4][0]
    batch = spark.createDataFrame([("u1", 1), ("u2", 2)], "user_id STRING, n INT")
    with Receiver(port) as receiver:
        refused = WebhookSink(type="webhook", url=f"http://localhost:{port}/hook", retry=FAST)
        with pytest.raises(TargetRefusedError) as caught:
            sink_writer(refused, sink_settings, f"{topic_name}_refused")(batch, 0)
        assert caught.value.message == (
            f"webhook http://localhost:{port}/***: localhost resolves to {first}, a loopback address; private, "
            "loopback, link-local and unspecified targets are refused unless the sink sets allow_private: true "
            "or lists the host in allowed_hosts"
        )
        assert receiver.calls == 0
        allowed = refused.model_copy(update={"allow_private": True})
        sink_writer(allowed, sink_settings, f"{topic_name}_allowed")(batch, 0)
    assert sorted(receiver.accepted.values(), key=lambda r: r["n"]) == [
        {"user_id": "u1", "n": 1},
        {"user_id": "u2", "n": 2},
    ]


def test_url_tokens_and_credential_headers_stay_out_of_logs_and_dead_letters(
    spark, sink_settings, broker, topic_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Setup: a receiver answering 422 to every row; a webhook sink (allowed on loopback) whose URL
    carries ?token=<secret> and whose Authorization header a bearer token; one batch of 2 rows written
    with every logger at DEBUG (httpx logs each request's URL at INFO).
    Invariant: both rows are dead letters with reason 'HTTP 422 from http://127.0.0.1:<port>/***: no'
    and sink 'webhook http://127.0.0.1:<port>/***'; neither token appears in any log line nor in any
    dead letter's value or headers."""
    port = free_port()
    query = f"{topic_name}_webhook"
    sink = WebhookSink(
        type="webhook",
        url=f"http://127.0.0.1:{port}/hook?token={URL_TOKEN}",
        headers={"Authorization": f"Bearer {HEADER_TOKEN}"},
        retry=FAST,
        allow_private=True,
    )
    batch = spark.createDataFrame([("u1", 1), ("u2", 2)], "user_id STRING, n INT")
    caplog.set_level(logging.DEBUG)
    # The CLI quiets httpx to WARNING when imported (another test may have): this one needs its INFO lines.
    caplog.set_level(logging.DEBUG, logger="httpx")
    with Receiver(port, status_for=lambda _row: 422) as receiver:
        sink_writer(sink, sink_settings, query)(batch, 0)
    assert receiver.calls == 2
    assert any("HTTP Request: POST http://127.0.0.1" in r.getMessage() for r in caplog.records)  # httpx did log
    assert URL_TOKEN not in caplog.text and HEADER_TOKEN not in caplog.text
    dead = dead_letters(sink_settings, f"{query}.dlq")
    shown = f"http://127.0.0.1:{port}/***"
    assert sorted((row["n"], h["dlq.reason"], h["dlq.sink"]) for row, h in dead) == [
        (1, f"HTTP 422 from {shown}: no", f"webhook {shown}"),
        (2, f"HTTP 422 from {shown}: no", f"webhook {shown}"),
    ]
    for row, headers in dead:
        assert all(token not in f"{row}{headers}" for token in (URL_TOKEN, HEADER_TOKEN))
