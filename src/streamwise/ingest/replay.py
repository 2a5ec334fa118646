"""Replay of recorded data: the rows of a CSV, Parquet or JSON-lines file as events, keeping their pace.

With ``event_time``, row *i* is sent ``(t_i - t_0) / speedup`` seconds after the start (never earlier
than a row before it, so a file's own disorder is kept); without a speedup (``--speedup max``), as
fast as possible. The Avro schema is inferred from the columns' Arrow types. The Kafka timestamp of
a replayed record is the time it is sent: history older than the topic's retention would otherwise
be deleted as soon as it is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as csv
import pyarrow.json as pj
import pyarrow.parquet as pq

from streamwise.ingest.avro import infer_schema
from streamwise.ingest.exceptions import IngestOptionError, ReplayError
from streamwise.ingest.scenario import EventBatch

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "json", ".ndjson": "json", ".json": "json"}


def read_file(path: Path) -> pa.Table:
    """The whole file as an Arrow table; the format comes from the suffix."""
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise ReplayError(
            f"{path}: unknown file type {path.suffix!r}", hint="use .csv, .parquet or .jsonl (JSON lines)"
        )
    if not path.is_file():
        raise ReplayError(f"{path} does not exist")
    try:
        if kind == "csv":
            return csv.read_csv(path)
        if kind == "parquet":
            return pq.read_table(path)

        return pj.read_json(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise ReplayError(f"cannot read {path} as {kind}: {exc}") from None


def parse_speedup(text: str | None) -> float | None:
    """``--speedup``: a factor above 0, or ``max`` (None: as fast as possible)."""
    if text is None or text.strip().lower() == "max":
        return None
    try:
        value = float(text)
    except ValueError:
        raise IngestOptionError(
            f"--speedup {text!r} is neither a number nor 'max'", hint="e.g. --speedup 10 or --speedup max"
        ) from None
    if not value > 0 or not np.isfinite(value):
        raise IngestOptionError(
            f"--speedup must be above 0 (got {text})", hint="use --speedup max for as fast as possible"
        )
    return value


class FileReplay:
    """A file's rows as an event source, in file order, with their send schedule."""

    key_field: str | None
    truth_flags: ClassVar[tuple[str, ...]] = ()
    stamp_event_time: ClassVar[bool] = False  # see the module's doc: sent now, whatever the event time

    def __init__(
        self, path: Path, *, event_time: str | None = None, key: str | None = None, speedup: float | None = None
    ) -> None:
        self.path = path
        self.name = path.stem
        if speedup is not None and event_time is None:
            raise IngestOptionError(
                "--speedup keeps the gaps between event times, so it needs --event-time COLUMN",
                hint="or use --speedup max",
            )
        table = read_file(path)
        for option, column in (("--event-time", event_time), ("--key", key)):
            if column is not None and column not in table.column_names:
                raise ReplayError(
                    f"{option} {column}: {path.name} has no such column",
                    hint=f"its columns: {', '.join(table.column_names)}",
                )
        self.key_field = key
        self.time_field = event_time
        nullable = {name for name in table.column_names if table.column(name).null_count}
        if event_time in nullable:
            raise ReplayError(
                f"--event-time {event_time}: {table.column(event_time).null_count} rows of {path.name} have no value"
            )
        self.schema: dict[str, Any] = infer_schema(
            table.schema, name=self.name, event_time=event_time, nullable=nullable
        )
        self.table = _wire_values(table, event_time)
        self.schedule_s = self._schedule(speedup)
        self._keys = self._key_bytes()
        self._next = 0

    def __len__(self) -> int:
        return self.table.num_rows

    @property
    def exhausted(self) -> bool:
        return self._next >= self.table.num_rows

    def batch(self, n: int, now_ms: int) -> EventBatch:
        """The next ``n`` rows (fewer at the end of the file)."""
        start, stop = self._next, min(self._next + n, self.table.num_rows)
        self._next = stop
        data = self.table.slice(start, stop - start).combine_chunks().to_batches()
        batch = data[0] if data else pa.RecordBatch.from_pylist([], schema=self.table.schema)
        return EventBatch(
            batch, self._keys[start:stop], np.arange(start, stop, dtype=np.int64), time_field=self.time_field
        )

    # -- pacing (see RateProfile for the scenarios' equivalent) ---------------------------------

    @property
    def unlimited(self) -> bool:
        return self.schedule_s is None

    def due(self, t: float) -> float:
        """Rows whose send time has come ``t`` seconds after the start."""
        if self.schedule_s is None:
            return float("inf")
        return float(np.searchsorted(self.schedule_s, t, side="right"))

    def time_of(self, count: float) -> float:
        """When row number ``count`` (0-based) is due."""
        if self.schedule_s is None or count <= 0:
            return 0.0
        return float(self.schedule_s[min(int(count), len(self.schedule_s) - 1)])

    def _schedule(self, speedup: float | None) -> np.ndarray | None:
        if speedup is None or self.time_field is None or self.table.num_rows == 0:
            return None
        times = self.table.column(self.time_field).to_numpy().astype(np.float64)
        return np.maximum.accumulate((times - times[0]) / 1000.0 / speedup)

    def _key_bytes(self) -> np.ndarray:
        if self.key_field is None:
            return np.full(self.table.num_rows, None, dtype=object)
        column = self.table.column(self.key_field)
        text = pc.cast(column, pa.string()) if not pa.types.is_binary(column.type) else column
        return np.asarray(text.cast(pa.binary()).to_numpy(zero_copy_only=False), dtype=object)


def _wire_values(table: pa.Table, event_time: str | None) -> pa.Table:
    """Columns as the schema writes them: times as epoch integers, the event time in milliseconds."""
    columns = []
    for name, column in zip(table.column_names, table.columns, strict=True):
        t = column.type
        if name == event_time:
            column = _millis(name, column)
        elif pa.types.is_timestamp(t):
            unit = "ms" if t.unit in ("s", "ms") else "us"
            column = column.cast(pa.timestamp(unit, tz=t.tz)).cast(pa.int64())
        elif pa.types.is_date(t):
            column = column.cast(pa.date32()).cast(pa.int32())
        columns.append(column)
    return pa.table(columns, names=table.column_names)


def _millis(name: str, column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Event times in epoch ms: timestamps as they are, integers taken as epoch ms, text parsed as ISO
    8601 (with or without a zone offset; without one, UTC)."""
    t = column.type
    try:
        if pa.types.is_timestamp(t):
            return column.cast(pa.timestamp("ms", tz=t.tz)).cast(pa.int64())
        if pa.types.is_date(t):
            return column.cast(pa.timestamp("ms")).cast(pa.int64())
        if pa.types.is_integer(t):
            return column.cast(pa.int64())
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            try:  # parsed in ns (any number of decimals); times without a zone are taken as UTC
                parsed = column.cast(pa.timestamp("ns"))
            except pa.ArrowInvalid:
                parsed = column.cast(pa.timestamp("ns", tz="UTC"))
            return pa.chunked_array([parsed.cast(pa.int64()).to_numpy() // 1_000_000])
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ReplayError(
            f"--event-time {name}: cannot read its values as times ({exc})",
            hint="use ISO 8601 text, a timestamp column or epoch milliseconds",
        ) from None
    raise ReplayError(
        f"--event-time {name}: a {t} column cannot hold event times",
        hint="use ISO 8601 text, a timestamp column or epoch milliseconds",
    )
