"""What every sink writer shares: the retry loop, status, the batch's rows streamed to the driver, and JSON."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from itertools import islice
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from streamwise.sinks._retry import RetryPolicy, call_with_retries

if TYPE_CHECKING:
    from pyspark.sql import DataFrame
    from pyspark.sql.types import DataType, StructType

log = logging.getLogger("streamwise.sinks")


@dataclass(frozen=True)
class Batch:
    """One micro-batch. ``rows`` may be iterated more than once (each retry of a write reads it again):
    a list, or :class:`DataFrameRows`, which streams them from Spark's cache."""

    query: str
    batch_id: int
    columns: list[str]
    rows: Iterable[dict[str, Any]]
    schema: StructType | None = None


@dataclass(frozen=True)
class SinkStatus:
    """How one query's sink is doing, for ``streamwise status`` and the monitor."""

    query: str
    sink: str
    last_batch: int | None = None
    batches_written: int = 0
    batches_skipped: int = 0
    retries: int = 0
    failing_since: float | None = None
    last_error: str | None = None

    @property
    def healthy(self) -> bool:
        return self.failing_since is None


_WRITERS: dict[str, SinkWriter] = {}  # the newest writer of each query in this process
_WRITERS_LOCK = threading.Lock()


def sink_status() -> list[SinkStatus]:
    """A snapshot of each query's sink writer in this process."""
    with _WRITERS_LOCK:
        return [writer.status for writer in _WRITERS.values()]


T = TypeVar("T")
P = TypeVar("P")  # what a writer makes of a micro-batch before writing it (rows, or the DataFrame itself)


class SinkWriter(ABC, Generic[P]):
    """A ``foreachBatch`` function for one sink: prepare the batch once, write it with bounded
    retries, report its status.

    ``query`` is the writer's identity (the pipeline layout's sink writer id): it keys the sink's
    idempotency marker, so it must be stable across restarts of the same checkpoint. ``write``
    returns False when the batch was committed before (a replay) and so wrote nothing.
    """

    sink_type: str
    retriable: tuple[type[BaseException], ...] = ()

    def __init__(self, query: str, retry: RetryPolicy) -> None:
        self.query = query
        self.retry = retry
        self._status = SinkStatus(query, self.sink_type)
        self._lock = threading.Lock()
        with _WRITERS_LOCK:
            _WRITERS[query] = self

    def __call__(self, df: DataFrame, batch_id: int) -> None:
        prepared = self.prepare(df, batch_id)
        what = f"{self.sink_type} sink {self.query!r}, batch {batch_id}"
        started = time.monotonic()
        try:
            written = call_with_retries(
                lambda: self.write(prepared),
                self.retry,
                retriable=self.retriable,
                what=what,
                on_retry=lambda n, exc, d: self._retrying(what, n, exc, d),
            )
        except Exception as exc:
            self._update(last_error=f"{type(exc).__name__}: {exc}")
            log.error("%s failed: %s", what, exc)
            raise
        finally:
            self.release(prepared)
        done = self.status
        if written:
            self._update(last_batch=batch_id, failing_since=None, batches_written=done.batches_written + 1)
            log.debug("%s: written in %.2fs", what, time.monotonic() - started)
        else:
            self._update(last_batch=batch_id, failing_since=None, batches_skipped=done.batches_skipped + 1)
            log.info("%s was committed before; skipped (a replay)", what)

    @abstractmethod
    def prepare(self, df: DataFrame, batch_id: int) -> P:
        """What ``write`` needs of the batch, computed once so that retries never recompute it."""

    @abstractmethod
    def write(self, batch: P) -> bool:
        """Write the batch and its marker atomically; False if the marker was already there."""

    def release(self, batch: P) -> None:
        """Free what ``prepare`` held once the batch is written or has failed for good."""

    @property
    def status(self) -> SinkStatus:
        return self._status

    def _retrying(self, what: str, attempt: int, exc: BaseException, delay: float) -> None:
        status = self.status
        self._update(
            retries=status.retries + 1,
            failing_since=status.failing_since or time.time(),
            last_error=f"{type(exc).__name__}: {str(exc).strip()[:300]}",
        )
        log.warning(
            "%s: attempt %d/%d failed (%s); retrying in %.1fs",
            what,
            attempt,
            self.retry.attempts,
            str(exc).strip()[:200],
            delay,
        )

    def _update(self, **changes: Any) -> SinkStatus:
        with self._lock:
            self._status = replace(self._status, **changes)
            return self._status


class RowSinkWriter(SinkWriter[Batch]):
    """A sink written from the driver (a database, a Kafka transaction, HTTP): the batch's rows stream
    to the driver a partition at a time while they are written with their marker.

    Never ``collect()``: a batch can be larger than the driver's memory. The batch is cached (unless
    the pipeline already did) so that a retry reads the same rows again instead of recomputing them,
    and a replayed batch, whose marker says it is done, is never computed at all.
    """

    def prepare(self, df: DataFrame, batch_id: int) -> Batch:
        return rows_of(df, self.query, batch_id)

    def release(self, batch: Batch) -> None:
        if isinstance(batch.rows, DataFrameRows):
            batch.rows.release()


class DataFrameRows:
    """A batch's rows as dicts of plain Python values (timestamps UTC-aware), streamed from Spark one
    partition at a time (``toLocalIterator``); each iteration reads them anew from the cache."""

    def __init__(self, df: DataFrame) -> None:
        self._own_cache = not df.is_cached
        self.df = df.persist() if self._own_cache else df
        self.schema = df.schema

    def __iter__(self) -> Iterator[dict[str, Any]]:
        fields = self.schema.fields
        for row in self.df.toLocalIterator(prefetchPartitions=True):
            yield {f.name: _plain(row[i], f.dataType) for i, f in enumerate(fields)}

    def release(self) -> None:
        if self._own_cache:
            self.df.unpersist()
            self._own_cache = False


def rows_of(df: DataFrame, query: str, batch_id: int) -> Batch:
    """The batch with its rows streamed from ``df`` (see :class:`DataFrameRows`)."""
    rows = DataFrameRows(df)
    return Batch(query, batch_id, [f.name for f in rows.schema.fields], rows, rows.schema)


def chunked(rows: Iterable[T], size: int) -> Iterator[list[T]]:
    """``rows`` in lists of at most ``size``: what a writer holds in memory at once."""
    it = iter(rows)
    while chunk := list(islice(it, size)):
        yield chunk


def _plain(value: Any, dtype: DataType) -> Any:
    from pyspark.sql.types import (  # sinks config is read without Spark (specs, verify)
        ArrayType,
        MapType,
        StructType,
        TimestampType,
    )

    if value is None:
        return None
    if isinstance(dtype, TimestampType):
        # collect() gives naive datetimes in the driver's local zone: make them unambiguous.
        return value.astimezone(UTC)
    if isinstance(dtype, StructType):
        return {f.name: _plain(value[i], f.dataType) for i, f in enumerate(dtype.fields)}
    if isinstance(dtype, ArrayType):
        return [_plain(v, dtype.elementType) for v in value]
    if isinstance(dtype, MapType):
        return {k: _plain(v, dtype.valueType) for k, v in value.items()}
    return value


def json_default(value: Any) -> Any:
    """JSON for the values Spark rows hold beyond JSON's own types."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def to_json(value: Any) -> str:
    """Compact, key-sorted JSON: the same row always gives the same bytes."""
    return json.dumps(value, default=json_default, sort_keys=True, separators=(",", ":"))


def as_text(value: Any) -> str:
    """A value as one string (Redis fields, Kafka keys): strings as they are, times ISO 8601, else JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    return to_json(value)


def recency(row: dict[str, Any], order_by: str | None) -> tuple[bool, Any]:
    """How recent a row is by ``order_by`` (a null is oldest): of two rows for one key, the one with
    the higher recency wins, and on a tie (or without ``order_by``) the later one."""
    if order_by is None:
        return (False, 0)
    value = row.get(order_by)
    return (value is not None, value if value is not None else 0)
