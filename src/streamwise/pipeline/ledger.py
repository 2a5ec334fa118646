"""The late-data ledger: records that arrive behind the watermark go to a Delta table with how late
they were, instead of vanishing inside Spark's stateful operators.

The ledger is its own query over the same source, writing in ``foreachBatch``. It applies Spark's
rule: the watermark used in batch N is (max event time seen in batches before N) - delay, and a
stateful operator drops input rows at or behind it. The running maximum and each batch's
watermark are kept in the ledger's checkpoint folder, so a replayed or restarted batch uses the
same watermark (a stateless query's own watermark is not carried across a restart by Spark, which
is why the ledger does not use it). Writes are idempotent on (query, batch id) through Delta's
``txnAppId``/``txnVersion``.

What the ledger holds is "behind the watermark when it arrived", an upper bound of what the windows
dropped, not always the same set: Spark filters late input against the *previous* batch's
watermark, and runs a no-data batch (which advances it) only when no new data is waiting. Across a
restart with ``availableNow`` the two agree (tested); in a run of back-to-back data batches Spark
may still count some ledgered rows (``streamwise verify`` treats a ledgered row as neither lost nor
duplicated either way). Mirroring Spark exactly means following the main query's own batches.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def late_rows(batch: DataFrame, watermark_ms: int) -> DataFrame:
    """Rows at or behind the watermark, with the watermark and their lateness in milliseconds."""
    watermark = F.timestamp_millis(F.lit(watermark_ms))
    return batch.where(F.col("event_time") <= watermark).select(
        "*",
        watermark.alias("watermark"),
        (F.lit(watermark_ms) - F.unix_millis("event_time")).alias("lateness_ms"),
    )


KEEP_BATCHES = 100  # entries kept behind the newest: replays only ever go back one batch


class WatermarkLog:
    """Per-batch watermark and running max event time, one small JSON file per batch."""

    def __init__(self, folder: Path, delay_ms: int) -> None:
        self.folder = folder
        self.delay_ms = delay_ms
        self._newest: tuple[int, int | None] | None = None  # (batch id, max seen): the newest entry, once known

    def _entry(self, batch_id: int) -> Path:
        return self.folder / f"{batch_id}.json"

    def _read(self, batch_id: int) -> dict[str, int | None]:
        return json.loads(self._entry(batch_id).read_text())

    def watermark_for(self, batch_id: int) -> int:
        """The watermark of ``batch_id``: as recorded on first sight (a replay reuses it), else the
        max event time of the batches before it minus the delay (0 before any event)."""
        if self._entry(batch_id).is_file():
            return int(self._read(batch_id)["watermark_ms"] or 0)
        max_seen = self._max_before(batch_id)
        return max(0, max_seen - self.delay_ms) if max_seen is not None else 0

    def record(self, batch_id: int, watermark_ms: int, batch_max_ms: int | None) -> None:
        """Keep the batch's watermark and the running max event time including the batch."""
        if self._entry(batch_id).is_file():
            return  # a replay: the first record stands
        seen = [v for v in (self._max_before(batch_id), batch_max_ms) if v is not None]
        self.folder.mkdir(parents=True, exist_ok=True)
        entry = self._entry(batch_id)
        tmp = entry.with_suffix(".tmp")
        newest = max(seen) if seen else None
        tmp.write_text(json.dumps({"watermark_ms": watermark_ms, "max_seen_ms": newest}))
        tmp.rename(entry)  # atomic: a crash leaves either no entry or a whole one
        self._newest = (batch_id, newest)
        for old in self.folder.glob("*.json"):  # as Spark keeps its logs: the recent batches only
            if int(old.stem) < batch_id - KEEP_BATCHES:
                old.unlink(missing_ok=True)

    def _max_before(self, batch_id: int) -> int | None:
        if self._newest is not None and self._newest[0] == batch_id - 1:
            return self._newest[1]  # the usual case: the previous batch, recorded by this process
        previous = [int(p.stem) for p in self.folder.glob("*.json") if int(p.stem) < batch_id] if self.folder.is_dir() else []
        return self._read(max(previous))["max_seen_ms"] if previous else None


class LedgerWriter:
    """Appends each batch's late rows to a Delta table, once per batch (``txnAppId``/``txnVersion``)."""

    def __init__(self, checkpoint: Path, table: Path, app_id: str, delay_ms: int) -> None:
        self.log = WatermarkLog(checkpoint / "watermarks", delay_ms)
        self.table = table
        self.app_id = app_id

    def append(self, valid: DataFrame, batch_id: int, watermark_ms: int) -> None:
        """Write the rows of ``valid`` at or behind ``watermark_ms``, tagged with the batch."""
        late = late_rows(valid, watermark_ms).withColumn("ledger_batch_id", F.lit(batch_id))
        (
            late.write.format("delta")
            .mode("append")
            .option("txnAppId", self.app_id)
            .option("txnVersion", batch_id)
            .save(str(self.table))
        )
