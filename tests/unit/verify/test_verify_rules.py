"""The counting rules of ``verify`` on small hand-made multisets and event times (no services)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd

from streamwise.verify import rules
from streamwise.verify.rules import Tally

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def ms(*ids: int) -> pd.Series:
    return rules.multiset(list(ids))


def test_every_sent_record_held_once_is_exact() -> None:
    """Setup: ids 1, 2, 3 sent once each; the sink holds 1, 2, 3.
    Invariant: expected 3, found 3, nothing lost, duplicated or unknown."""
    expected = rules.expected_per_event(ms(1, 2, 3), ms(), ms(), once=False)
    assert rules.compare(expected, ms(1, 2, 3)) == Tally(expected=3, found=3, lost=0, duplicated=0)


def test_missing_and_doubled_ids_are_lost_and_duplicated_with_samples() -> None:
    """Setup: ids 1..4 sent once; the sink holds 1, 1, 1, 3 and 9 (never sent).
    Invariant: lost = 2 (ids 2 and 4), duplicated = 2 (two extra copies of 1), unknown = 1 (id 9)."""
    expected = rules.expected_per_event(ms(1, 2, 3, 4), ms(), ms(), once=False)
    tally = rules.compare(expected, ms(1, 1, 1, 3, 9))
    assert (tally.expected, tally.found, tally.lost, tally.duplicated, tally.unknown) == (4, 5, 2, 2, 1)
    assert (tally.lost_sample, tally.duplicated_sample) == ((2, 4), (1,))


def test_an_injected_duplicate_is_expected_twice_in_an_append_sink_but_once_in_a_keyed_one() -> None:
    """Setup: id 7 sent twice (the producer's is_duplicate copy), id 8 once.
    Invariant: an append sink (Delta, alerts) must hold 7 twice; a store keyed by the id, or a pipeline
    de-duplicating on it, once; holding it once in the append sink is a loss of 1."""
    sent = ms(7, 7, 8)
    append = rules.expected_per_event(sent, ms(), ms(), once=False)
    keyed = rules.expected_per_event(sent, ms(), ms(), once=True)
    assert append.to_dict() == {7: 2, 8: 1} and keyed.to_dict() == {7: 1, 8: 1}
    assert rules.compare(append, ms(7, 7, 8)).lost == 0
    assert rules.compare(keyed, ms(7, 8)) == Tally(expected=2, found=2, lost=0, duplicated=0)
    assert rules.compare(append, ms(7, 8)).lost == 1


def test_ledgered_and_dead_lettered_records_are_not_expected_and_not_lost() -> None:
    """Setup: ids 1..4 sent; 2 is in the late-data ledger, 3 in the dead-letter topic, and the ledger
    also holds id 50 that the truth never sent. The sink holds 1 and 4, or 1, 2 and 4, or 1, 2, 2, 3, 4.
    Invariant: expected 2, nothing lost; the ledger is exact, so the ledgered id held by the sink is
    1 duplicated, and with a second copy of it and the dead-lettered id, 3 are."""
    sent, dead = ms(1, 2, 3, 4), ms(3)
    expected = rules.expected_per_event(sent, ms(2, 50), dead, once=False)
    assert expected.to_dict() == {1: 1, 2: 0, 3: 0, 4: 1}
    assert rules.compare(expected, ms(1, 4)) == Tally(expected=2, found=2, lost=0, duplicated=0)
    assert rules.compare(expected, ms(1, 2, 4)) == Tally(
        expected=2, found=3, lost=0, duplicated=1, duplicated_sample=(2,)
    )
    assert rules.compare(expected, ms(1, 2, 2, 3, 4)).duplicated == 3


def test_rows_a_sink_dead_lettered_are_taken_off_after_the_one_row_per_id_cap() -> None:
    """Setup: ids 1..4 sent, 2 twice (an injected duplicate); a store keyed by the id dead-lettered
    id 3 once and id 2 once (one copy reached it: the copies came in one batch) or twice (two
    batches); the pipeline's dead-letter topic holds id 4; the sink's own also holds id 60, never sent.
    Invariant: expected {1: 1} in both cases: a refused row reached the sink after the cap, so one
    refused copy of 2 clears it; the sink holding 3 anyway is 1 duplicated. The same ids held
    elsewhere account for 1 (id 2 once), 2 (id 2 twice) and 1 (id 4) sent records, id 60 for none."""
    sent = ms(1, 2, 2, 3, 4)
    for refused in (ms(2, 3, 60), ms(2, 2, 3, 60)):
        expected = rules.expected_per_event(sent, ms(), ms(4), once=True, refused=refused)
        assert expected.to_dict() == {1: 1, 2: 0, 3: 0, 4: 0}
        assert rules.compare(expected, ms(1)) == Tally(expected=1, found=1, lost=0, duplicated=0)
        assert rules.compare(expected, ms(1, 3)).duplicated_sample == (3,)
    append = rules.expected_per_event(sent, ms(), ms(), once=False, refused=ms(2))
    assert append.to_dict() == {1: 1, 2: 1, 3: 1, 4: 1}
    assert [rules.accounted(held, sent) for held in (ms(2, 60), ms(2, 2, 2), ms(4))] == [1, 2, 1]


def test_tumbling_windows_align_to_the_epoch_and_end_exclusive() -> None:
    """Setup: times 0 s, 9.999 s, 10 s, 25 s after T0 (a multiple of 10 s) in 10 s tumbling windows.
    Invariant: [T0, T0+10 s) holds 2, [T0+10 s, T0+20 s) 1, [T0+20 s, T0+30 s) 1."""
    counts = rules.window_counts(np.array([T0, T0 + 9_999, T0 + 10_000, T0 + 25_000]), 10_000)
    assert counts.sort_index().to_dict() == {T0: 2, T0 + 10_000: 1, T0 + 20_000: 1}


def test_sliding_windows_count_an_event_in_each_window_that_covers_it() -> None:
    """Setup: one event at T0 + 12 s; 10 s windows every 5 s, and 10 s windows every 3 s.
    Invariant: as Spark's window(): starts T0+5 s and T0+10 s; with a 3 s slide, the four starts
    that are multiples of 3 s in (T0+2 s, T0+12 s] (T0 is a multiple of 3 s)."""
    t = np.array([T0 + 12_000])
    assert sorted(rules.window_counts(t, 10_000, 5_000).index) == [T0 + 5_000, T0 + 10_000]
    assert sorted(rules.window_counts(t, 10_000, 3_000).index) == [T0 + 3_000, T0 + 6_000, T0 + 9_000, T0 + 12_000]


def test_windows_closed_by_the_watermark_must_match_open_ones_may_be_missing() -> None:
    """Setup: sent at 1, 2, 3 s (window 0), 11 s (window 10 s) and 21, 22 s (window 20 s); the event at
    3 s was ledgered. The sink's watermark is T0 + 20 s: windows 0 and 10 s are closed, 20 s is open.
    Invariant: the exact sink (0 -> 2, 10 s -> 1) is all right with 2 open events; a count of 1 in
    window 0 is 1 lost; window 10 s written twice is 1 duplicated; an absent closed window is lost;
    an open window written with a wrong count is judged too."""
    sent = np.array([T0 + s * 1000 for s in (1, 2, 3, 11, 21, 22)])
    expected = rules.expected_windows(sent, np.array([T0 + 3_000]), 10_000)
    watermark = T0 + 20_000

    def check(found: dict[int, int]) -> Tally:
        return rules.compare_windows(
            expected, pd.Series(found, dtype="int64"), duration_ms=10_000, watermark_ms=watermark
        )

    exact = check({T0: 2, T0 + 10_000: 1})
    assert exact == Tally(expected=3, found=3, lost=0, duplicated=0, open=2)
    assert (check({T0: 1, T0 + 10_000: 1}).lost, check({T0: 2, T0 + 10_000: 2}).duplicated) == (1, 1)
    missing = check({T0 + 10_000: 1})
    assert (missing.lost, missing.lost_sample) == (2, (T0,))
    early = check({T0: 2, T0 + 10_000: 1, T0 + 20_000: 1})
    assert (early.expected, early.lost, early.open) == (5, 1, 0)


def test_without_a_watermark_every_window_is_open() -> None:
    """Setup: two events in one window, no batch committed yet (watermark None), sink empty.
    Invariant: nothing expected or lost; both events are open."""
    expected = rules.expected_windows(np.array([T0, T0 + 1]), np.array([], dtype=np.int64), 10_000)
    tally = rules.compare_windows(expected, pd.Series(dtype="int64"), duration_ms=10_000, watermark_ms=None)
    assert tally == Tally(expected=0, found=0, lost=0, duplicated=0, open=2)


def test_timestamps_from_every_store_become_the_same_epoch_milliseconds() -> None:
    """Setup: one instant as Delta gives it (datetime64 UTC), as PostgreSQL does (aware datetime),
    as Redis/Kafka JSON text (ISO 8601 with offset) and as a number.
    Invariant: all four give T0 + 1500."""
    instant = datetime.fromtimestamp((T0 + 1500) / 1000, UTC)
    forms = [
        pd.Series(pd.to_datetime([instant], utc=True)),
        pd.Series([instant], dtype=object),
        pd.Series([instant.isoformat()]),
        pd.Series([T0 + 1500]),
    ]
    assert [rules.to_epoch_ms(f).tolist() for f in forms] == [[T0 + 1500]] * 4


def test_a_window_loses_exactly_its_ledger_entries() -> None:
    """Setup: 3 events in sliding 10 s windows every 5 s, at T0+1, T0+2 and T0+7 s; the ledger says
    the event at T0+7 s was dropped from window T0 only (it is still counted in window T0+5 s), and
    a dead letter at T0+2 s left every window it falls in; the watermark is past window T0+5 s.
    Invariant: window T0-5 s expects 1, T0 1 and T0+5 s 1 (the ledger entry removes one event from
    its own window and no other); a count of 2 in window T0 is 1 duplicated."""
    sent = np.array([T0 + 1_000, T0 + 2_000, T0 + 7_000])
    expected = rules.expected_windows(sent, np.array([T0 + 2_000]), 10_000, 5_000, removed_starts=np.array([T0]))
    assert expected.sort_index().to_dict() == {T0 - 5_000: 1, T0: 1, T0 + 5_000: 1}

    def check(count: int) -> Tally:
        found = pd.Series({T0 - 5_000: 1, T0: count, T0 + 5_000: 1}, dtype="int64")
        return rules.compare_windows(expected, found, duration_ms=10_000, watermark_ms=T0 + 15_000)

    assert check(1) == Tally(expected=3, found=3, lost=0, duplicated=0)
    assert check(2) == Tally(expected=3, found=4, lost=0, duplicated=1, duplicated_sample=(T0,))
    assert (check(0).lost, check(0).lost_sample) == (1, (T0,))


def test_rows_without_a_readable_event_id_are_counted_apart() -> None:
    """Setup: a sink's event_id values as stores return them: 1 twice, 2 as text (a Redis key), 3.0
    (a JSON number), and four rows without an id: null, 'x', 2.5 and an empty string.
    Invariant: ids {1: 2, 2: 1, 3: 1}; 4 unreadable rows (they become ``unknown`` in the audit)."""
    ids, unreadable = rules.readable_ids(pd.Series([1, 1, "2", 3.0, None, "x", 2.5, ""], dtype=object))
    assert (ids.sort_index().to_dict(), unreadable) == ({1: 2, 2: 1, 3: 1}, 4)
    empty, none = rules.readable_ids(pd.Series([], dtype=object))
    assert (empty.to_dict(), none) == ({}, 0)
    exact, none = rules.readable_ids(pd.Series([2**62 + 1, 7], dtype="int64"))  # large ids stay exact
    assert (exact.sort_index().to_dict(), none) == ({7: 1, 2**62 + 1: 1}, 0)


def test_window_rows_without_a_start_or_a_count_are_counted_apart() -> None:
    """Setup: rows (start ms, count): (T0, 2), (T0, '3'), (T0 + 10 s, 1), (null, 4), (T0, 'n/a').
    Invariant: totals {T0: 5, T0 + 10 s: 1}; 2 unreadable rows, whose counts are not added anywhere."""
    starts = pd.Series([T0, T0, T0 + 10_000, None, T0], dtype="float64")
    totals, unreadable = rules.window_totals(starts, pd.Series([2, "3", 1, 4, "n/a"], dtype=object))
    assert (totals.to_dict(), unreadable) == ({T0: 5, T0 + 10_000: 1}, 2)
    assert str(totals.dtype) == "int64" and str(totals.index.dtype) == "int64"
