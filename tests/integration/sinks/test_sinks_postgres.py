"""PostgreSQL sink on the real broker, Spark and PostgreSQL: exact upserts, replays that write nothing,
and a PostgreSQL outage in the middle of a run that ends with exact contents."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sink_helpers import T0_MS, events_stream, forget_last_commit, make_events, run_available_now

from streamwise.platform.services import PostgresServer
from streamwise.sinks import PostgresSink, RetryPolicy, SinkUnavailableError, sink_writer

COLUMNS = "user_id, seq, amount, page, event_time"


def latest_per_user(events: list[dict[str, Any]]) -> list[tuple]:
    """Independent expectation: each user's highest-seq event, as the table row it becomes."""
    latest: dict[str, dict[str, Any]] = {}
    for event in events:
        if event["user_id"] not in latest or event["seq"] > latest[event["user_id"]]["seq"]:
            latest[event["user_id"]] = event
    return [
        (e["user_id"], e["seq"], e["amount"], e["page"], datetime.fromtimestamp(e["event_time"] / 1000, UTC))
        for _, e in sorted(latest.items())
    ]


def table_rows(postgres: PostgresServer, table: str) -> list[tuple]:
    with postgres.connect() as conn:
        return conn.execute(f"SELECT {COLUMNS} FROM {table} ORDER BY user_id").fetchall()


def markers(postgres: PostgresServer, query: str) -> list[tuple[int, int]]:
    with postgres.connect() as conn:
        return conn.execute(
            "SELECT batch_id, rows FROM streamwise_sink_batches WHERE query = %s ORDER BY batch_id", (query,)
        ).fetchall()


def test_streaming_upsert_is_exact_and_a_replayed_batch_writes_nothing(
    spark, sink_settings, postgres, fill_topic, topic_name: str, tmp_path: Path
) -> None:
    """Setup: 40 events of 5 users in a one-partition topic, read 8 per micro-batch (batches 0-4) with
    availableNow into a sink keyed by user_id with order_by seq. Then the checkpoint's last commit is
    deleted (the driver "died" after the write) and the query restarted, so Spark replays batch 4.
    Invariant: the table holds exactly each user's highest-seq event; the marker table holds batches
    0-4 once each with 8 rows; the replayed batch is skipped and changes nothing."""
    events = make_events(40)
    fill_topic(topic_name, events)
    sink = PostgresSink(type="postgres", table=topic_name, key=["user_id"], order_by="seq")
    query, checkpoint = f"{topic_name}_postgres_0", tmp_path / "checkpoint"
    df = events_stream(spark, sink_settings, topic_name, per_batch=8)

    run_available_now(df, sink_writer(sink, sink_settings, query), checkpoint, query)
    assert table_rows(postgres, topic_name) == latest_per_user(events)
    assert markers(postgres, query) == [(b, 8) for b in range(5)]

    assert forget_last_commit(checkpoint) == 4
    replay = sink_writer(sink, sink_settings, query)  # a new driver: a new writer
    run_available_now(df, replay, checkpoint, query)
    assert (replay.status.batches_written, replay.status.batches_skipped, replay.status.last_batch) == (0, 1, 4)
    assert table_rows(postgres, topic_name) == latest_per_user(events)
    assert markers(postgres, query) == [(b, 8) for b in range(5)]


def test_same_batch_id_twice_writes_once_and_older_rows_never_win(
    spark, sink_settings, postgres, topic_name: str
) -> None:
    """Setup: the writer called directly: batch 0 = {u1 seq 5, u2 seq 1}; batch 0 again with other
    values; batch 1 = {u1 seq 3 (older), u2 seq 9}.
    Invariant: the repeat of batch 0 is skipped (its values never appear); in batch 1 the older u1 row
    does not replace the newer one while u2 is updated; markers are exactly batches 0 and 1."""
    schema = "user_id STRING, seq BIGINT, amount DOUBLE, page STRING, event_time TIMESTAMP"
    t = datetime.fromtimestamp(T0_MS / 1000, UTC)
    sink = PostgresSink(type="postgres", table=topic_name, key=["user_id"], order_by="seq")
    query = f"{topic_name}_direct"
    writer = sink_writer(sink, sink_settings, query)

    writer(spark.createDataFrame([("u1", 5, 1.0, "/a", t), ("u2", 1, 2.0, "/b", t)], schema), 0)
    writer(spark.createDataFrame([("u1", 50, 99.0, "/x", t), ("u3", 1, 9.0, "/x", t)], schema), 0)
    assert table_rows(postgres, topic_name) == [("u1", 5, 1.0, "/a", t), ("u2", 1, 2.0, "/b", t)]

    writer(spark.createDataFrame([("u1", 3, 7.0, "/old", t), ("u2", 9, 3.0, "/c", t)], schema), 1)
    assert table_rows(postgres, topic_name) == [("u1", 5, 1.0, "/a", t), ("u2", 9, 3.0, "/c", t)]
    assert markers(postgres, query) == [(0, 2), (1, 2)]
    assert (writer.status.batches_written, writer.status.batches_skipped) == (2, 1)


def _stop_postgres_during_run(
    postgres: PostgresServer, query: str, *, after_batches: int, outage_s: float | None, errors: list[BaseException]
) -> threading.Thread:
    """A thread that stops PostgreSQL once ``after_batches`` markers exist, and (unless ``outage_s`` is
    None) starts it again ``outage_s`` later."""

    def outage() -> None:
        try:
            deadline = time.monotonic() + 120
            while len(markers(postgres, query)) < after_batches:
                assert time.monotonic() < deadline, "the query never reached the outage point"
                time.sleep(0.1)
            postgres.stop()
            if outage_s is not None:
                time.sleep(outage_s)
                postgres.start()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=outage, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("outage_s", [6, pytest.param(20, marks=pytest.mark.slow)])
def test_postgres_outage_mid_run_is_ridden_out_with_exact_contents(
    spark, sink_settings, postgres, fill_topic, topic_name: str, tmp_path: Path, outage_s: float
) -> None:
    """Setup: 40 events, 4 per micro-batch (batches 0-9), slowed to ~0.3 s per batch; after 2 batches
    PostgreSQL is stopped for ``outage_s`` seconds, then started again. The sink's retry budget
    (backoff capped at 1 s) outlasts the outage.
    Invariant: the query finishes on its own; the writer reported retries; the table is exactly each
    user's latest event and the markers are batches 0-9 once each with 4 rows."""
    events = make_events(40)
    fill_topic(topic_name, events)
    retry = RetryPolicy(attempts=int(outage_s * 2) + 15, initial_backoff_s=0.2, multiplier=1.5, max_backoff_s=1.0)
    assert retry.worst_case_s > outage_s + 5
    sink = PostgresSink(type="postgres", table=topic_name, key=["user_id"], order_by="seq", retry=retry)
    query = f"{topic_name}_postgres_0"
    writer = sink_writer(sink, sink_settings, query)

    def slow_writer(df: Any, batch_id: int) -> None:
        time.sleep(0.3)  # so that the outage begins while batches remain
        writer(df, batch_id)

    errors: list[BaseException] = []
    outage = _stop_postgres_during_run(postgres, query, after_batches=2, outage_s=outage_s, errors=errors)
    run_available_now(
        events_stream(spark, sink_settings, topic_name, per_batch=4), slow_writer, tmp_path / "checkpoint", query
    )
    outage.join(timeout=60)
    assert not errors and not outage.is_alive()
    assert writer.status.retries >= 1 and writer.status.healthy
    assert table_rows(postgres, topic_name) == latest_per_user(events)
    assert markers(postgres, query) == [(b, 4) for b in range(10)]


def test_postgres_outage_beyond_retries_fails_the_batch_and_a_restart_catches_up_exactly(
    spark, sink_settings, postgres, fill_topic, topic_name: str, tmp_path: Path
) -> None:
    """Setup: as above, but with a retry budget of ~0.3 s: PostgreSQL is stopped after 2 batches, the
    next batch exhausts its retries and the query fails. PostgreSQL is started and the query restarted
    on the same checkpoint with a new writer.
    Invariant: the failure is a SinkUnavailableError naming the sink; after the restart the table is
    exactly each user's latest event and the markers are batches 0-9 once each with 4 rows."""
    from pyspark.errors import StreamingQueryException

    events = make_events(40)
    fill_topic(topic_name, events)
    sink = PostgresSink(
        type="postgres",
        table=topic_name,
        key=["user_id"],
        order_by="seq",
        retry=RetryPolicy(attempts=2, initial_backoff_s=0.3, jitter=0),
    )
    query, checkpoint = f"{topic_name}_postgres_0", tmp_path / "checkpoint"
    writer = sink_writer(sink, sink_settings, query)

    def slow_writer(df: Any, batch_id: int) -> None:
        time.sleep(0.3)
        writer(df, batch_id)

    errors: list[BaseException] = []
    outage = _stop_postgres_during_run(postgres, query, after_batches=2, outage_s=None, errors=errors)
    try:
        with pytest.raises(StreamingQueryException, match=f"postgres sink {query!r}, batch 2: still failing"):
            run_available_now(
                events_stream(spark, sink_settings, topic_name, per_batch=4), slow_writer, checkpoint, query
            )
    finally:
        outage.join(timeout=60)
        postgres.start()
    assert not errors
    assert isinstance(writer.status.last_error, str) and SinkUnavailableError.__name__ in writer.status.last_error

    restarted = sink_writer(sink, sink_settings, query)
    run_available_now(events_stream(spark, sink_settings, topic_name, per_batch=4), restarted, checkpoint, query)
    assert table_rows(postgres, topic_name) == latest_per_user(events)
    assert markers(postgres, query) == [(b, 4) for b in range(10)]
