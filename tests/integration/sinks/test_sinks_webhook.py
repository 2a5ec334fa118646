"""Webhook sink against a real HTTP receiver in a thread: retries through failing first calls, rejected
rows in the dead-letter topic with their reason, an unreachable receiver failing the batch, and
replays that post nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sink_helpers import (
    Receiver,
    dead_letters,
    events_stream,
    forget_last_commit,
    make_events,
    read_topic,
    run_available_now,
)

from streamwise.platform.ports import free_port
from streamwise.sinks import RetryPolicy, SinkUnavailableError, WebhookSink, sink_writer

FAST = RetryPolicy(attempts=4, initial_backoff_s=0.05, max_backoff_s=0.2, jitter=0)


def test_receiver_failing_first_calls_gets_each_row_once_and_rejects_go_to_the_dlq(
    spark, sink_settings, broker, fill_topic, topic_name: str, tmp_path: Path
) -> None:
    """Setup: a receiver that answers 503 to its first 3 calls, 422 to every row of page /g (1 event)
    and 503 forever to seq 7; 40 events, 10 per micro-batch, one POST per row, 4 attempts each; then
    the last commit is removed from the checkpoint and the query restarted (batch 3 replayed).
    Invariant: the receiver accepted exactly the other 38 rows, each once (no Idempotency-Key twice),
    in 40 + 3 + 3 calls; the dead-letter topic holds exactly the /g row (HTTP 422) and seq 7 (HTTP 503
    after 4 attempts), once each; the replay posts nothing."""
    events = make_events(40)
    fill_topic(topic_name, events)
    poison = {e["seq"] for e in events if e["page"] == "/g"} | {7}
    query = f"{topic_name}_webhook_0"
    checkpoint = tmp_path / "checkpoint"

    def status_for(row: dict[str, Any]) -> int | None:
        return 422 if row["page"] == "/g" else 503 if row["seq"] == 7 else None

    with Receiver(free_port(), fail_first=3, status_for=status_for) as receiver:
        sink = WebhookSink(type="webhook", url=receiver.url, retry=FAST, allow_private=True)
        df = events_stream(spark, sink_settings, topic_name, per_batch=10).select("seq", "user_id", "page")
        run_available_now(df, sink_writer(sink, sink_settings, query), checkpoint, query)
        calls = receiver.calls
        assert forget_last_commit(checkpoint) == 3
        replay = sink_writer(sink, sink_settings, query)
        run_available_now(df, replay, checkpoint, query)
        assert (replay.status.batches_written, replay.status.batches_skipped, receiver.calls) == (0, 1, calls)

    expected = [{"seq": e["seq"], "user_id": e["user_id"], "page": e["page"]} for e in events if e["seq"] not in poison]
    assert sorted(receiver.accepted.values(), key=lambda r: r["seq"]) == expected
    assert (len(expected), receiver.repeats, calls) == (38, 0, 40 + 3 + (FAST.attempts - 1))
    dead = sorted(dead_letters(sink_settings, f"{query}.dlq"), key=lambda d: d[0]["seq"])
    assert [(row["seq"], int(h["dlq.batch_id"]), h["dlq.reason"].split(" from ")[0]) for row, h in dead] == [
        (7, 0, "HTTP 503"),
        *[(s, s // 10, "HTTP 422") for s in sorted(poison - {7})],
    ]
    shown = f"http://127.0.0.1:{receiver.port}/***"  # the URL redacted: its path may hold a token
    assert all(h["dlq.query"] == query and h["dlq.sink"] == f"webhook {shown}" for _, h in dead)
    assert all(shown in h["dlq.reason"] and receiver.url not in h["dlq.reason"] for _, h in dead)
    assert "after 4 attempts" in next(h["dlq.reason"] for row, h in dead if row["seq"] == 7)


def test_unreachable_receiver_fails_the_batch_and_the_retry_delivers_once(
    spark, sink_settings, broker, topic_name: str
) -> None:
    """Setup: a webhook sink on a loopback port where nothing listens; batch 0 (2 rows) is written; then
    a receiver starts on that port and batch 0 is written again (Spark's replay), then once more.
    Invariant: the first write raises SinkUnavailableError after its 4 attempts and dead-letters
    nothing; the replay delivers both rows once; the third write is skipped and posts nothing."""
    port = free_port()
    sink = WebhookSink(type="webhook", url=f"http://127.0.0.1:{port}/hook", retry=FAST, allow_private=True)
    query = f"{topic_name}_webhook"
    writer = sink_writer(sink, sink_settings, query)
    batch = spark.createDataFrame([("u1", 1), ("u2", 2)], "user_id STRING, n INT")
    with pytest.raises(SinkUnavailableError, match="still failing after 4 attempts"):
        writer(batch, 0)
    assert writer.status.retries == 3 and not writer.status.healthy

    with Receiver(port) as receiver:
        writer(batch, 0)
        writer(batch, 0)
    assert sorted(receiver.accepted.values(), key=lambda r: r["n"]) == [
        {"user_id": "u1", "n": 1},
        {"user_id": "u2", "n": 2},
    ]
    assert (receiver.calls, receiver.repeats) == (2, 0)
    assert (writer.status.batches_written, writer.status.batches_skipped, writer.status.healthy) == (1, 1, True)
    assert read_topic(sink_settings, f"{query}.dlq") == []
