"""Row errors at the PostgreSQL and Redis sinks on the real broker, Spark, PostgreSQL and Redis: each bad
row goes to the sink's dead-letter topic with its reason, the rest of the batch is written, and neither
a replay nor a crash between the dead letters' commit and the store's writes anything twice."""

from __future__ import annotations

import math
from typing import Any

from sink_helpers import dead_letters

from streamwise.platform.services import PostgresServer, RedisServer
from streamwise.sinks import PostgresSink, RedisSink, RetryPolicy, sink_writer
from streamwise.sinks.postgres import PostgresWriter
from streamwise.sinks.redis import RedisWriter, marker_key

FAST = RetryPolicy(attempts=3, initial_backoff_s=0.05, max_backoff_s=0.1, jitter=0)
PG_SCHEMA = "user_id STRING, seq BIGINT, n BIGINT, page STRING, amount DOUBLE"
BIG = 2**40  # beyond PostgreSQL's integer


def pg_rows(postgres: PostgresServer, table: str) -> list[tuple]:
    with postgres.connect() as conn:
        return conn.execute(f"SELECT user_id, seq, n, page, amount FROM {table} ORDER BY user_id").fetchall()


def pg_markers(postgres: PostgresServer, table: str, query: str) -> list[tuple[int, int]]:
    with postgres.connect() as conn:
        return conn.execute(
            f"SELECT batch_id, rows FROM {table} WHERE query = %s ORDER BY batch_id", (query,)
        ).fetchall()


def as_row(values: tuple) -> dict[str, Any]:
    return dict(zip(["user_id", "seq", "n", "page", "amount"], values, strict=True))


def test_postgres_dead_letters_each_bad_row_and_writes_the_rest_exactly_once(
    spark, sink_settings, postgres, broker, topic_name: str
) -> None:
    """Setup: a table made beforehand with ``n integer`` and CHECK (amount >= 0); a sink keyed by
    user_id, ordered by seq, writing 3 rows per chunk. Batch 0 holds 4 good rows (u1 twice) and 4
    bad ones: a null key, a NUL byte in text, n beyond integer (refused by COPY) and a negative amount
    (refused by the CHECK at the upsert). Then a deferred trigger makes PostgreSQL's COMMIT fail once
    with a serialization failure, after the dead letters of batch 1 (1 good row, 2 bad) have committed
    to Kafka; the writer retries. Last, a new writer (a new driver) gets batches 0 and 1 again.
    Invariant: the table holds exactly the good rows (u1 at its highest seq); the dead-letter topic
    holds each bad row once, its value the row, its reason naming the sink and column; the markers
    count the rows written; the retry and the replays add nothing to the table or the topic."""
    table, query = topic_name, f"{topic_name}_postgres"
    marker_table = f"{table}_batches"
    with postgres.connect() as conn:
        conn.execute(
            f"CREATE TABLE {table} (user_id text PRIMARY KEY, seq bigint, n integer, page text, "
            "amount double precision CONSTRAINT amount_not_negative CHECK (amount >= 0))"
        )
    sink = PostgresSink(
        type="postgres", table=table, key=["user_id"], order_by="seq", marker_table=marker_table, retry=FAST
    )
    writer = sink_writer(sink, sink_settings, query)
    assert isinstance(writer, PostgresWriter)
    writer.chunk_rows = 3  # several chunks, and a bisection in two of them
    batch_0 = [
        ("u1", 1, 10, "/a", 1.0),
        (None, 2, 20, "/b", 2.0),
        ("u2", 3, BIG, "/c", 3.0),
        ("u3", 4, 40, "/d\x00x", 4.0),
        ("u4", 5, 50, "/e", -5.0),
        ("u5", 6, 60, "/f", 6.0),
        ("u1", 7, 70, "/g", 7.0),
        ("u6", 8, 80, "/h", 8.0),
    ]
    where = f"postgres sink {table}"
    expected_dead = [
        (batch_0[1], 0, f"{where}: key column user_id is null"),
        (
            batch_0[2],
            0,
            f'{where}: PostgreSQL refused the row: value "{BIG}" is out of range for type integer (column n)',
        ),
        (batch_0[3], 0, f"{where}: text column page holds a NUL byte (PostgreSQL text cannot store \\x00)"),
        (
            batch_0[4],
            0,
            f'{where}: PostgreSQL refused the row: new row for relation "{table}" violates check constraint '
            '"amount_not_negative" (constraint amount_not_negative)',
        ),
    ]
    expected_rows = [("u1", 7, 70, "/g", 7.0), ("u5", 6, 60, "/f", 6.0), ("u6", 8, 80, "/h", 8.0)]

    def dlq() -> list[tuple[dict[str, Any], int, str]]:
        found = dead_letters(sink_settings, f"{query}.dlq")
        assert all((h["dlq.query"], h["dlq.sink"]) == (query, f"postgres {table}") for _, h in found), found
        return sorted(((row, int(h["dlq.batch_id"]), h["dlq.reason"]) for row, h in found), key=lambda d: d[0]["seq"])

    writer(spark.createDataFrame(batch_0, PG_SCHEMA), 0)
    assert pg_rows(postgres, table) == expected_rows
    assert dlq() == [(as_row(values), b, reason) for values, b, reason in expected_dead]
    assert pg_markers(postgres, marker_table, query) == [(0, 4)]

    with postgres.connect() as conn:  # COMMIT fails once (a sequence is not rolled back), retriably
        conn.execute(f"CREATE SEQUENCE {table}_commits")
        conn.execute(
            f"CREATE FUNCTION {table}_fail_once() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF nextval('{table}_commits') = 1 THEN "
            "RAISE EXCEPTION 'the commit fails once' USING ERRCODE = '40001'; END IF; RETURN NULL; END $$"
        )
        conn.execute(
            f"CREATE CONSTRAINT TRIGGER fail_once AFTER INSERT OR UPDATE ON {marker_table} "
            f"DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION {table}_fail_once()"
        )
    batch_1 = [("u7", 9, 90, "/i", 9.0), ("u8", 10, BIG, "/j", 10.0), (None, 11, 110, "/k", 11.0)]
    writer(spark.createDataFrame(batch_1, PG_SCHEMA), 1)
    assert writer.status.retries == 1 and writer.status.healthy
    expected_rows.append(("u7", 9, 90, "/i", 9.0))
    expected_dead += [
        (
            batch_1[1],
            1,
            f'{where}: PostgreSQL refused the row: value "{BIG}" is out of range for type integer (column n)',
        ),
        (batch_1[2], 1, f"{where}: key column user_id is null"),
    ]
    assert pg_rows(postgres, table) == expected_rows
    assert dlq() == [(as_row(values), b, reason) for values, b, reason in expected_dead]
    assert pg_markers(postgres, marker_table, query) == [(0, 4), (1, 1)]

    replay = sink_writer(sink, sink_settings, query)
    replay(spark.createDataFrame(batch_0, PG_SCHEMA), 0)
    replay(spark.createDataFrame(batch_1, PG_SCHEMA), 1)
    assert (replay.status.batches_written, replay.status.batches_skipped) == (0, 2)
    assert pg_rows(postgres, table) == expected_rows
    assert dlq() == [(as_row(values), b, reason) for values, b, reason in expected_dead]


def test_redis_sorted_set_dead_letters_bad_scores_and_keys_once(
    spark, sink_settings, redis_server: RedisServer, broker, topic_name: str
) -> None:
    """Setup: a sorted set per region 'top:{region}' (member page, score views), where the key of
    region 'asia' already holds a string; one batch with 4 good rows (eu /a twice: the later wins)
    and 5 bad: a null region, a null page, a NaN and an infinite score, and a row for 'asia' (Redis
    would fail that ZADD alone inside EXEC and apply the rest). The same batch id is written again
    by the same writer and by a new one.
    Invariant: the sets hold exactly the good rows' latest scores and the string is untouched; the
    dead-letter topic holds each bad row once with its reason; the marker is 0; the repeats write
    nothing anywhere."""
    key = f"{topic_name}:top:{{region}}"
    sink = RedisSink(type="redis", structure="sorted_set", key=key, member="page", score="views", retry=FAST)
    query = f"{topic_name}_redis"
    rows = [
        ("eu", "/a", 3.0),
        ("eu", "/b", 5.0),
        (None, "/c", 1.0),
        ("eu", None, 2.0),
        ("us", "/a", math.nan),
        ("us", "/b", math.inf),
        ("us", "/c", 4.0),
        ("asia", "/a", 1.0),
        ("eu", "/a", 6.0),
    ]
    with redis_server.client() as client:
        client.set(f"{topic_name}:top:asia", "not a sorted set")
    batch = spark.createDataFrame(rows, "region STRING, page STRING, views DOUBLE")
    where = f"redis sink {key}"
    expected_dead = [
        ({"region": None, "page": "/c", "views": 1.0}, f"{where}: key column region is null"),
        ({"region": "eu", "page": None, "views": 2.0}, f"{where}: member column page is null"),
        ({"region": "us", "page": "/a", "views": "NaN"}, f"{where}: score column views is NaN"),
        ({"region": "us", "page": "/b", "views": "Infinity"}, f"{where}: score column views is inf"),
        (
            {"region": "asia", "page": "/a", "views": 1.0},
            f"{where}: key {topic_name}:top:asia holds a string, not a sorted set",
        ),
    ]

    def state() -> tuple[dict[str, Any], str | None]:
        with redis_server.client() as client:
            sets = {
                k: client.zrevrange(k, 0, -1, withscores=True) if client.type(k) == "zset" else client.get(k)
                for k in sorted(client.scan_iter(f"{topic_name}:*"))
            }
            return sets, client.get(marker_key(query))

    def dlq() -> list[tuple[dict[str, Any], str]]:
        found = dead_letters(sink_settings, f"{query}.dlq")
        assert all((h["dlq.query"], h["dlq.sink"], h["dlq.batch_id"]) == (query, f"redis {key}", "0") for _, h in found)
        # JSON has no NaN or infinity: Python writes them as the bare words, which json.loads reads back.
        return [({k: _word(v) for k, v in row.items()}, h["dlq.reason"]) for row, h in found]

    writer = sink_writer(sink, sink_settings, query)
    writer(batch, 0)
    expected = (
        {
            f"{topic_name}:top:asia": "not a sorted set",
            f"{topic_name}:top:eu": [("/a", 6.0), ("/b", 5.0)],
            f"{topic_name}:top:us": [("/c", 4.0)],
        },
        "0",
    )
    assert state() == expected
    assert dlq() == expected_dead

    writer(batch, 0)
    sink_writer(sink, sink_settings, query)(batch, 0)
    assert state() == expected
    assert dlq() == expected_dead


def test_redis_after_a_crash_between_the_two_commits_writes_the_rows_and_no_dead_letter_again(
    spark, sink_settings, redis_server: RedisServer, broker, topic_name: str
) -> None:
    """Setup: hashes 'user:{user_id}'; batch 0 = {u1, a null user_id, u2}. Its dead letter is committed
    first through the writer's own dead-letter topic, as an attempt that crashed after the Kafka
    commit and before Redis's EXEC leaves it; then a new writer writes batch 0.
    Invariant: the hashes hold u1 and u2; the dead-letter topic still holds the bad row once."""
    key = f"{topic_name}:{{user_id}}"
    sink = RedisSink(type="redis", key=key, retry=FAST)
    query = f"{topic_name}_redis"
    rows = [("u1", "/a"), (None, "/b"), ("u2", "/c")]
    reason = f"redis sink {key}: key column user_id is null"
    crashed = sink_writer(sink, sink_settings, query)
    assert isinstance(crashed, RedisWriter)
    crashed.dead_letters.commit([crashed.dead_letters.record({"user_id": None, "page": "/b"}, reason, 0)], 0)

    sink_writer(sink, sink_settings, query)(spark.createDataFrame(rows, "user_id STRING, page STRING"), 0)
    with redis_server.client() as client:
        assert {k: client.hgetall(k) for k in sorted(client.scan_iter(f"{topic_name}:*"))} == {
            f"{topic_name}:u1": {"user_id": "u1", "page": "/a"},
            f"{topic_name}:u2": {"user_id": "u2", "page": "/c"},
        }
    assert [(row, h["dlq.reason"]) for row, h in dead_letters(sink_settings, f"{query}.dlq")] == [
        ({"user_id": None, "page": "/b"}, reason)
    ]


def _word(value: Any) -> Any:
    """NaN and infinity as words, so that a row holding them compares equal."""
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, float) and math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value
