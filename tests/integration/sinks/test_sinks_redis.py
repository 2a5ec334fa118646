"""Redis sink on the real broker, Spark and Redis: latest state in hashes, a top-N sorted set from a
streaming aggregation, replays that write nothing, and a Redis restart ridden out by the retries."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sink_helpers import PAGE_COUNTS, events_stream, forget_last_commit, make_events, run_available_now

from streamwise.platform.services import RedisServer
from streamwise.sinks import RedisSink, RetryPolicy, sink_writer
from streamwise.sinks.redis import marker_key


def hashes(redis_server: RedisServer, prefix: str) -> dict[str, dict[str, str]]:
    with redis_server.client() as client:
        return {key: client.hgetall(key) for key in sorted(client.scan_iter(f"{prefix}:*", count=1000))}


def test_hashes_hold_latest_state_and_a_replayed_batch_writes_nothing(
    spark, sink_settings, redis_server, fill_topic, topic_name: str, tmp_path: Path
) -> None:
    """Setup: 40 events of 5 users, 8 per micro-batch (batches 0-4), availableNow into hashes keyed
    '<topic>:{user_id}' with order_by seq; then the checkpoint's last commit is deleted and the query
    restarted, so Spark replays batch 4 against a new writer.
    Invariant: each user's hash is exactly its highest-seq event (values as text); the marker is 4;
    the replay is skipped and leaves every hash as it was."""
    events = make_events(40)
    fill_topic(topic_name, events)
    sink = RedisSink(type="redis", key=f"{topic_name}:{{user_id}}", fields=["seq", "amount", "page"], order_by="seq")
    query, checkpoint = f"{topic_name}_redis_0", tmp_path / "checkpoint"
    df = events_stream(spark, sink_settings, topic_name, per_batch=8)
    latest = {e["user_id"]: e for e in events}  # events are in seq order: the last one per user wins
    expected = {
        f"{topic_name}:{u}": {"seq": str(e["seq"]), "amount": str(e["amount"]), "page": e["page"]}
        for u, e in sorted(latest.items())
    }

    run_available_now(df, sink_writer(sink, sink_settings, query), checkpoint, query)
    assert hashes(redis_server, topic_name) == expected
    with redis_server.client() as client:
        assert client.get(marker_key(query)) == "4"

    assert forget_last_commit(checkpoint) == 4
    replay = sink_writer(sink, sink_settings, query)
    run_available_now(df, replay, checkpoint, query)
    assert (replay.status.batches_written, replay.status.batches_skipped) == (0, 1)
    assert hashes(redis_server, topic_name) == expected


def test_top_n_sorted_set_from_a_streaming_count_is_exact(
    spark, sink_settings, redis_server, fill_topic, topic_name: str, tmp_path: Path
) -> None:
    """Setup: 40 events over 7 pages with distinct counts, 10 per micro-batch; a running count per page
    (update mode) feeds a sorted set '<topic>:top_pages' with top_n 3.
    Invariant: the set is exactly the 3 most viewed pages with their full counts (a Counter over the
    events), whatever the order in which counts grew across batches."""
    from pyspark.sql import functions as F

    events = make_events(40)
    fill_topic(topic_name, events)
    sink = RedisSink(
        type="redis", structure="sorted_set", key=f"{topic_name}:top_pages", member="page", score="views", top_n=3
    )
    query = f"{topic_name}_redis_1"
    counts = (
        events_stream(spark, sink_settings, topic_name, per_batch=10).groupBy("page").agg(F.count("*").alias("views"))
    )
    run_available_now(counts, sink_writer(sink, sink_settings, query), tmp_path / "cp", query, output_mode="update")

    expected = [(page, float(n)) for page, n in Counter(e["page"] for e in events).most_common(3)]
    assert expected == [(p, float(n)) for p, n in list(PAGE_COUNTS.items())[:3]]
    with redis_server.client() as client:
        assert client.zrevrange(f"{topic_name}:top_pages", 0, -1, withscores=True) == expected
        assert client.get(marker_key(query)) == "3"


def test_same_batch_id_twice_writes_once_and_a_redis_restart_is_ridden_out(
    spark, sink_settings, redis_server, topic_name: str
) -> None:
    """Setup: the writer called directly: batch 0 = {u1: a}; batch 0 again = {u1: b, u2: b}. Then Redis
    is stopped, batch 1 = {u2: c} is written from a thread while Redis is down, and Redis is started
    again once the writer has retried twice (same append-only file).
    Invariant: the repeat of batch 0 changes nothing; batch 1 lands once after the restart, with the
    retries reported; batch 0's data survived the restart; the marker is 1."""
    schema = "user_id STRING, page STRING"
    sink = RedisSink(
        type="redis",
        key=f"{topic_name}:{{user_id}}",
        retry=RetryPolicy(attempts=30, initial_backoff_s=0.1, max_backoff_s=0.5),
    )
    query = f"{topic_name}_direct"
    writer = sink_writer(sink, sink_settings, query)
    writer(spark.createDataFrame([("u1", "a")], schema), 0)
    writer(spark.createDataFrame([("u1", "b"), ("u2", "b")], schema), 0)
    assert hashes(redis_server, topic_name) == {f"{topic_name}:u1": {"user_id": "u1", "page": "a"}}

    batch_1 = spark.createDataFrame([("u2", "c")], schema)
    redis_server.stop()
    errors: list[BaseException] = []

    def write() -> Any:
        try:
            writer(batch_1, 1)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=write, daemon=True)
    try:
        thread.start()
        deadline = time.monotonic() + 60
        while writer.status.retries < 2 and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert thread.is_alive() and writer.status.retries >= 2 and not writer.status.healthy
    finally:
        redis_server.start()
    thread.join(timeout=30)
    assert not errors and not thread.is_alive()
    assert writer.status.healthy and (writer.status.batches_written, writer.status.batches_skipped) == (2, 1)
    assert hashes(redis_server, topic_name) == {
        f"{topic_name}:u1": {"user_id": "u1", "page": "a"},
        f"{topic_name}:u2": {"user_id": "u2", "page": "c"},
    }
    with redis_server.client() as client:
        assert client.get(marker_key(query)) == "1"
