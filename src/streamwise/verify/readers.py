"""What each store holds, read with its own client (no JVM): Delta with deltalake, PostgreSQL with
psycopg, Redis with redis-py, Kafka with a ``read_committed`` consumer; and the query's watermark
from its Spark checkpoint."""

from __future__ import annotations

import json
import re
import string
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import pandas as pd
import psycopg
import redis
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError
from psycopg import sql

from streamwise.config import KafkaSettings, PostgresSettings, RedisSettings, Settings
from streamwise.platform import dead_letters as dlq
from streamwise.platform.exceptions import TopicError
from streamwise.platform.storage import Location, data_root
from streamwise.platform.topics import read_to_end
from streamwise.sinks.config import (
    DeltaSink,
    KafkaAlertsSink,
    KafkaSink,
    PostgresSink,
    RedisSink,
    Sink,
    key_columns,
    warehouse_path,
)
from streamwise.verify.exceptions import VerifyError

_KAFKA_TIMEOUT_S = 60.0
_REDIS_BATCH = 1_000


def sink_rows(
    settings: Settings, sink: Sink, columns: list[str] | None = None, *, query: str | None = None
) -> pd.DataFrame | None:
    """What ``sink`` holds now, ``columns`` of it (default: all), read with the store's own client;
    for a Kafka sink with ``query``, only that query's records. None for a sink that keeps nothing
    to read back (the console, a webhook's receiver)."""
    if isinstance(sink, DeltaSink):
        return delta_rows(warehouse_path(sink.path, data_root(settings)), columns)
    if isinstance(sink, PostgresSink):
        return postgres_rows(settings.postgres, sink.table, columns)
    if isinstance(sink, RedisSink) and sink.structure == "sorted_set":
        return redis_sorted_set_rows(settings.redis, sink.key)
    if isinstance(sink, RedisSink):
        fields = None if columns is None else [c for c in columns if c not in key_columns(sink.key)]
        return redis_hash_rows(settings.redis, sink.key, fields)
    if isinstance(sink, KafkaSink | KafkaAlertsSink):
        return json_rows(topic_records(settings.kafka, sink.topic), columns, query=query)
    return None


def delta_rows(path: Location, columns: list[str] | None = None) -> pd.DataFrame:
    """``columns`` (default: all) of the Delta table's current version; an empty frame when there is
    no table yet."""
    try:
        table = DeltaTable(str(path))
    except TableNotFoundError:
        return pd.DataFrame(columns=columns or [])
    present = [f.name for f in table.schema().fields]
    missing = [c for c in columns or [] if c not in present]
    if missing:
        raise VerifyError(f"Delta table {path} has no column {missing} (it has {present})")
    return table.to_pyarrow_table(columns=columns).to_pandas()


def postgres_rows(pg: PostgresSettings, table: str, columns: list[str] | None = None) -> pd.DataFrame:
    """``columns`` (default: all) of every row of ``table``; an empty frame when the table does not
    exist yet."""
    selected = sql.SQL(", ").join(sql.Identifier(c) for c in columns) if columns else sql.SQL("*")
    query = sql.SQL("SELECT {} FROM {}").format(selected, sql.Identifier(*table.split(".")))
    try:
        with psycopg.connect(**pg.conninfo()) as conn:
            cursor = conn.execute(query)
            rows = cursor.fetchall()
            names = [d.name for d in cursor.description or []]
    except psycopg.errors.UndefinedTable:
        return pd.DataFrame(columns=columns or [])
    except psycopg.OperationalError as exc:
        raise VerifyError(
            f"cannot read PostgreSQL table {table} on {pg.host}:{pg.port}: {str(exc).strip()}",
            hint="start it with `streamwise services start`",
        ) from None
    return pd.DataFrame(rows, columns=names)


def key_pattern(template: str) -> tuple[str, re.Pattern[str]]:
    """A Redis SCAN glob and a regex with one named group per column for a key template.

    'ev:{event_id}' -> ('ev:*', ^ev:(?P<event_id>.*)$); literal glob characters are escaped.
    """
    glob, regex, seen = "", "", set()
    for literal, name, _, _ in string.Formatter().parse(template):
        glob += re.sub(r"([*?\[\]\\])", r"\\\1", literal)
        regex += re.escape(literal)
        if name is not None:
            glob += "*"
            regex += f"(?P={name})" if name in seen else f"(?P<{name}>.*?)"
            seen.add(name)
    return glob, re.compile(f"^{regex}$")


def redis_hash_rows(rs: RedisSettings, template: str, fields: list[str] | None = None) -> pd.DataFrame:
    """One row per hash whose key matches ``template``: the key's columns (as text) and ``fields``
    (default: every field of each hash)."""
    rows: list[dict[str, Any]] = []
    with _redis_keys(rs, template, "hash") as (client, keys):
        for start in range(0, len(keys), _REDIS_BATCH):
            chunk = keys[start : start + _REDIS_BATCH]
            values = _hash_values(client, [key for key, _ in chunk], fields)
            for (_, columns), value in zip(chunk, values, strict=True):
                rows.append({**columns, **(value if fields is None else dict(zip(fields, value, strict=True)))})
    names = key_columns(template)
    seen = (c for r in rows for c in r) if fields is None else iter(fields)
    return pd.DataFrame(rows, columns=list(dict.fromkeys([*names, *seen])))


def redis_sorted_set_rows(rs: RedisSettings, template: str) -> pd.DataFrame:
    """One row per member of each sorted set whose key matches ``template``: the key's columns (as
    text), ``member`` and ``score``, highest score first within a set."""
    rows: list[dict[str, Any]] = []
    with _redis_keys(rs, template, "zset") as (client, keys):
        for key, columns in keys:
            # withscores=True answers (member, score) pairs; redis-py's declared type is wider
            pairs = cast(list[tuple[str, float]], client.zrevrange(key, 0, -1, withscores=True))
            rows += [{**columns, "member": member, "score": score} for member, score in pairs]
    return pd.DataFrame(rows, columns=[*key_columns(template), "member", "score"])


@contextmanager
def _redis_keys(rs: RedisSettings, template: str, kind: str) -> Iterator[tuple[Any, list[tuple[str, dict[str, str]]]]]:
    """A client, and the keys of type ``kind`` that match ``template`` in key order, each with the
    values its template columns take; Redis being down is a VerifyError that says how to start it."""
    glob, regex = key_pattern(template)
    client = redis.Redis(**rs.client_kwargs())
    try:
        matched = ((key, regex.match(key)) for key in client.scan_iter(match=glob, count=_REDIS_BATCH, _type=kind))
        keys = sorted((key, match.groupdict()) for key, match in matched if match is not None)
        yield client, keys
    except redis.ConnectionError as exc:
        raise VerifyError(
            f"cannot read Redis on {rs.host}:{rs.port}: {exc}", hint="start it with `streamwise services start`"
        ) from None
    finally:
        client.close()


def _hash_values(client: Any, keys: list[str], fields: list[str] | None) -> list[Any]:
    """Each key's ``fields`` (a dict of all of them when None), in one round trip for the lot."""
    if fields == []:
        return [[] for _ in keys]
    with client.pipeline(transaction=False) as pipe:
        for key in keys:
            if fields is None:
                pipe.hgetall(key)
            else:
                pipe.hmget(key, fields)
        return list(pipe.execute())


def topic_records(kafka: KafkaSettings, topic: str, *, timeout_s: float = _KAFKA_TIMEOUT_S) -> list[Any]:
    """Every committed record of ``topic`` (all partitions, from the start to the end now), read
    with ``isolation.level=read_committed``: records of aborted transactions are never seen. An
    absent topic holds nothing."""
    try:
        return read_to_end(kafka, topic, timeout_s=timeout_s)
    except TopicError as exc:
        raise VerifyError(exc.message, hint=exc.hint) from None


def json_rows(records: list[Any], columns: list[str] | None = None, *, query: str | None = None) -> pd.DataFrame:
    """``columns`` (default: every field seen) of records whose values are JSON objects; with
    ``query``, only the records whose ``streamwise.query`` header names it (what the alerts sink
    stamps on each record)."""
    values = []
    for msg in records:
        if query is not None and _header(msg, "streamwise.query") != query:
            continue
        value = _json(msg.value())
        if value is not None:
            values.append(value)
    return _frame(values, columns)


def dead_letter_rows(
    kafka: KafkaSettings, topic: str, columns: list[str] | None = None, *, query: str | None = None
) -> pd.DataFrame:
    """``columns`` (default: every field seen) of the JSON a dead-letter topic's records hold (null
    where one holds none), one row per dead letter. Two pipelines on one topic each write a bad
    record there: deduplicated by the source partition and offset headers. With ``query``, only the
    dead letters of that sink writer (its ``dlq.query`` header): a sink's topic is named after its
    label, so it outlives the checkpoints it wrote for."""
    values, seen = [], set()
    for msg in topic_records(kafka, topic):
        if query is not None and _header(msg, dlq.QUERY) != query:
            continue
        source = (_header(msg, dlq.SOURCE_PARTITION), _header(msg, dlq.SOURCE_OFFSET))
        if source != (None, None):
            if source in seen:
                continue
            seen.add(source)
        values.append(_json(msg.value()) or {})
    return _frame(values, columns)


def dead_letters(kafka: KafkaSettings, topic: str, *, query: str | None = None) -> pd.DataFrame:
    """:func:`dead_letter_rows` with the ``event_id`` and ``event_time`` their JSON holds, as
    integers (null when it holds none or not a number)."""
    rows = dead_letter_rows(kafka, topic, ["event_id", "event_time"], query=query)
    return rows.apply(lambda column: column.map(_int)).astype("Int64")


def batch_watermark(checkpoint: Location) -> int | None:
    """The event-time watermark (epoch ms) of the query's newest committed batch, from its
    checkpoint's offset log; None before any batch committed or when it has none."""
    commits = checkpoint / "commits"
    done = (
        sorted((int(p.name) for p in commits.iterdir() if p.name.isdigit()), reverse=True) if commits.is_dir() else []
    )
    for batch in done:
        entry = checkpoint / "offsets" / str(batch)
        if entry.is_file():
            lines = entry.read_text().splitlines()
            meta = json.loads(lines[1]) if len(lines) > 1 else {}
            watermark = meta.get("batchWatermarkMs")
            return int(watermark) if watermark else None
    return None


def _frame(values: list[dict[str, Any]], columns: list[str] | None) -> pd.DataFrame:
    """``columns`` (default: every field seen, in order) of JSON objects, null where one has none."""
    if columns is None:
        columns = list(dict.fromkeys(c for v in values for c in v))
    return pd.DataFrame([[v.get(c) for c in columns] for v in values], columns=columns)


def _header(msg: Any, name: str) -> str | None:
    for key, value in msg.headers() or []:
        if key == name and value is not None:
            return value.decode(errors="replace")
    return None


def _json(value: bytes | None) -> dict[str, Any] | None:
    try:
        parsed = json.loads(value) if value else None
    except (ValueError, UnicodeDecodeError):
        return None
    return parsed if isinstance(parsed, dict) else None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None
