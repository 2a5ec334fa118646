"""Redis sink: hashes (latest state per key) or sorted sets (top-N, recommendations).

The batch marker is one key per query holding the last committed batch id. The writer WATCHes it,
reads it, and queues the batch's writes and the new marker in one MULTI/EXEC: Redis applies all of
them or none, and a replayed batch (id not above the marker) writes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import redis
from redis.typing import EncodableT, FieldT

from streamwise.config import RedisSettings
from streamwise.sinks._batch import Batch, RowSinkWriter, as_text, sort_latest_last
from streamwise.sinks.config import RedisSink, key_columns
from streamwise.sinks.exceptions import SinkDataError, SinkError


def marker_key(query: str) -> str:
    """The key holding the last batch id this query committed to Redis."""
    return f"streamwise:sink:{query}:batch"


class RedisWriter(RowSinkWriter):
    """Writes micro-batches of one query as hashes or sorted sets."""

    sink_type = "redis"
    # WatchError: another writer moved the marker between our read and EXEC; re-read and decide again.
    retriable = (redis.ConnectionError, redis.TimeoutError, redis.WatchError)

    def __init__(self, sink: RedisSink, rs: RedisSettings, query: str) -> None:
        super().__init__(query, sink.retry)
        self.sink = sink
        self.client = redis.Redis(**rs.client_kwargs())
        self.marker = marker_key(query)

    def write(self, batch: Batch) -> bool:
        self._check_columns(batch)
        with self.client.pipeline(transaction=True) as pipe:
            pipe.watch(self.marker)
            last = pipe.get(self.marker)
            if last is not None and int(last) >= batch.batch_id:
                return False
            pipe.multi()
            if self.sink.structure == "hash":
                self._hashes(pipe, batch)
            else:
                self._sorted_sets(pipe, batch)
            pipe.set(self.marker, batch.batch_id)
            pipe.execute()
        return True

    def _hashes(self, pipe: redis.client.Pipeline, batch: Batch) -> None:
        sink = self.sink
        fields = sink.fields or batch.columns
        for row in sort_latest_last(batch.rows, sink.order_by):
            key = render_key(sink.key, row)
            present: dict[FieldT, EncodableT] = {f: as_text(row[f]) for f in fields if row[f] is not None}
            absent = [f for f in fields if row[f] is None]
            if present:
                pipe.hset(key, mapping=present)
            if absent:  # a null is "no value now", not a stale old one
                pipe.hdel(key, *absent)
            if sink.ttl_s:
                pipe.expire(key, sink.ttl_s)

    def _sorted_sets(self, pipe: redis.client.Pipeline, batch: Batch) -> None:
        sink = self.sink
        member, score = sink.member, sink.score
        if member is None or score is None:  # validation gives a sorted_set both
            raise SinkError(f"redis sink {sink.key!r}: a sorted_set needs member and score columns")
        members: dict[str, dict[str, float]] = defaultdict(dict)
        for row in sort_latest_last(batch.rows, sink.order_by):
            if row[member] is None or row[score] is None:
                continue
            members[render_key(sink.key, row)][as_text(row[member])] = float(row[score])
        for key, scores in members.items():
            if sink.replace:
                pipe.delete(key)
            pipe.zadd(key, scores)
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
            raise SinkDataError(f"redis sink {sink.key!r}: the batch has no column {missing} (it has {batch.columns})")


def render_key(template: str, row: dict[str, Any]) -> str:
    """The key for one row: 'user:{user_id}' -> 'user:u1'."""
    return template.format(**{c: as_text(row[c]) for c in key_columns(template)})
