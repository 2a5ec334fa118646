"""Sink configs as a pipeline spec gives them: the discriminated union, what each sink refuses, and
the pure helpers behind the writers (key templates, JSON, idempotency keys, generated SQL)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import TypeAdapter, ValidationError

from streamwise.sinks import KafkaAlertsSink, PostgresSink, RedisSink, RetryPolicy, Sink, WebhookSink
from streamwise.sinks._batch import Batch, as_text, recency, to_json
from streamwise.sinks.config import key_columns
from streamwise.sinks.postgres import pg_type, upsert_sql
from streamwise.sinks.redis import render_key
from streamwise.sinks.webhook import deliveries

SINK = TypeAdapter(Sink)


def test_the_type_field_picks_the_sink_and_nested_retry_is_validated() -> None:
    """Setup: dicts as YAML gives them. Invariant: each becomes its model; retry becomes a RetryPolicy."""
    pg = SINK.validate_python(
        {
            "type": "postgres",
            "table": "public.users",
            "key": ["user_id"],
            "retry": {"attempts": 3, "initial_backoff_s": 1},
        }
    )
    assert isinstance(pg, PostgresSink) and pg.retry == RetryPolicy(attempts=3, initial_backoff_s=1)
    assert isinstance(SINK.validate_python({"type": "redis", "key": "u:{user_id}"}), RedisSink)
    assert isinstance(SINK.validate_python({"type": "kafka_alerts", "topic": "alerts"}), KafkaAlertsSink)
    hook = SINK.validate_python({"type": "webhook", "url": "http://127.0.0.1:9000/hook", "allow_private": True})
    assert (
        isinstance(hook, WebhookSink) and hook.dead_letter_topic("clicks.0.webhook@5f3c9a1e") == "clicks.0.webhook.dlq"
    )
    assert (
        WebhookSink(type="webhook", url="https://example.test/x", name="notify").dead_letter_topic("q") == "notify.dlq"
    )


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"type": "delta_lake"},
            "does not match any of the expected tags: 'delta', 'kafka', 'console', 'postgres', 'redis', 'kafka_alerts', 'webhook'",
        ),
        ({"type": "postgres", "table": "Users", "key": ["id"]}, "String should match pattern"),
        ({"type": "postgres", "table": "users; drop table x", "key": ["id"]}, "String should match pattern"),
        ({"type": "postgres", "table": "users", "key": []}, "at least 1 item"),
        ({"type": "postgres", "table": "users", "key": ["id", "id"]}, "key lists a column twice"),
        ({"type": "postgres", "table": "users", "key": ["id"], "order_by": "id"}, "order_by 'id' is a key column"),
        ({"type": "postgres", "table": "users", "key": ["id"], "marker_table": "users"}, "marker_table must differ"),
        ({"type": "postgres", "table": "users", "key": ["bad-name"]}, "String should match pattern"),
        ({"type": "postgres", "table": "users", "key": ["id"], "upsert": True}, "Extra inputs are not permitted"),
        ({"type": "redis", "key": "users"}, "a hash per key needs a key naming a column"),
        ({"type": "redis", "key": "u:{user-id}"}, "not plain column names"),
        ({"type": "redis", "key": "u:{user_id"}, "is not a key template"),
        ({"type": "redis", "structure": "sorted_set", "key": "top", "member": "page"}, "needs member and score"),
        ({"type": "redis", "key": "u:{id}", "top_n": 3}, "apply to sorted_set, not hash"),
        (
            {"type": "redis", "structure": "sorted_set", "key": "top", "member": "p", "score": "n", "fields": ["a"]},
            "fields applies to hashes",
        ),
        (
            {"type": "redis", "structure": "sorted_set", "key": "top", "member": "p", "score": "n", "top_n": 0},
            "greater than or equal to 1",
        ),
        ({"type": "kafka_alerts", "topic": "alerts/now"}, "String should match pattern"),
        ({"type": "webhook", "url": "ftp://127.0.0.1/x"}, "URL scheme should be 'http' or 'https'"),
        (
            {
                "type": "webhook",
                "url": "http://127.0.0.1/x",
                "headers": {"Idempotency-Key": "1"},
                "allow_private": True,
            },
            "set by streamwise",
        ),
        (
            {"type": "webhook", "url": "http://127.0.0.1/x", "mode": "stream", "allow_private": True},
            "Input should be 'row' or 'batch'",
        ),
    ],
)
def test_invalid_sink_configs_are_refused_with_the_rule(config: dict, message: str) -> None:
    """Setup: one wrong field per config. Invariant: validation fails with a message naming the rule."""
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace("[", r"\[")):
        SINK.validate_python(config)


def test_a_sorted_set_may_be_one_fixed_key() -> None:
    """Setup: a trending set with no column in its key. Invariant: accepted; the key renders as given."""
    sink = RedisSink(type="redis", structure="sorted_set", key="trending", member="page", score="views", top_n=10)
    assert (key_columns(sink.key), render_key(sink.key, {"page": "/a"})) == ([], "trending")


def test_key_templates_render_values_as_text() -> None:
    """Setup: a template over a string, an int and a timestamp. Invariant: exact key text."""
    row = {"user_id": "u1", "n": 7, "w": datetime(2026, 1, 1, 0, 0, 10, tzinfo=UTC)}
    assert key_columns("a:{user_id}:{n}:{w}") == ["user_id", "n", "w"]
    assert render_key("a:{user_id}:{n}:{w}", row) == "a:u1:7:2026-01-01T00:00:10+00:00"
    assert [as_text(v) for v in ("x", 1, 1.5, True, None, {"b": 1, "a": [Decimal("1.20")]})] == [
        "x",
        "1",
        "1.5",
        "true",
        "null",
        '{"a":["1.20"],"b":1}',
    ]


def test_json_is_canonical_so_the_same_row_gives_the_same_bytes() -> None:
    """Setup: two dicts with the same content in other key orders. Invariant: identical JSON."""
    t = datetime(2026, 1, 1, tzinfo=UTC)
    assert to_json({"b": 1, "a": t, "c": b"\x00"}) == to_json({"c": b"\x00", "a": t, "b": 1})
    assert to_json({"b": 1, "a": t, "c": b"\x00"}) == '{"a":"2026-01-01T00:00:00+00:00","b":1,"c":"AA=="}'


def test_recency_ranks_null_oldest_and_ties_without_order_by() -> None:
    """Setup: rows with seq 3, null, 1. Invariant: by recency null < 1 < 3; without order_by all tie
    (the later row then wins)."""
    rows = [{"seq": 3}, {"seq": None}, {"seq": 1}]
    assert sorted(rows, key=lambda r: recency(r, "seq")) == [{"seq": None}, {"seq": 1}, {"seq": 3}]
    assert len({recency(r, None) for r in rows}) == 1


def test_idempotency_keys_are_stable_per_query_batch_and_payload() -> None:
    """Setup: a batch with two identical rows and one other, in two orders, and the same rows as
    another batch. Invariant: three distinct keys; the same keys for either order; other keys for
    another batch id; batch mode gives one request holding every row."""
    rows = [{"a": 1}, {"a": 1}, {"a": 2}]
    one = list(deliveries(Batch("q", 5, ["a"], rows), "row"))
    again = list(deliveries(Batch("q", 5, ["a"], list(reversed(rows))), "row"))
    other = list(deliveries(Batch("q", 6, ["a"], rows), "row"))
    assert len({d.key for d in one}) == 3
    assert sorted(d.key for d in one) == sorted(d.key for d in again)
    assert not {d.key for d in one} & {d.key for d in other}
    whole = list(deliveries(Batch("q", 5, ["a"], rows), "batch"))
    assert [(d.payload, d.rows) for d in whole] == [(rows, rows)]
    assert list(deliveries(Batch("q", 5, ["a"], []), "batch")) == []


def test_upsert_sql_keeps_the_latest_row_per_key() -> None:
    """Setup: a sink keyed by (tenant, user_id) ordered by seq. Invariant: the exact statement: one row
    per key (DISTINCT ON, highest seq), and an update only when the incoming seq is not older."""
    sink = PostgresSink(type="postgres", table="app.users", key=["tenant", "user_id"], order_by="seq")
    assert upsert_sql(sink, ["tenant", "user_id", "seq", "name"]).as_string(None) == (
        'INSERT INTO "app"."users" AS _sw_target ("tenant", "user_id", "seq", "name") '
        'SELECT DISTINCT ON ("tenant", "user_id") "tenant", "user_id", "seq", "name" FROM _sw_batch '
        'ORDER BY "tenant", "user_id", "seq" DESC NULLS LAST '
        'ON CONFLICT ("tenant", "user_id") DO UPDATE SET "seq" = EXCLUDED."seq", "name" = EXCLUDED."name" '
        'WHERE _sw_target."seq" IS NULL OR _sw_target."seq" <= EXCLUDED."seq"'
    )


def test_upsert_sql_of_key_only_rows_does_nothing_on_conflict() -> None:
    """Setup: every column is a key. Invariant: ON CONFLICT DO NOTHING, no DISTINCT ON without order_by."""
    sink = PostgresSink(type="postgres", table="seen", key=["id"])
    assert upsert_sql(sink, ["id"]).as_string(None) == (
        'INSERT INTO "seen" AS _sw_target ("id") SELECT "id" FROM _sw_batch ON CONFLICT ("id") DO NOTHING'
    )


def test_spark_types_map_to_postgres_types() -> None:
    """Setup: the Spark types a pipeline emits. Invariant: the exact PostgreSQL column type for each."""
    from pyspark.sql import types as T

    cases = {
        T.StringType(): "text",
        T.LongType(): "bigint",
        T.IntegerType(): "integer",
        T.DoubleType(): "double precision",
        T.BooleanType(): "boolean",
        T.TimestampType(): "timestamptz",
        T.TimestampNTZType(): "timestamp",
        T.DateType(): "date",
        T.DecimalType(12, 2): "numeric(12,2)",
        T.BinaryType(): "bytea",
        T.StructType([T.StructField("start", T.TimestampType())]): "jsonb",
        T.ArrayType(T.StringType()): "jsonb",
        T.MapType(T.StringType(), T.LongType()): "jsonb",
    }
    assert {t.simpleString(): pg_type(t) for t in cases} == {t.simpleString(): v for t, v in cases.items()}
