"""``verify``: what the generator sent (its ground truth, every run into the pipeline's source topic)
against what each sink of a pipeline holds.

What a sink must hold
    *Pass-through pipelines* (steps that keep every row: select, with_columns, score; optionally a
    ``deduplicate`` on ``event_id``) must carry ``event_id``. Every record sent must be in Delta, in
    a Kafka or Kafka alerts topic (records stamped with the sink's writer id)
    exactly as often as it was sent: an injected duplicate (``is_duplicate``) is a record of its own
    and is expected twice, unless the pipeline de-duplicates on ``event_id``. PostgreSQL keyed by
    ``event_id`` and Redis hashes whose key template names ``event_id`` hold one row per id.
    *Windowed counts* (one tumbling or sliding window step with a ``count`` aggregate): per window,
    the sent events whose event time falls in it, minus those the late-data ledger or the
    dead-letter topic holds, summed over the ``by`` groups. A window must be found once its end is
    at or before the main query's watermark (read from its checkpoint); until then it is ``open``.
    Records held by the ledger or the dead-letter topic are accounted for, never lost; the ledger is
    exact (it follows the query's own batches and watermark), so a ledgered record a sink holds
    anyway is a duplicate. So are the rows a PostgreSQL, Redis or webhook sink sent to its own
    dead-letter topic (``<name>.dlq``, the row as JSON, stamped with the sink's writer id): per event
    id in a pass-through pipeline, per window (the count of its latest dead-lettered row per key) in
    a windowed one; a row both dead-lettered and held by the sink is a duplicate. The exact
    arithmetic is :mod:`streamwise.verify.rules`.

Assumptions
    The source topic holds only what the recorded runs sent, and the pipeline has caught up (run
    verify after ``streamwise run --once``, or once a running pipeline is idle): records not yet
    processed count as lost. A running pipeline settles a batch's dead letters and ledger entries at
    its next batch, so verify a pipeline after it stopped (``run --once`` settles all of them).

Not checked (reported as such): webhooks (the receiver is not readable), consoles, Redis sorted sets,
PostgreSQL/Redis keyed by something other than the event id (they hold the latest row per key, not
every event), and append-only sinks in update mode. An unchecked sink's dead letters are counted.

Verdict
    A checked sink is ok when nothing is lost or duplicated and every row it holds can be classified:
    a row whose event id the truth never sent, or is missing or not a number (windowed: without a
    readable window start or count) is ``unknown`` and fails the sink. A pipeline's report is ok only
    when at least one sink was checked and every checked sink is ok: nothing checked proves nothing.
    Per pass-through pipeline, the source's JSON schema must name ``event_id`` (its top-level fields
    are read by :func:`streamwise.pipeline.ddl.field_names`, which agrees with Spark's parser).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from streamwise.config import Settings
from streamwise.ingest.truth import read_ground_truth, runs
from streamwise.pipeline import ddl
from streamwise.pipeline.layout import PipelineLayout
from streamwise.pipeline.spec import (
    DeduplicateStep,
    PipelineSpec,
    ScoreStep,
    SelectStep,
    WindowStep,
    WithColumnsStep,
    interval_ms,
)
from streamwise.platform.dead_letters import dlq_topic
from streamwise.platform.storage import Location, data_root
from streamwise.sinks import ConsoleSink, DeltaSink, KafkaSink, Sink, sink_location, warehouse_path
from streamwise.sinks.config import (
    DeadLetterSink,
    KafkaAlertsSink,
    PostgresSink,
    RedisSink,
    WebhookSink,
    key_columns,
)
from streamwise.verify import readers, rules
from streamwise.verify.exceptions import VerifyError

ID = "event_id"  # the generators' event id: unique within a produce run
_ROW_STEPS = (SelectStep, WithColumnsStep, ScoreStep)
_COUNT = re.compile(r"^\s*count\s*\(\s*(\*|1|`?(\w+)`?)\s*\)\s*$", re.IGNORECASE)
_WINDOW_COLUMNS = ("window_start", "window_end")


@dataclass(frozen=True)
class SinkReport:
    """One sink: what it should hold against what it holds (units: events)."""

    sink: str  # type and where, e.g. "postgres orders"
    query: str
    checked: bool
    sent: int = 0  # ground-truth records
    expected: int = 0
    found: int = 0
    lost: int = 0
    duplicated: int = 0
    late_ledgered: int = 0
    dead_lettered: int = 0
    open: int = 0  # windowed: events of windows the watermark has not closed yet
    unknown: int = 0  # rows held that cannot be classified: see rules.Tally.unknown
    lost_sample: tuple[int, ...] = ()  # event ids, or window starts (epoch ms)
    duplicated_sample: tuple[int, ...] = ()
    note: str = ""

    @property
    def ok(self) -> bool:
        """Checked, and nothing lost, duplicated or unclassifiable (``unknown``)."""
        return self.checked and self.lost == 0 and self.duplicated == 0 and self.unknown == 0


@dataclass(frozen=True)
class VerifyReport:
    """The audit of one pipeline."""

    pipeline: str
    topic: str
    rule: str  # "pass-through" or the window it counts
    runs: list[str]
    sinks: list[SinkReport] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """At least one sink was checked, and every checked sink is ok: nothing lost, duplicated or
        unclassifiable. With nothing checked there is no evidence either way, so it is not ok."""
        return self.checked and all(s.ok for s in self.sinks if s.checked)

    @property
    def checked(self) -> bool:
        return any(s.checked for s in self.sinks)

    def to_json(self) -> dict[str, Any]:
        report = asdict(self)
        report["sinks"] = [{**sink, "ok": s.ok} for sink, s in zip(report["sinks"], self.sinks, strict=True)]
        return {**report, "ok": self.ok, "checked": self.checked}


@dataclass(frozen=True)
class Shape:
    """What verify predicts for a pipeline: per event (window None) or per window."""

    window: WindowStep | None
    count_column: str | None
    once: bool  # de-duplicated on the event id

    @property
    def rule(self) -> str:
        if self.window is None:
            return "pass-through" + (", deduplicated on event_id" if self.once else "")
        w = self.window
        size = w.duration if w.kind == "tumbling" else f"{w.duration} every {w.slide}"
        return f"{w.kind} window {size}: {self.count_column} per window"


def shape_of(spec: PipelineSpec) -> Shape:
    """The rule verify checks ``spec`` by; VerifyError when the ground truth cannot predict its output."""
    supported = "pass-through steps (select, with_columns, score, deduplicate on event_id) and one tumbling or sliding window with a count"
    if spec.batch_steps:
        raise VerifyError(
            f"pipeline {spec.name}: top_n keeps a subset per batch, which the ground truth cannot predict",
            hint=f"verify checks {supported}",
        )
    if spec.output_mode == "complete":
        raise VerifyError(
            f"pipeline {spec.name}: complete mode rewrites every result each batch; verify checks append and update"
        )
    window: WindowStep | None = None
    once = False
    for number, step in enumerate(spec.steps, 1):
        if isinstance(step, _ROW_STEPS):
            continue
        if isinstance(step, DeduplicateStep) and step.keys == [ID] and window is None:
            once = True
            continue
        if isinstance(step, WindowStep) and window is None and step.kind in ("tumbling", "sliding"):
            window = step
            continue
        raise VerifyError(
            f"pipeline {spec.name}: step {number} ({step.type}) may drop or reshape rows in ways the ground truth cannot predict",
            hint=f"verify checks {supported}",
        )
    if window is None:
        fields = _source_fields(spec)
        if fields is not None and ID not in fields:
            raise VerifyError(
                f"pipeline {spec.name}: its source schema has no {ID} column, so rows cannot be matched to the ground truth",
                hint=f"add '{ID} BIGINT' to source.schema",
            )
        return Shape(None, None, once)
    return Shape(window, _count_column(spec, window), once)


def _source_fields(spec: PipelineSpec) -> list[str] | None:
    """The top-level fields of a JSON source's schema; None for Avro (its schema is in the registry)."""
    if spec.source.schema_ddl is None:
        return None
    try:
        return ddl.field_names(spec.source.schema_ddl)
    except ValueError as exc:
        raise VerifyError(
            f"pipeline {spec.name}: source.schema is not valid Spark DDL: {exc}",
            hint="write it as 'name TYPE, ...', e.g. 'event_id BIGINT, amount DECIMAL(10,2), event_time LONG'",
        ) from None


def _count_column(spec: PipelineSpec, window: WindowStep) -> str:
    never_null = {"1", "*", ID, spec.event_time.field, "event_time", *spec.source.required}
    for name, expr in window.aggregates.items():
        match = _COUNT.match(expr)
        if match and (match.group(2) or match.group(1)) in never_null:
            return name
    raise VerifyError(
        f"pipeline {spec.name}: the window has no count(*) aggregate to compare with the ground truth",
        hint="add one, e.g. aggregates: {events: count(*)}",
    )


def verify_pipeline(spec: PipelineSpec, settings: Settings) -> VerifyReport:
    """Audit every sink of ``spec`` against the ground truth of its source topic (all runs)."""
    shape = shape_of(spec)
    topic = spec.source.topic
    try:
        truth = read_ground_truth(settings.state, topic)
    except FileNotFoundError as exc:
        raise VerifyError(
            str(exc), hint=f"produce with ground truth on, e.g. `streamwise produce clickstream --topic {topic}`"
        ) from None
    audit = _Audit(spec, settings, shape, truth)
    reports = [audit.sink(index, sink) for index, sink in enumerate(spec.sinks)]
    return VerifyReport(spec.name, topic, shape.rule, [r.name for r in runs(settings.state, topic)], reports)


class _Audit:
    """The pipeline-wide facts (truth, ledger, dead letters), read once, and the check of each sink."""

    def __init__(self, spec: PipelineSpec, settings: Settings, shape: Shape, truth: pa.Table) -> None:
        self.spec, self.settings, self.shape = spec, settings, shape
        self.layout = PipelineLayout(spec.name, data_root(settings))
        self.sent = rules.multiset(truth.column(ID).to_numpy())
        self.truth = truth
        dead = readers.dead_letters(settings.kafka, dlq_topic(spec.source.topic))
        self.dead = dead[dead[ID].isin(self.sent.index)]  # bad records the generator did not send are not ours
        self.ledger = self._ledger()

    def _ledger(self) -> pd.DataFrame:
        if not (self.spec.drops_late_data and self.spec.late_records.enabled):
            return pd.DataFrame(columns=[ID, "event_time"])
        path = warehouse_path(self.spec.late_records_path, data_root(self.settings))
        columns = [c for c in (ID, "event_time", "window_start") if c in _delta_columns(path)] or ["event_time"]
        ledger = readers.delta_rows(path, columns)
        for column in ("event_time", "window_start"):
            if column in ledger:
                ledger[column] = rules.to_epoch_ms(ledger[column].dropna()) if len(ledger) else pd.Series(dtype="int64")
        return ledger

    def sink(self, index: int, sink: Sink) -> SinkReport:
        query = self.layout.sink_writer_id(index, sink.type)  # as the pipeline's writers stamp their records
        label = f"{sink.type} {sink_location(sink)}"
        dead = rules.accounted(rules.multiset(self.dead[ID]), self.sent)  # the pipeline's dead letters
        try:
            found = self._found(sink, query)
        except _Unchecked as reason:
            dead += len(self._refused(sink, query, []))
            return SinkReport(
                label, query, checked=False, sent=int(self.sent.sum()), dead_lettered=dead, note=str(reason)
            )
        if self.shape.window is None:
            refused, _ = rules.readable_ids(self._refused(sink, query, [ID])[ID])
            tally = self._per_event(found, refused, once=self.shape.once or _one_row_per_id(sink))
            ledgered, dead = self._ledgered_ids(), dead + rules.accounted(refused, self.sent)
            note = ""
        else:
            refused_starts = self._refused_windows(sink, query)
            watermark = readers.batch_watermark(self.layout.main_checkpoint)
            tally = self._per_window(found, refused_starts, watermark)
            ledgered, dead = len(self.ledger), dead + len(refused_starts)
            note = (
                f"watermark {pd.Timestamp(watermark, unit='ms', tz='UTC'):%Y-%m-%d %H:%M:%S}"
                if watermark
                else "no watermark yet"
            )
        return SinkReport(
            label,
            query,
            checked=True,
            sent=int(self.sent.sum()),
            expected=tally.expected,
            found=tally.found,
            lost=tally.lost,
            duplicated=tally.duplicated,
            late_ledgered=ledgered,
            dead_lettered=dead,
            open=tally.open,
            unknown=tally.unknown,
            lost_sample=tally.lost_sample,
            duplicated_sample=tally.duplicated_sample,
            note=note,
        )

    # --- per event -------------------------------------------------------------------------------

    def _per_event(self, found: pd.DataFrame, refused: pd.Series, *, once: bool) -> rules.Tally:
        """``refused``: the ids the sink sent to its own dead-letter topic."""
        ids, unreadable = rules.readable_ids(found[ID])  # unreadable: rows whose id is missing or not a number
        ledgered = rules.multiset(self.ledger[ID].dropna()) if ID in self.ledger else rules.multiset([])
        dead = rules.multiset(self.dead[ID])
        expected = rules.expected_per_event(self.sent, ledgered, dead, once=once, refused=refused)
        tally = rules.compare(expected, ids)
        return replace(tally, found=tally.found + unreadable, unknown=tally.unknown + unreadable)

    def _ledgered_ids(self) -> int:
        if ID not in self.ledger:
            return 0
        return rules.accounted(rules.multiset(self.ledger[ID].dropna()), self.sent)

    # --- per window ------------------------------------------------------------------------------

    def _per_window(self, found: pd.DataFrame, refused_starts: np.ndarray, watermark: int | None) -> rules.Tally:
        """``refused_starts``: one window start per event of the rows the sink dead-lettered."""
        window = self.shape.window
        assert window is not None and window.duration is not None
        duration = interval_ms(window.duration)
        slide = interval_ms(window.slide) if window.slide else None
        times = self._truth_times()
        dead = self.dead.drop_duplicates(ID) if self.shape.once else self.dead
        dead_ms = dead["event_time"].dropna().to_numpy(dtype=np.int64)
        if "window_start" in self.ledger:  # one entry per (record, window it missed)
            ledger_starts = self.ledger["window_start"].dropna().to_numpy(dtype=np.int64)
        else:  # a ledger written before entries named their window: each record missed all its windows
            ledger_starts = rules.window_starts(
                self.ledger["event_time"].dropna().to_numpy(dtype=np.int64), duration, slide
            )[1]
        removed = np.concatenate([ledger_starts, refused_starts]).astype(np.int64)
        expected = rules.expected_windows(times, dead_ms, duration, slide, removed_starts=removed)
        have, unreadable = rules.window_totals(found["start"], found["count"])
        tally = rules.compare_windows(expected, have, duration_ms=duration, watermark_ms=watermark)
        return replace(tally, unknown=tally.unknown + unreadable)  # rows without a readable start or count

    def _truth_times(self) -> np.ndarray:
        truth = self.truth.select([ID, "event_time"])
        if truth.column("event_time").null_count:
            raise VerifyError(
                f"the ground truth of {self.spec.source.topic} has events without an event time; windows cannot be counted"
            )
        if self.shape.once:  # the first copy of each id is the one counted
            frame = truth.to_pandas().drop_duplicates(ID)
            return rules.to_epoch_ms(frame["event_time"]).to_numpy()
        return pc.cast(truth.column("event_time"), pa.int64()).to_numpy()

    # --- reading the sinks -----------------------------------------------------------------------

    def _found(self, sink: Sink, query: str) -> pd.DataFrame:
        """The sink's rows: column ``event_id`` (per event) or ``start`` and ``count`` (per window)."""
        window = self.shape.window
        if isinstance(sink, WebhookSink):
            raise _Unchecked("a webhook receiver cannot be read back; its dead letters are counted")
        if isinstance(sink, ConsoleSink):
            raise _Unchecked("a console sink keeps nothing")
        if isinstance(sink, RedisSink) and sink.structure == "sorted_set":
            raise _Unchecked("a sorted set keeps scored members (e.g. a top-N), not every event or window")
        if (
            window is not None
            and self.spec.output_mode == "update"
            and isinstance(sink, DeltaSink | KafkaSink | KafkaAlertsSink)
        ):
            raise _Unchecked("in update mode an append-only sink gets each window again whenever it changes")
        columns = self._columns(sink)
        rows = readers.sink_rows(self.settings, sink, columns, query=query)
        if rows is None:
            raise _Unchecked(f"verify cannot read a {sink.type} sink")
        return rows if window is None else self._windows(rows, columns)

    def _windows(self, rows: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
        """Rows with the window's start (or end) and count ``columns`` as ``start`` (epoch ms) and ``count``."""
        assert self.shape.window is not None
        start = rows[columns[0]]
        start_ms = rules.to_epoch_ms(start.dropna()).reindex(start.index) if len(rows) else pd.Series(dtype="float64")
        if columns[0] == "window_end":
            start_ms = start_ms - interval_ms(self.shape.window.duration or "0 seconds")
        return pd.DataFrame({"start": start_ms, "count": pd.to_numeric(rows[columns[1]], errors="coerce")})

    def _columns(self, sink: Sink) -> list[str]:
        """The columns to read: the event id, or the window's start (or end) and its count. A store
        keyed by something that does not identify them keeps only the latest row per key: unchecked."""
        window = self.shape.window
        if window is None:
            if isinstance(sink, PostgresSink) and ID not in sink.key:
                raise _Unchecked(f"keyed by {sink.key}: it keeps the latest row per key, not every event")
            if isinstance(sink, RedisSink) and ID not in key_columns(sink.key):
                raise _Unchecked(
                    f"key {sink.key!r} does not name {ID}: it keeps the latest row per key, not every event"
                )
            return [ID]
        assert self.shape.count_column is not None
        keys = _store_keys(sink)
        if keys is None:
            return ["window_start", self.shape.count_column]
        start = next((c for c in _WINDOW_COLUMNS if c in keys), None)
        missing = [c for c in window.by if c not in keys]
        if start is None or missing:
            raise _Unchecked(
                f"keyed by {keys}: without the window start and {window.by or 'nothing else'} a key keeps only its latest window"
            )
        if isinstance(sink, RedisSink) and sink.fields is not None and self.shape.count_column not in sink.fields:
            raise _Unchecked(f"the hashes do not store {self.shape.count_column}")
        return [start, self.shape.count_column]

    # --- the sink's own dead letters --------------------------------------------------------------

    def _refused(self, sink: Sink, query: str, columns: list[str]) -> pd.DataFrame:
        """``columns`` of the rows the sink's writer sent to its own dead-letter topic (none for a sink
        without one)."""
        if not isinstance(sink, DeadLetterSink):
            return pd.DataFrame(columns=columns)
        return readers.dead_letter_rows(self.settings.kafka, sink.dead_letter_topic(query), columns, query=query)

    def _refused_windows(self, sink: Sink, query: str) -> np.ndarray:
        """One window start per event of the window rows the sink dead-lettered, counting the latest
        dead letter per key (in update mode a window's row comes again whenever its count changes);
        rows without a readable start or count are left out."""
        assert self.shape.window is not None
        columns = self._columns(sink)
        keys = _store_keys(sink) or [columns[0], *self.shape.window.by]
        rows = self._refused(sink, query, list(dict.fromkeys([*keys, *columns])))
        windows = self._windows(rows.drop_duplicates(keys, keep="last"), columns).dropna()
        counts = windows["count"].clip(lower=0).astype(np.int64).to_numpy()
        return np.repeat(windows["start"].astype(np.int64).to_numpy(), counts)


class _Unchecked(Exception):
    """This sink cannot be compared with the ground truth (the message says why)."""


def _store_keys(sink: Sink) -> list[str] | None:
    """The columns a keyed store's rows are keyed by: PostgreSQL's key, a Redis key template's columns."""
    if isinstance(sink, PostgresSink):
        return sink.key
    if isinstance(sink, RedisSink):
        return key_columns(sink.key)
    return None


def _one_row_per_id(sink: Sink) -> bool:
    """Stores keyed by the event id hold one row per id, however often it was sent."""
    return isinstance(sink, PostgresSink | RedisSink)


def _delta_columns(path: Location) -> list[str]:

    try:
        return [f.name for f in DeltaTable(str(path)).schema().fields]
    except TableNotFoundError:
        return []
