"""The counting rules of ``verify``, as pure functions over small frames (no Spark, no services).

Multisets are pandas Series: index = event id (or window start in epoch ms), value = how many.

Late records
    The late-data ledger holds exactly what a stateful step dropped behind the watermark (it follows
    the query's own batches and Spark's own rule, see :mod:`streamwise.pipeline.ledger`). So every
    sent record is counted by the sink, ledgered or dead-lettered, exactly one of the three: a
    ledgered record that a sink holds anyway is a duplicate.

Sink dead letters
    A PostgreSQL, Redis or webhook sink sends a row it cannot write to its own dead-letter topic
    (``<name>.dlq``, the row as JSON). Those rows reached the sink, after the pipeline's
    de-duplication, so they are taken off what the sink must hold after that cap, not before: a
    record is counted by the sink or dead-lettered by it, never both (both is a duplicate).

Per event (pass-through pipelines)
    ``sent(id)`` records of the ground truth carry the id, ``ledgered(id)`` of them are in the
    late-data ledger, ``dead(id)`` in the pipeline's dead-letter topic and ``refused(id)`` in the
    sink's own. A sink must hold exactly ``max(0, cap(sent - ledgered - dead) - refused)`` copies,
    where ``cap`` is ``min(1, max(0, n))`` when the sink stores one row per id (PostgreSQL keyed by it,
    a Redis hash per id) or the pipeline de-duplicates on it, else ``max(0, n)``.
    ``lost = sum(max(0, expected - found))``, ``duplicated = sum(max(0, found - expected))``; found
    ids the truth never sent are ``unknown`` (and so, in the audit, are rows whose id is missing or
    not a number).

Per window (windowed counts)
    A window's count must equal the ground-truth events whose event time falls in it, minus the
    dead-lettered ones, minus the ledger's entries for that window (the ledger names the window
    each dropped row missed: a row of sliding windows may be dropped from some of its windows and
    counted in others) and minus the count of the sink's dead-lettered row for that window (the
    latest per key: in update mode a window's row is written again whenever its count changes). A window is closed when its end is at or before the sink query's watermark;
    a closed window must be found. An open window may be absent (its events count as ``open``), but
    if present its count is judged too. Found counts are summed over the window's rows (all ``by``
    groups): ``lost`` and ``duplicated`` are the per-window shortfall and excess, in events. Rows
    without a readable window start or count are ``unknown`` (counted in rows: their events are not
    known), and left out of the counts.

Unknown rows
    A sink holding rows that cannot be classified is not exact, whatever the other counts say: they
    are output of no recorded run (another producer, a stale table, a broken writer), so the audit
    fails the sink (``SinkReport.ok`` is False) rather than ignore them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

_SAMPLE = 5


@dataclass(frozen=True)
class Tally:
    """One sink's comparison against what it should hold."""

    expected: int
    found: int
    lost: int
    duplicated: int
    unknown: int = 0  # found but unclassifiable: ids never sent; the audit adds rows without a readable id/window
    open: int = 0  # windowed: events in windows the watermark has not closed (not expected yet)
    lost_sample: tuple[int, ...] = ()  # a few ids (or window starts) short of what was expected
    duplicated_sample: tuple[int, ...] = ()


def multiset(values: pd.Series | np.ndarray | list[int]) -> pd.Series:
    """How many times each value occurs, as an int64 Series indexed by value."""
    series = pd.Series(values, dtype="int64") if not isinstance(values, pd.Series) else values.astype("int64")
    return series.value_counts(sort=False).astype("int64")


def readable_ids(values: pd.Series) -> tuple[pd.Series, int]:
    """A sink's event ids as a multiset, and how many of its rows hold none (missing, not a number,
    or not a whole number: text ids such as a Redis key's "42" are numbers)."""
    ids = pd.to_numeric(values, errors="coerce", dtype_backend="numpy_nullable")
    whole = (ids.notna() & (ids % 1 == 0)).fillna(False).astype(bool)
    return multiset(ids[whole].astype("int64")), int((~whole).sum())


def window_totals(starts_ms: pd.Series, counts: pd.Series) -> tuple[pd.Series, int]:
    """A windowed sink's count per window start (summed over its rows), and how many rows lack a
    readable start or count (they are left out)."""
    numbers = pd.to_numeric(counts, errors="coerce")
    readable = starts_ms.notna() & numbers.notna()
    totals = numbers[readable].groupby(starts_ms[readable].astype("int64")).sum().astype("int64")
    return totals.rename_axis(None).rename(None), int((~readable).sum())


def expected_per_event(
    sent: pd.Series, ledgered: pd.Series, dead: pd.Series, *, once: bool, refused: pd.Series | None = None
) -> pd.Series:
    """Copies of each sent id a sink must hold (see the module's rule); indexed like ``sent``.
    ``refused``: the ids in the sink's own dead-letter topic."""
    available = sent.sub(ledgered.reindex(sent.index, fill_value=0), fill_value=0)
    available = available.sub(dead.reindex(sent.index, fill_value=0), fill_value=0).clip(lower=0).astype("int64")
    if once:
        available = available.clip(upper=1)
    if refused is None:
        return available
    return available.sub(refused.reindex(sent.index, fill_value=0), fill_value=0).clip(lower=0).astype("int64")


def accounted(held: pd.Series, sent: pd.Series) -> int:
    """How many sent records a multiset of ids held elsewhere (the ledger, a dead-letter topic)
    accounts for: per id at most as many as were sent, ids never sent not at all."""
    return int(np.minimum(held.reindex(sent.index, fill_value=0), sent).sum())


def compare(expected: pd.Series, found: pd.Series) -> Tally:
    """Per-id comparison: shortfall below ``expected`` is lost, excess above it is duplicated, ids
    not sent at all are unknown."""
    known = found.index.isin(expected.index)
    held = found[known].reindex(expected.index, fill_value=0)
    short, extra = (expected - held).clip(lower=0), (held - expected).clip(lower=0)
    return _tally(int(expected.sum()), int(found.sum()), short, extra, unknown=int(found[~known].sum()))


def window_starts(times_ms: np.ndarray, duration_ms: int, slide_ms: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(row, window start) for every window each time falls in, as Spark's ``window()`` assigns them:
    starts aligned to the epoch every ``slide`` (tumbling: slide = duration), ``start <= t < start + duration``."""
    times = np.asarray(times_ms, dtype=np.int64)
    slide = slide_ms or duration_ms
    last = times - np.mod(times, slide)  # the latest start at or before t (floor, also before 1970)
    overlaps = -(-duration_ms // slide)
    rows = np.tile(np.arange(len(times)), overlaps)
    starts = np.concatenate([last - k * slide for k in range(overlaps)])
    inside = times[rows] < starts + duration_ms
    return rows[inside], starts[inside]


def window_counts(times_ms: np.ndarray, duration_ms: int, slide_ms: int | None = None) -> pd.Series:
    """Events per window start."""
    _, starts = window_starts(times_ms, duration_ms, slide_ms)
    return multiset(starts)


def expected_windows(
    sent_ms: np.ndarray,
    removed_ms: np.ndarray,
    duration_ms: int,
    slide_ms: int | None = None,
    removed_starts: np.ndarray | None = None,
) -> pd.Series:
    """Per window start: sent events minus removed ones, never below 0. ``removed_ms``: event times
    removed from every window they fall in (dead letters); ``removed_starts``: the start of one
    window an event was removed from (a ledger entry, an event of a row the sink dead-lettered)."""
    sent = window_counts(sent_ms, duration_ms, slide_ms)
    removed = window_counts(removed_ms, duration_ms, slide_ms)
    if removed_starts is not None and len(removed_starts):
        removed = removed.add(multiset(np.asarray(removed_starts, dtype=np.int64)), fill_value=0)
    return sent.sub(removed.reindex(sent.index, fill_value=0), fill_value=0).clip(lower=0).astype("int64")


def compare_windows(expected: pd.Series, found: pd.Series, *, duration_ms: int, watermark_ms: int | None) -> Tally:
    """Per-window comparison of counts (``found``: summed count per window start) against
    ``expected``, under the rule of the module docstring. ``watermark_ms`` None: no watermark yet,
    so every window is open."""
    starts = expected.index.union(found.index)
    want = expected.reindex(starts, fill_value=0)
    have = found.reindex(starts, fill_value=0)
    closed = (starts + duration_ms <= watermark_ms) if watermark_ms is not None else np.zeros(len(starts), dtype=bool)
    present = starts.isin(found.index)
    judged = closed | present  # an open window is judged only once it has been written
    short = (want - have).clip(lower=0).where(judged, 0)
    extra = (have - want).clip(lower=0).where(judged, 0)
    return _tally(int(want[judged].sum()), int(have.sum()), short, extra, open=int(want[~judged].sum()))


def to_epoch_ms(values: pd.Series) -> pd.Series:
    """Timestamps as epoch milliseconds, whatever a store returned: datetimes (aware or UTC-naive),
    ISO 8601 text, or numbers already in milliseconds."""
    if pd.api.types.is_numeric_dtype(values):
        return values.astype("int64")
    stamps = pd.to_datetime(values, utc=True, format="ISO8601")
    return (stamps - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)


def _tally(expected: int, found: int, short: pd.Series, extra: pd.Series, *, unknown: int = 0, open: int = 0) -> Tally:
    """A Tally from the per-id (or per-window) shortfall and excess."""
    return Tally(
        expected,
        found,
        lost=int(short.sum()),
        duplicated=int(extra.sum()),
        unknown=unknown,
        open=open,
        lost_sample=_sample(short),
        duplicated_sample=_sample(extra),
    )


def _sample(series: pd.Series) -> tuple[int, ...]:
    return tuple(int(i) for i in series[series > 0].sort_index().index[:_SAMPLE])
