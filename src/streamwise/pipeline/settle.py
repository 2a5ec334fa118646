"""Settling the main query's batches: dead letters to ``<topic>.dlq`` and late rows to the ledger,
from exactly the offsets each batch read, judged by the watermark that batch used.

Neither reaches the sinks, so neither needs to be on the latency path. Spark tells which: each batch's progress carries the dead letters the decode counted (an
observed metric) and the rows its stateful operators dropped (``numRowsDroppedByWatermark``). A
batch with either is read again from Kafka (its offset range in the checkpoint, see
:mod:`streamwise.pipeline.batches`), decoded the same way, and its dead letters and ledger entries
are written; a batch with neither costs nothing. Batch N is settled once it has committed: once
batch N + 1 has written its sinks, by a thread of its own, so the re-read never holds up the next
batch; and at the end of a run, for the last ones, before the run returns. A live stream has a few
late rows in nearly every batch, so the thread wakes at most every ``SETTLE_EVERY_S`` and settles
every batch that ended since its last round together (up to ``GROUP_BATCHES`` at a time): one Spark
read, one Kafka transaction and one Delta commit for all of them. The newest
settled batch id is kept beside the checkpoint; a batch whose progress this process never saw
(a restart after a crash) is read again whatever it held, so nothing is skipped.

Both writes are exactly once, so batches settled again after a crash, grouped however, change
nothing: a ledger commit carries the last batch id it covers (Delta ``txnVersion``) and entries of
batches up to the committed one are left out; the dead letters are produced in one Kafka
transaction together with a marker of the last batch (a committed group offset, as the Kafka sinks
do), and batches up to the marker are not written again.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as F

from streamwise.pipeline import decode, steps
from streamwise.pipeline.batches import BatchRange, batch_range, last_committed
from streamwise.pipeline.exceptions import ForgottenBatchError, PipelineError
from streamwise.pipeline.layout import LATENCY_METRIC
from streamwise.pipeline.ledger import STATEFUL, Ledger, late_entries
from streamwise.platform.storage import write_atomic
from streamwise.sinks.kafka import Record, TransactionalLedger

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from streamwise.pipeline.avro import SubjectSchemas
    from streamwise.pipeline.plan import Pipeline

log = logging.getLogger(__name__)

DEAD_LETTER_TIMEOUT_S = 60.0
# Batches settled together: one Kafka transaction and one Delta commit for all of them, so the
# settling keeps up with batches that each drop a few late rows (a commit costs more than the rows).
GROUP_BATCHES = 20
# How often a running pipeline settles: every round is a Spark job over Kafka and a Delta commit, so
# rounds after every ~1 s batch doubled the driver's work and took CPU from the batches on the
# latency path; dead letters and ledger entries may wait this long, the sinks' rows never do.
SETTLE_EVERY_S = 10.0


@dataclass(frozen=True)
class Evidence:
    """What a batch's progress says it left behind."""

    dead: int
    dropped: int

    @property
    def anything(self) -> bool:
        return bool(self.dead or self.dropped)


UNKNOWN = Evidence(dead=1, dropped=1)  # no progress seen: read the batch again and look


def evidence(progresses: Any, since: int = 0) -> dict[int, Evidence]:
    """Per batch id from ``since`` on, from a JVM array of ``StreamingQueryProgress`` (oldest first):
    the dead letters observed and the rows dropped by the watermark (the largest seen, since an idle
    report repeats a batch id with zeros). Walks back from the newest and stops before ``since``:
    a few py4j calls per batch, not per progress kept."""
    found: dict[int, Evidence] = {}
    for index in range(len(progresses) - 1, -1, -1):
        progress = progresses[index]
        if int(progress.batchId()) < since:
            break
        observed = progress.observedMetrics().get(LATENCY_METRIC)
        dead = int(observed.getAs("dead") or 0) if observed is not None else 0
        dropped = sum(int(op.numRowsDroppedByWatermark()) for op in progress.stateOperators())
        batch_id = int(progress.batchId())
        seen = found.get(batch_id, Evidence(0, 0))
        found[batch_id] = Evidence(max(seen.dead, dead), max(seen.dropped, dropped))
    return found


class Settlement:
    """Settles one pipeline's main-query batches (see the module docstring)."""

    def __init__(self, plan: Pipeline, schemas: SubjectSchemas | None, spark: SparkSession) -> None:
        self.plan = plan
        self.schemas = schemas
        # The query manager of the session that starts the query. Not the batch's own session: Spark
        # runs a streaming query on a clone of the session, whose manager knows no query, so the
        # running query's progress can only be found through the session that started it.
        self._streams = spark._jsparkSession.streams()
        self.first_seen: int | None = None  # the first batch this process ran: its progress is ours
        stateful = [i for i, step in enumerate(plan.spec.streaming_steps) if isinstance(step, STATEFUL)]
        self.stateful_at = stateful[0] if stateful else None
        self._ledger: Ledger | None = None
        self._dead_letters: TransactionalLedger | None = None
        self._predates = self.predates_settling()  # asked before the query starts: batch 0 may commit at once
        self._query: str | None = None  # the checkpoint's query id, read once the query has started
        self._settled: int | None = None  # the marker's batch, read once: this process is its only writer
        # The settling thread: woken after each batch with the newest batch id; the first error it
        # meets fails the next batch (the query restarts from its checkpoint and settles again).
        self._newest: tuple[SparkSession, int] | None = None
        self._last_round = float("-inf")
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._failure: Exception | None = None

    @property
    def marker(self) -> Any:
        return self.plan.layout.settled_marker

    def _query_id(self) -> str:
        if self._query is None:
            self._query = self.plan.layout.query_id(self.plan.layout.main_checkpoint)
        return self._query

    def settled(self) -> int:
        """The newest settled batch id of the current checkpoint (-1 before the first; a marker of a
        checkpoint since moved away does not count)."""
        if self._settled is None:
            try:
                marker = json.loads(self.marker.read_text())
            except FileNotFoundError:
                marker = {}
            self._settled = int(marker["batch"]) if marker.get("query") == self._query_id() else -1
        return self._settled

    def _mark(self, batch_id: int) -> None:
        # atomic: a crash leaves the old marker or the new one
        write_atomic(self.marker, json.dumps({"query": self._query_id(), "batch": batch_id}))
        self._settled = batch_id

    def predates_settling(self) -> bool:
        """True for a checkpoint with committed batches but no marker: written by a version whose side
        query wrote the dead letters and the ledger itself."""
        return not self.marker.exists() and last_committed(self.plan.layout.main_checkpoint) is not None

    def adopt(self) -> None:
        """Take the batches a pre-settling checkpoint committed as settled (their side query wrote
        them): once, at the first settling of this process, when the query id is known."""
        if not self._predates:
            return
        self._predates = False
        committed = last_committed(self.plan.layout.main_checkpoint)
        if committed is not None:
            self._mark(committed)
            log.info(
                "pipeline %s: checkpoint from before settling; batches up to %d were settled by its side query",
                self.plan.spec.name,
                committed,
            )

    def ledger(self) -> Ledger | None:
        """The ledger's writer, when the pipeline keeps one (its id needs the main checkpoint's id)."""
        if self._ledger is None and self.plan.keeps_ledger and self.stateful_at is not None:
            self._ledger = Ledger(self.plan.late_records_path, self.plan.layout.ledger_writer_id())
        return self._ledger

    def dead_letter_writer(self) -> TransactionalLedger:
        """The transactional producer of the dead-letter topic, with its batch marker."""
        if self._dead_letters is None:
            self._dead_letters = TransactionalLedger(
                self.plan.settings.kafka,
                self.plan.layout.dead_letter_writer_id(),
                self.plan.dlq_topic,
                timeout_s=DEAD_LETTER_TIMEOUT_S,
            )
        return self._dead_letters

    def after_batch(self, spark: SparkSession, batch_id: int) -> None:
        """In batch ``batch_id``'s ``foreachBatch``, after its sinks: have the settling thread settle
        the committed batches before it whose progress is known (or which ran before this process),
        in a round at most ``SETTLE_EVERY_S`` after the last. Returns at once; raises the error the thread met, if any."""
        if self._failure is not None:
            raise PipelineError(f"settling the batches before {batch_id} failed: {self._failure}") from self._failure
        if self.first_seen is None:
            self.first_seen = batch_id
        self._newest = (spark, batch_id)
        if self._thread is None:
            name = f"streamwise-settle-{self.plan.spec.name}"
            self._thread = threading.Thread(target=self._settle_in_background, name=name, daemon=True)
            self._thread.start()
        self._wake.set()

    def _settle_in_background(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait()
            # A round at most every SETTLE_EVERY_S; batches that end meanwhile join it (it settles up
            # to the newest batch when it runs), and stopping does not wait for the pause to end.
            pause = self._last_round + SETTLE_EVERY_S - time.monotonic()
            if pause > 0 and self._stopping.wait(pause):
                return
            self._wake.clear()
            if self._stopping.is_set() or self._newest is None:
                return
            self._last_round = time.monotonic()
            spark, batch_id = self._newest
            try:
                query = self._streams.get(self._query_id())
                known = evidence(query.recentProgress(), since=self.settled() + 1) if query is not None else {}
                self._settle_up_to(spark, batch_id - 1, known, wait_for_progress=True)
            except Exception as exc:  # handed to the next batch, which fails with it
                log.exception("pipeline %s: settling failed", self.plan.spec.name)
                self._failure = exc
                return

    def _stop_background(self) -> None:
        """Let the settling thread finish the round it is on, and stop it."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def finish(self, spark: SparkSession, progresses: Any) -> None:
        """After the main query stopped: settle every committed batch left, with its final progress."""
        self._stop_background()
        committed = last_committed(self.plan.layout.main_checkpoint)
        try:
            if committed is not None:
                self._settle_up_to(
                    spark, committed, evidence(progresses, since=self.settled() + 1), wait_for_progress=False
                )
        finally:
            if self._dead_letters is not None:
                self._dead_letters.close()
                self._dead_letters = None

    def _settle_up_to(
        self, spark: SparkSession, last: int, known: dict[int, Evidence], *, wait_for_progress: bool
    ) -> None:
        self.adopt()
        ready = []
        for batch_id in range(self.settled() + 1, last + 1):
            ours = self.first_seen is not None and batch_id >= self.first_seen
            if batch_id not in known and ours and wait_for_progress:
                break  # its progress is on its way: a later round settles it
            ready.append(batch_id)
        for start in range(0, len(ready), GROUP_BATCHES):
            group = ready[start : start + GROUP_BATCHES]
            self.settle(spark, [(batch_id, known.get(batch_id, UNKNOWN)) for batch_id in group])
            self._mark(group[-1])

    def settle(self, spark: SparkSession, group: list[tuple[int, Evidence]]) -> None:
        """Read again the batches of ``group`` (consecutive ids, oldest first) that left something
        behind, and write it: their dead letters in one Kafka transaction, their ledger entries in
        one Delta commit, each marked with the group's last batch id."""
        last = group[-1][0]
        batches = [(batch, found) for batch, found in self._ranges(group) if not batch.empty]
        if not batches:
            return
        parsed = {batch.batch_id: self.plan.parsed(spark, self.schemas, batch=batch).persist() for batch, _ in batches}
        try:
            dead = [decode.dead_letters(parsed[batch.batch_id]) for batch, found in batches if found.dead]
            if dead:
                self._write_dead_letters(dead, [batch.batch_id for batch, found in batches if found.dead], last)
            ledger = self.ledger()
            dropping = [(batch, parsed[batch.batch_id]) for batch, found in batches if found.dropped]
            if dropping and ledger is not None:
                self._write_ledger(ledger, dropping, last)
            log.info(
                "pipeline %s: settled batches %d-%d (%s)",
                self.plan.spec.name,
                group[0][0],
                last,
                ", ".join(f"{batch.batch_id}: {_why(found)}" for batch, found in batches),
            )
        finally:
            for frame in parsed.values():
                frame.unpersist()

    def _ranges(self, group: list[tuple[int, Evidence]]) -> Iterator[tuple[BatchRange, Evidence]]:
        """The offset ranges of the batches in ``group`` that left something behind."""
        for batch_id, found in group:
            if not found.anything:
                continue
            try:
                yield batch_range(self.plan.layout.main_checkpoint, batch_id, self.plan.spec.source.topic), found
            except ForgottenBatchError as exc:
                # Only a checkpoint left unsettled for 100 batches (by a version that could not
                # see its running query's progress) gets here; stopping would not bring it back.
                log.warning(
                    "pipeline %s: batch %d can no longer be settled, its dead letters and late rows are not written: %s",
                    self.plan.spec.name,
                    batch_id,
                    exc.message,
                )

    def _write_ledger(self, ledger: Ledger, dropping: list[tuple[BatchRange, DataFrame]], last: int) -> None:
        """The late rows of each batch, judged by that batch's own late-row watermark, in one commit."""
        parts = [
            late_entries(
                self._at_stateful_step(decode.valid(rows)), self._stateful_step, batch.late_watermark_ms
            ).withColumn("ledger_batch_id", F.lit(batch.batch_id))
            for batch, rows in dropping
        ]
        entries = functools.reduce(lambda a, b: a.unionByName(b), parts).persist()
        try:
            if entries.count():
                ledger.append(entries, last)
        finally:
            entries.unpersist()

    def _write_dead_letters(self, dead: list[DataFrame], batch_ids: list[int], last: int) -> None:
        """The dead letters of the batches ``batch_ids`` in one transaction with the marker of batch
        ``last``, leaving out the batches an earlier settling committed. They stream to the driver a
        partition at a time (``toLocalIterator``): never more than a few batches' bad records."""
        writer = self.dead_letter_writer()
        todo = [frame for frame, batch_id in zip(dead, batch_ids, strict=True) if batch_id >= writer.next_batch()]
        if not todo:
            return
        rows = functools.reduce(lambda a, b: a.unionByName(b), todo).toLocalIterator()
        first = next(rows, None)
        if first is None:
            return  # read again without evidence (a restart) and nothing was bad: no transaction
        topic = self.plan.dlq_topic
        writer.commit(
            (
                Record(
                    topic,
                    None if row["key"] is None else bytes(row["key"]),
                    bytes(row["value"]),
                    [(h["key"], bytes(h["value"])) for h in row["headers"]],
                )
                for row in itertools.chain([first], rows)
            ),
            last,
        )

    @property
    def _stateful_step(self) -> Any:
        assert self.stateful_at is not None
        return self.plan.spec.streaming_steps[self.stateful_at]

    def _at_stateful_step(self, rows: DataFrame) -> DataFrame:
        """The rows as they reach the first stateful step: through the stateless steps before it."""
        assert self.stateful_at is not None
        for step in self.plan.spec.streaming_steps[: self.stateful_at]:
            rows = steps.apply(rows, step, self.plan.settings)
        return rows


def _why(found: Evidence) -> str:
    if found is UNKNOWN:
        return "progress not seen by this process"
    return f"{found.dead:,} dead letters, {found.dropped:,} rows dropped by the watermark"
