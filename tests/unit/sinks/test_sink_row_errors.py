"""Which rows a sink dead-letters before writing, and why: the pure checks of the PostgreSQL and Redis
sinks, the latest value per key a Redis batch leaves, and the dead-letter topic's name for every sink."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pytest

from streamwise.sinks import PostgresSink, RedisSink, WebhookSink
from streamwise.sinks.postgres import row_error as pg_row_error
from streamwise.sinks.redis import KeyTypes, fold
from streamwise.sinks.redis import row_error as redis_row_error

PG = PostgresSink(type="postgres", table="public.page_counts", key=["user_id", "page"])
TOP = RedisSink(type="redis", structure="sorted_set", key="top:{region}", member="page", score="views")
USERS = RedisSink(type="redis", key="user:{user_id}", fields=["page", "seq"], order_by="seq")


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"user_id": "u1", "page": "/a", "n": 1}, None),
        ({"user_id": None, "page": "/a", "n": 1}, "postgres sink public.page_counts: key column user_id is null"),
        ({"user_id": "u1", "page": None, "n": 1}, "postgres sink public.page_counts: key column page is null"),
        (
            {"user_id": "u1", "page": "/a\x00b", "n": 1},
            "postgres sink public.page_counts: text column page holds a NUL byte (PostgreSQL text cannot store \\x00)",
        ),
        (
            {"user_id": "u1", "page": "/a", "tags": {"k": ["x", "y\x00"]}},
            "postgres sink public.page_counts: column tags holds a NUL byte in a string "
            "(PostgreSQL jsonb cannot store \\u0000)",
        ),
        ({"user_id": "u1", "page": "/a", "blob": b"\x00\x01", "score": math.nan, "note": None}, None),
    ],
)
def test_postgres_row_errors_name_the_sink_and_column(row: dict[str, Any], reason: str | None) -> None:
    """Setup: rows for a sink keyed by (user_id, page). Invariant: a null key column or a NUL byte in a
    string (top level or nested, i.e. jsonb) is refused with the exact reason; bytes (bytea), NaN
    (double precision holds it) and a null non-key column are fine."""
    assert pg_row_error(PG, row) == reason


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"region": "eu", "page": "/a", "views": 3}, None),
        ({"region": "eu", "page": "/a", "views": Decimal("2.5")}, None),
        ({"region": None, "page": "/a", "views": 3}, "redis sink top:{region}: key column region is null"),
        ({"region": "eu", "page": None, "views": 3}, "redis sink top:{region}: member column page is null"),
        ({"region": "eu", "page": "/a", "views": None}, "redis sink top:{region}: score column views is null"),
        ({"region": "eu", "page": "/a", "views": math.nan}, "redis sink top:{region}: score column views is NaN"),
        ({"region": "eu", "page": "/a", "views": math.inf}, "redis sink top:{region}: score column views is inf"),
        ({"region": "eu", "page": "/a", "views": -math.inf}, "redis sink top:{region}: score column views is -inf"),
        (
            {"region": "eu", "page": "/a", "views": "7"},
            "redis sink top:{region}: score column views holds '7', not a number",
        ),
        (
            {"region": "eu", "page": "/a", "views": True},
            "redis sink top:{region}: score column views holds True, not a number",
        ),
    ],
)
def test_redis_sorted_set_row_errors(row: dict[str, Any], reason: str | None) -> None:
    """Setup: rows for a sorted set keyed 'top:{region}'. Invariant: a null key column or member, or a
    score that is null, not a number, NaN or infinite, is refused with the exact reason."""
    assert redis_row_error(TOP, row) == reason


def test_redis_hash_refuses_only_a_null_key_column() -> None:
    """Setup: hash rows with a null field and with a null key column. Invariant: a null field is a
    deletion, not an error; a null key column would write 'user:null' and is refused."""
    assert redis_row_error(USERS, {"user_id": "u1", "page": None, "seq": math.nan}) is None
    assert redis_row_error(USERS, {"user_id": None, "page": "/a", "seq": 1}) == (
        "redis sink user:{user_id}: key column user_id is null"
    )


def test_fold_keeps_the_latest_row_per_key_and_hands_bad_rows_over_in_order() -> None:
    """Setup: hash rows of two users, out of seq order, a null seq, and two bad rows; sorted-set rows
    with a repeated member. Invariant: each hash holds the fields of its highest-seq row (a null seq is
    oldest; its null field a deletion); the bad rows reach ``dead`` in input order with their reasons;
    without order_by the later row for a member wins."""
    dead: list[tuple[Any, str]] = []
    rows: list[dict[str, Any]] = [
        {"user_id": "u1", "page": "/b", "seq": 5},
        {"user_id": "u1", "page": "/a", "seq": 3},
        {"user_id": None, "page": "/x", "seq": 9},
        {"user_id": "u2", "page": None, "seq": 2},
        {"user_id": "u2", "page": "/z", "seq": None},
    ]
    latest = fold(USERS, rows, lambda row, reason: dead.append((row["seq"], reason)))
    assert {k: v for k, (_, v) in latest.hashes.items()} == {
        "user:u1": {"page": "/b", "seq": "5"},
        "user:u2": {"page": None, "seq": "2"},
    }
    assert dead == [(9, "redis sink user:{user_id}: key column user_id is null")]

    dead.clear()
    scored = [
        {"region": "eu", "page": "/a", "views": 1},
        {"region": "eu", "page": "/b", "views": math.nan},
        {"region": "eu", "page": "/a", "views": 4},
        {"region": "us", "page": "/a", "views": 2.5},
    ]
    latest = fold(TOP, scored, lambda row, reason: dead.append((row["page"], reason)))
    assert {k: {m: s for m, (_, s) in v.items()} for k, v in latest.scores.items()} == {
        "top:eu": {"/a": 4.0},
        "top:us": {"/a": 2.5},
    }
    assert dead == [("/b", "redis sink top:{region}: score column views is NaN")]


def test_every_row_sink_names_its_dead_letter_topic_alike() -> None:
    """Setup: a PostgreSQL, a Redis and a webhook sink, with and without ``name``. Invariant: each
    dead-letters to '<name>.dlq', by default '<sink label>.dlq' (the writer id without its checkpoint)."""
    writer = "clicks.0.postgres@5f3c9a1e"
    assert PG.dead_letter_topic(writer) == "clicks.0.postgres.dlq"
    assert TOP.dead_letter_topic(writer) == "clicks.0.postgres.dlq"
    assert RedisSink(type="redis", key="u:{id}", name="users").dead_letter_topic(writer) == "users.dlq"
    assert PostgresSink(type="postgres", table="t", key=["id"], name="t_rows").dead_letter_topic(writer) == (
        "t_rows.dlq"
    )
    assert (
        WebhookSink(type="webhook", url="http://127.0.0.1:1/h", name="hook", allow_private=True).dead_letter_topic(
            writer
        )
        == "hook.dlq"
    )


def test_a_key_of_another_type_is_a_dead_letter_unless_the_set_is_replaced() -> None:
    """Setup: key types as Redis's TYPE gives them: a string, a hash, a sorted set, and an absent key.
    Invariant: a hash sink refuses the string and the sorted set and takes the hash or a new key; a
    sorted set refuses the hash; one that replaces its sets takes any key; fold hands the rows of a
    refused key to ``dead`` and writes the others."""
    types = {"user:s": "string", "user:h": "hash", "user:z": "zset"}
    hashes = KeyTypes(USERS)
    hashes.learn(types)
    assert [hashes.error(k) for k in ["user:s", "user:h", "user:z", "user:new"]] == [
        "redis sink user:{user_id}: key user:s holds a string, not a hash",
        None,
        "redis sink user:{user_id}: key user:z holds a sorted set, not a hash",
        None,
    ]
    sets = KeyTypes(TOP)
    sets.learn({"top:eu": "hash"})
    assert sets.error("top:eu") == "redis sink top:{region}: key top:eu holds a hash, not a sorted set"
    replaced = KeyTypes(TOP.model_copy(update={"replace": True}))
    replaced.learn({"top:eu": "hash"})
    assert replaced.error("top:eu") is None

    dead: list[tuple[Any, str]] = []
    rows: list[dict[str, Any]] = [{"user_id": "s", "page": "/a", "seq": 1}, {"user_id": "h", "page": "/b", "seq": 2}]
    latest = fold(USERS, rows, lambda row, reason: dead.append((row["user_id"], reason)), key_error=hashes.error)
    assert list(latest.hashes) == ["user:h"]
    assert dead == [("s", "redis sink user:{user_id}: key user:s holds a string, not a hash")]
