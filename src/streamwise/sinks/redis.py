"""Redis sink: hashes (latest state per key) or sorted sets (top-N, recommendations).

The batch marker is one key per query holding the last committed batch id. The writer WATCHes it,
reads it, and queues the batch's writes and the new marker in one MULTI/EXEC: Redis applies all of
them or none, and a replayed batch (id not above the marker) writes nothing.

The rows stream from Spark and are folded into the latest value per key (per member for a sorted
set) as they come, so the writer holds one entry per key the batch touches, not the batch. A row
Redis cannot take sensibly (a null key column, a null member, a score that is null, not a number,
NaN or infinite; a key that holds another type) goes to the sink's dead-letter topic with the
reason; those dead letters commit before the MULTI/EXEC (see :mod:`streamwise.sinks.dead_letters` for why that order).
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
from streamwise.sinks._batch import Batch, RowSinkWriter, as_text, chunked, recency
from streamwise.sinks.config import RESERVED_KEY_PREFIX, RedisSink, key_columns
from streamwise.sinks.dead_letters import KAFKA_ERRORS, DeadLetterTopic
from streamwise.sinks.exceptions import SinkDataError

CHUNK_ROWS = 5_000  # rows whose keys' types are looked up in one round trip


def marker_key(query: str) -> str:
    """The key holding the last batch id this query committed to Redis (under the reserved prefix)."""
    return f"{RESERVED_KEY_PREFIX}sink:{query}:batch"


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
            latest, types = Latest(), KeyTypes(self.sink)
            with self.dead_letters.batch(batch.batch_id) as dead:
                for chunk in chunked(batch.rows, CHUNK_ROWS):
                    self._look_up_types(pipe, chunk, types)
                    fold(self.sink, chunk, dead.add, latest, key_error=types.error)
            pipe.multi()
            self._hashes(pipe, latest)
            self._sorted_sets(pipe, latest)
            pipe.set(self.marker, batch.batch_id)
            pipe.execute()
        return True

    def _look_up_types(self, pipe: redis.client.Pipeline, rows: list[dict[str, Any]], types: KeyTypes) -> None:
        """Learn the type of each key ``rows`` write that is not known yet, WATCHing it first.

        Inside MULTI/EXEC Redis does not roll back: a command on a key of another type fails alone
        while the rest, marker included, is applied, and the batch would never be written again.
        So such a row is a dead letter before EXEC, and the WATCH makes a key whose type changes
        after this look-up abort the EXEC (WatchError: the write is retried and looks again).
        """
        if not types.checked:
            return
        keys = sorted({render_key(self.sink.key, r) for r in rows if row_error(self.sink, r) is None} - types.known)
        if not keys:
            return
        pipe.watch(self.marker, *keys)  # WATCH adds to the keys watched so far
        lookup = self.client.pipeline(transaction=False)
        for key in keys:
            lookup.type(key)
        found = [t.decode() if isinstance(t, bytes) else str(t) for t in lookup.execute()]
        types.learn(dict(zip(keys, found, strict=True)))

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


_REDIS_TYPE = {"hash": "hash", "sorted_set": "zset"}  # the sink's structure as Redis's TYPE names it
_TYPE_NAMES = {"hash": "a hash", "zset": "a sorted set", "string": "a string", "list": "a list", "set": "a set"}


class KeyTypes:
    """The Redis type of each key a batch writes, as looked up before its MULTI, and the reason a row
    cannot be written to a key of another type. A sorted set the batch replaces may be any type."""

    def __init__(self, sink: RedisSink) -> None:
        self.sink = sink
        self.expected = _REDIS_TYPE[sink.structure]
        self.checked = not (sink.structure == "sorted_set" and sink.replace)
        self.types: dict[str, str] = {}

    @property
    def known(self) -> set[str]:
        return set(self.types)

    def learn(self, types: dict[str, str]) -> None:
        self.types.update(types)

    def error(self, key: str) -> str | None:
        found = self.types.get(key, "none")
        if not self.checked or found in ("none", self.expected):
            return None
        return (
            f"redis sink {self.sink.key}: key {key} holds {_TYPE_NAMES.get(found, found)}, "
            f"not {_TYPE_NAMES[self.expected]}"
        )


def fold(
    sink: RedisSink,
    rows: Iterable[dict[str, Any]],
    dead: Callable[[dict[str, Any], str], None],
    latest: Latest | None = None,
    *,
    key_error: Callable[[str], str | None] = lambda _key: None,
) -> Latest:
    """The latest value per key (and member) of ``rows``, as the batch leaves Redis, added to
    ``latest`` (a chunk at a time); each row that cannot be written is given to ``dead`` with its
    reason instead: one :func:`row_error` finds, or one ``key_error`` finds for its key."""
    latest = Latest() if latest is None else latest
    for row in rows:
        reason = row_error(sink, row)
        key = render_key(sink.key, row) if reason is None else ""
        reason = reason or key_error(key)
        if reason is not None:
            dead(row, reason)
            continue
        seen = recency(row, sink.order_by)
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
    if key_columns(sink.key) and render_key(sink.key, row).startswith(RESERVED_KEY_PREFIX):
        # A template starting with a column ('{page}') renders to whatever the data says.
        return f"{where}: the key renders under {RESERVED_KEY_PREFIX!r}, reserved for streamwise's own markers"
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
