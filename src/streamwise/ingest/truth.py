"""Ground truth: what a produce run sent, one row per record, as Parquet under the state folder.

``STATE/ground_truth/<topic>/<run_id>/`` holds ``events.parquet`` (send order ``seq``, ``key``,
``event_id``, ``event_time`` and the flags: ``is_late``, ``is_out_of_order``, ``is_duplicate`` and
the scenario's own, e.g. ``is_anomaly``), the writer's Avro schema ``schema.avsc`` and ``run.json``
(what was run, with which options, and the counts). Tests and ``verify`` compare Kafka and the
sinks against it.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from streamwise.ingest.scenario import EventBatch

_ROW_GROUP = 256 * 1024
# Sequences and times compress to almost nothing as deltas; only the key repeats enough for a dictionary.
_ENCODINGS = {"seq": "DELTA_BINARY_PACKED", "event_id": "DELTA_BINARY_PACKED", "event_time": "DELTA_BINARY_PACKED"}


def truth_root(state: Path, topic: str) -> Path:
    return state / "ground_truth" / topic


class GroundTruthWriter:
    """Appends the records of each sent batch; ``close`` finishes the file and records the counts."""

    def __init__(
        self, state: Path, topic: str, *, schema: dict[str, Any], key_field: str | None, meta: dict[str, Any]
    ) -> None:
        self.run_id = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + f"-{os.getpid()}"
        self.dir = truth_root(state, topic) / self.run_id
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / "events.parquet"
        self.key_field = key_field
        self.meta = {"run_id": self.run_id, "topic": topic, "started": time.time(), **meta}
        (self.dir / "schema.avsc").write_text(json.dumps(schema, indent=2))
        self._write_meta()
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0
        self._writer: pq.ParquetWriter | None = None
        # Parquet writing releases the GIL: a thread of its own keeps it off the producing loop.
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ground-truth")
        self._writing: Future[None] | None = None
        self.rows = 0

    def write(self, batch: EventBatch) -> None:
        """Record ``batch`` (in its send order) as sent after the ``rows`` records recorded so far."""
        n = len(batch)
        if self.key_field is not None:  # a categorical key stays one: Parquet stores it as such
            key = batch.data.column(self.key_field)
            key = key if pa.types.is_dictionary(key.type) else pc.cast(key, pa.string())
        else:
            key = pa.nulls(n, pa.string())
        ms = batch.event_time_ms
        times = (
            pa.array(ms).cast(pa.timestamp("ms", tz="UTC"))
            if ms is not None
            else pa.nulls(n, pa.timestamp("ms", tz="UTC"))
        )
        columns = {
            "seq": pa.array(np.arange(self.rows, self.rows + n, dtype=np.int64)),
            "key": key,
            "event_id": pa.array(batch.event_ids),
            "event_time": times,
            **{name: pa.array(values) for name, values in sorted(batch.flags.items())},
        }
        self._pending.append(pa.RecordBatch.from_pydict(columns))
        self._pending_rows += n
        self.rows += n
        if self._pending_rows >= _ROW_GROUP:
            self._flush()

    def close(self, **summary: Any) -> Path:
        """Write what is pending, close the file, and add ``summary`` (counts) to ``run.json``."""
        self._flush()
        self._wait()
        self._pool.shutdown()
        if self._writer is not None:
            self._writer.close()
        self.meta.update(summary, finished=time.time(), records=self.rows)
        self._write_meta()
        return self.dir

    def _flush(self) -> None:
        if not self._pending:
            return
        table = pa.Table.from_batches(self._pending)
        self._pending, self._pending_rows = [], 0
        self._wait()  # one row group at a time, in order
        self._writing = self._pool.submit(self._write, table)

    def _write(self, table: pa.Table) -> None:
        if self._writer is None:
            self._writer = pq.ParquetWriter(
                self.path,
                table.schema,
                compression="zstd",
                use_dictionary=["key"],
                write_statistics=False,
                column_encoding=_ENCODINGS,
            )
        self._writer.write_table(table, row_group_size=_ROW_GROUP)

    def _wait(self) -> None:
        if self._writing is not None:
            self._writing.result()  # re-raises a failed write here
            self._writing = None

    def _write_meta(self) -> None:
        (self.dir / "run.json").write_text(json.dumps(self.meta, indent=2, default=str))


def runs(state: Path, topic: str) -> list[Path]:
    """The ground-truth folders of every run into ``topic``, oldest first."""
    root = truth_root(state, topic)
    return sorted(p for p in root.iterdir() if (p / "run.json").is_file()) if root.is_dir() else []


def read_ground_truth(state: Path, topic: str, run_id: str | None = None) -> pa.Table:
    """The records sent to ``topic`` (by every run, or by ``run_id``), with a ``run_id`` column."""
    tables = []
    for run in runs(state, topic):
        if (run_id is None or run.name == run_id) and (run / "events.parquet").is_file():
            table = pq.read_table(run / "events.parquet")
            table = table.set_column(table.schema.get_field_index("key"), "key", table.column("key").cast(pa.string()))
            tables.append(table.append_column("run_id", pa.array([run.name] * table.num_rows, pa.string())))
    if not tables:
        raise FileNotFoundError(f"no ground truth for topic {topic} under {truth_root(state, topic)}")
    return pa.concat_tables(tables, promote_options="default")
