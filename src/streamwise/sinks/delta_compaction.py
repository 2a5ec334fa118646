"""Periodic compaction of a streaming Delta sink: every N micro-batches, Delta's OPTIMIZE bin-packs
the small files each batch leaves into large ones, so a long run reads a bounded number of files.

Called from the sink's ``foreachBatch`` right after the batch's append, so it never races the
query's own writes. OPTIMIZE commits with ``dataChange=false``: the table's rows and any streaming
reader of it are unaffected. It is idempotent on (query, batch id): the OPTIMIZE commit carries
``streamwise-compaction <query> <batch>`` as its user metadata, and a replayed batch that finds it
in the recent history does not compact again. The replaced files stay on disk (time travel) until a
VACUUM older than the retention period removes them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from deltalake import DeltaTable

from streamwise.platform.storage import Location

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

_USER_METADATA = "spark.databricks.delta.commitInfo.userMetadata"
# A replayed batch is the last one the query began, so its OPTIMIZE (if it ran) is among the newest commits.
_HISTORY_LOOKBACK = 20


@dataclass(frozen=True)
class Compaction:
    """What one OPTIMIZE did (``skipped``: a replayed batch whose compaction had already committed)."""

    batch_id: int
    files_removed: int = 0
    files_added: int = 0
    seconds: float = 0.0
    skipped: bool = False


@dataclass(frozen=True)
class TableFiles:
    """Files of a Delta table: those its current version reads, and all data files on disk."""

    active: int
    active_bytes: int
    on_disk: int


def compaction_due(batch_id: int, every: int) -> bool:
    """True after every ``every``-th batch (batch ids count from 0: batches every-1, 2*every-1, ...)."""
    if every < 1:
        raise ValueError(f"compact_every must be 1 or more (got {every})")
    return (batch_id + 1) % every == 0


def compaction_tag(query: str, batch_id: int) -> str:
    return f"streamwise-compaction {query} {batch_id}"


class DeltaCompactor:
    """Compacts one Delta sink's table every ``every`` batches of query ``query``.

    In the sink's foreachBatch, after the append: ``compactor(batch.sparkSession, batch_id)``.
    """

    def __init__(self, path: Location | str, query: str, every: int) -> None:
        if every < 1:
            raise ValueError(f"compact_every must be 1 or more (got {every})")
        self.path = str(path)
        self.query = query
        self.every = every

    def __call__(self, spark: SparkSession, batch_id: int) -> Compaction | None:
        """OPTIMIZE when ``batch_id`` is due and its compaction has not committed yet; else None."""
        if not compaction_due(batch_id, self.every):
            return None
        tag = compaction_tag(self.query, batch_id)
        if already_compacted(self.path, tag):
            log.info("delta compaction of %s for batch %d committed before; skipped (a replay)", self.path, batch_id)
            return Compaction(batch_id, skipped=True)
        return compact(spark, self.path, batch_id=batch_id, tag=tag)


def compact(spark: SparkSession, path: Path | str, *, batch_id: int = -1, tag: str | None = None) -> Compaction:
    """Run OPTIMIZE (bin-packing compaction) on the table at ``path``, its commit tagged with ``tag``."""
    from delta.tables import DeltaTable  # delta-spark imports pyspark: only a compaction loads it

    # A session of its own: the user-metadata setting must not tag commits of other queries that
    # share the pipeline's session and write at the same moment.
    session = spark.newSession()
    if tag is not None:
        session.conf.set(_USER_METADATA, tag)
    started = time.monotonic()
    result = DeltaTable.forPath(session, str(path)).optimize().executeCompaction().collect()
    metrics = result[0]["metrics"] if result else None
    done = Compaction(
        batch_id,
        files_removed=int(metrics["numFilesRemoved"]) if metrics else 0,
        files_added=int(metrics["numFilesAdded"]) if metrics else 0,
        seconds=round(time.monotonic() - started, 3),
    )
    log.info(
        "delta compaction of %s after batch %d: %d files into %d in %.1fs",
        path,
        batch_id,
        done.files_removed,
        done.files_added,
        done.seconds,
    )
    return done


def already_compacted(path: Path | str, tag: str) -> bool:
    """True when one of the table's newest commits is an OPTIMIZE tagged ``tag``."""
    history = DeltaTable(str(path)).history(limit=_HISTORY_LOOKBACK)
    return any(c.get("operation") == "OPTIMIZE" and c.get("userMetadata") == tag for c in history)


def table_files(path: Path | str) -> TableFiles:
    """How many data files the table's current version reads (and their bytes), and how many
    Parquet files its folder holds in all (including those replaced by compaction)."""
    actions = DeltaTable(str(path)).get_add_actions(flatten=True)
    sizes = actions.column("size_bytes").to_pylist()
    root = Path(path)
    on_disk = sum(1 for p in root.rglob("*.parquet") if "_delta_log" not in p.relative_to(root).parts)
    return TableFiles(active=len(sizes), active_bytes=int(sum(sizes)), on_disk=on_disk)
