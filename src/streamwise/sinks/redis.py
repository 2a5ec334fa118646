"""Redis sink: hashes (latest state per key) or sorted sets (top-N, recommendations).

The batch marker is one key per query holding the last committed batch id. The writer WATCHes it,
reads it, and queues the batch's writes and the new marker in one MULTI/EXEC: Redis applies all of
them or none, and a replayed batch (id not above the marker) writes nothing.

The rows stream from Spark and are folded into the latest value per key (per member for a sorted
set) as they come, so the writer holds one entry per key the batch touches, not the batch. A row
Redis cannot take sensibly (a null key column, a null member, a score that is null, not a number,
NaN or infinite) goes to the sink's dead-letter topic with the reason; those dead letters commit
before the MULTI/EXEC (see :mod:`streamwise.sinks.dead_letters` for why that order).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import redis
from redis.typing import EncodableT, FieldT

from streamwise.config import KafkaSettings, RedisSettings
from streamwise.sinks._batch import Batch, RowSinkWriter, as_text, recency
from streamwise.sinks.config import RedisSink, key_columns
from streamwise.sinks.dead_letters import KAFKA_ERRORS, DeadLetterTopic
from streamwise.sinks.exceptions import SinkDataError


def marker_key(query: str) -> str:
    """The key holding the last batch id this query committed to Redis."""
    return f"streamwise:sink:{query}:batch"


@dataclass
class Latest:
    """What a batch leaves in Redis: per hash key its fields (None: delete the field); per sorted-set
    key its members' scores. Each with the recency of the row it came from, so the latest row wins."""

    hashes: dict[str, tuple[tuple[bool, Any], dict[str, str | None]]] = field(default_factory=dict)
    scores: dict[str, dict[str, tuple[tuple[bool, Any], float]]] = field(default_factory=dict)


class RedisWriter(RowSinkWriter):
    """Writes micro-batches of one query as hashes or sorted sets; bad rows to ``<name>.dlq``."""

    sink_type = "redis"
    # WatchError: another writer moved the marker between our read and EXEC; re-read and decide again.
    retriable = (redis.ConnectionError, redis.TimeoutError, redis.WatchError, *KAFKA_ERRORS)

    def __init__(self, sink: RedisSink, rs: RedisSettings, query: str, kafka: KafkaSettings) -> None:
        super().__init__(query, sink.retry)
        self.sink = sink
        self.client = redis.Redis(**rs.client_kwargs())
        self.marker = marker_key(query)
        self.dead_letters = DeadLetterTopic(kafka, query, sink.dead_letter_topic(query), f"redis {sink.key}")

    def write(self, batch: Batch) -> bool:
        self._check_columns(batch)
        with self.client.pipeline(transaction=True) as pipe:
            pipe.watch(self.marker)
            last = pipe.get(self.marker)
            if last is not None and int(last) >= batch.batch_id:
                return False
            with self.dead_letters.batch(batch.batch_id) as dead:
                latest = fold(self.sink, batch.rows, dead.add)
            pipe.multi()
            self._hashes(pipe, latest)
            self._sorted_sets(pipe, latest)
            pipe.set(self.marker, batch.batch_id)
            pipe.execute()
        return True

    def _hashes(self, pipe: redis.client.Pipeline, latest: Latest) -> None:
        for key, (_, values) in latest.hashes.items():
            present: dict[FieldT, EncodableT] = {f: v for f, v in values.items() if v is not None}
            absent = [f for f, v in values.items() if v is None]
            if present:
                pipe.hset(key, mapping=present)
            if absent:  # a null is "no value now", not a stale old one
                pipe.hdel(key, *absent)
            if self.sink.ttl_s:
                pipe.expire(key, self.sink.ttl_s)

    def _sorted_sets(self, pipe: redis.client.Pipeline, latest: Latest) -> None:
        sink = self.sink
        for key, members in latest.scores.items():
            if sink.replace:
                pipe.delete(key)
            pipe.zadd(key, {member: score for member, (_, score) in members.items()})
            if sink.top_n:
                pipe.zremrangebyrank(key, 0, -(sink.top_n + 1))  # drop all below the N highest
            if sink.ttl_s:
                pipe.expire(key, sink.ttl_s)

    def _check_columns(self, batch: Batch) -> None:
        sink = self.sink
        wanted = [
            *key_columns(sink.key),
            *(sink.fields or []),
            *(c for c in (sink.member, sink.score, sink.order_by) if c),
        ]
        missing = sorted({c for c in wanted if c not in batch.columns})
        if missing:
            raise SinkDataError(
                f"redis sink {sink.key!r}: the batch has no column {missing} (it has {batch.columns})",
                hint="select them in a step before the sink, or fix the sink's key, fields, member and score",
            )


def fold(sink: RedisSink, rows: Iterable[dict[str, Any]], dead: Callable[[dict[str, Any], str], None]) -> Latest:
    """The latest value per key (and member) of ``rows``, as the batch leaves Redis; each row that
    cannot be written is given to ``dead`` with its reason instead."""
    latest = Latest()
    for row in rows:
        reason = row_error(sink, row)
        if reason is not None:
            dead(row, reason)
            continue
        key, seen = render_key(sink.key, row), recency(row, sink.order_by)
        if sink.structure == "hash":
            before = latest.hashes.get(key)
            if before is None or seen >= before[0]:  # on a tie the later row wins, as it is written last
                fields = sink.fields or list(row)
                latest.hashes[key] = (seen, {f: None if row[f] is None else as_text(row[f]) for f in fields})
        else:
            assert sink.member is not None and sink.score is not None  # validation gives a sorted_set both
            members = latest.scores.setdefault(key, {})
            member = as_text(row[sink.member])
            if member not in members or seen >= members[member][0]:
                members[member] = (seen, float(row[sink.score]))
    return latest


def row_error(sink: RedisSink, row: dict[str, Any]) -> str | None:
    """Why ``row`` cannot be written to Redis, or None: a null column of the key template (the key
    would read 'user:null' and collide), or for a sorted set a null member or a score that is not a
    finite number (Redis refuses NaN; an infinite score ranks above every real one for good)."""
    where = f"redis sink {sink.key}"
    for column in key_columns(sink.key):
        if row.get(column) is None:
            return f"{where}: key column {column} is null"
    if sink.structure != "sorted_set":
        return None
    assert sink.member is not None and sink.score is not None
    if row.get(sink.member) is None:
        return f"{where}: member column {sink.member} is null"
    score = row.get(sink.score)
    if score is None:
        return f"{where}: score column {sink.score} is null"
    if isinstance(score, bool) or not isinstance(score, int | float | Decimal):
        return f"{where}: score column {sink.score} holds {score!r}, not a number"
    if math.isnan(score):
        return f"{where}: score column {sink.score} is NaN"
    if math.isinf(score):
        return f"{where}: score column {sink.score} is {float(score)}"
    return None


def render_key(template: str, row: dict[str, Any]) -> str:
    """The key for one row: 'user:{user_id}' -> 'user:u1'."""
    return template.format(**{c: as_text(row[c]) for c in key_columns(template)})
