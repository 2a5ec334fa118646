"""Disorder on purpose (late, out of order, duplicated) and the rate profile with spikes."""

from __future__ import annotations

import numpy as np
import pytest

from streamwise.ingest.clickstream import Clickstream
from streamwise.ingest.disorder import Disorder, RateProfile, Spike
from streamwise.ingest.exceptions import IngestOptionError

NOW = 1_800_000_000_000


def batches(n: int, count: int, seed: int = 1):
    generator = Clickstream(seed=seed)
    return [generator.batch(n, NOW + i * 1000) for i in range(count)]


def test_late_fraction_and_lateness_bounds() -> None:
    """Setup: 20 batches of 10,000 events, 5% made late by up to 8 s. Invariant: the late share is
    within 4 binomial sigmas of 5%; only flagged events moved, each by 1 to 8 s; order and ids kept."""
    disorder = Disorder(late_fraction=0.05, max_lateness_ms=8_000, seed=3)
    late = total = 0
    for batch in batches(10_000, 20):
        out = disorder.apply(batch)
        shift = batch.event_time_ms - out.event_time_ms
        flagged = out.flags["is_late"]
        assert np.array_equal(out.event_ids, batch.event_ids)
        assert np.all(shift[~flagged] == 0)
        assert shift[flagged].min() >= 1_000 and shift[flagged].max() <= 8_000
        late, total = late + flagged.sum(), total + len(out)
    assert abs(late / total - 0.05) < 4 * np.sqrt(0.05 * 0.95 / total)


def test_out_of_order_shuffles_only_the_chosen_events() -> None:
    """Setup: 10 batches of 10,000 events, 10% out of order. Invariant: every event is sent once;
    events flagged out of order are exactly those no longer at their position; about 10% of events
    are flagged (a chosen event may by chance stay put); the unflagged keep their relative order."""
    disorder = Disorder(out_of_order=0.10, seed=4)
    flagged = total = 0
    for batch in batches(10_000, 10):
        out = disorder.apply(batch)
        assert sorted(out.event_ids) == list(batch.event_ids)
        moved = out.event_ids != batch.event_ids
        assert np.array_equal(np.sort(out.event_ids[moved]), np.sort(out.event_ids[out.flags["is_out_of_order"]]))
        kept = out.event_ids[~out.flags["is_out_of_order"]]
        assert np.all(np.diff(kept) > 0)
        flagged, total = flagged + out.flags["is_out_of_order"].sum(), total + len(out)
    assert 0.095 < flagged / total < 0.101


def test_duplicates_are_later_exact_copies() -> None:
    """Setup: 10 batches of 10,000 events, 2% duplicated. Invariant: the batch grows by the copies
    (about 2%); each copy has the id, key and payload of an original sent before it; originals are
    unflagged and appear once."""
    disorder = Disorder(duplicates=0.02, seed=5)
    copies = total = 0
    for batch in batches(10_000, 10):
        out = disorder.apply(batch)
        is_copy = out.flags["is_duplicate"]
        assert len(out) == len(batch) + is_copy.sum()
        assert np.array_equal(out.event_ids[~is_copy], batch.event_ids)
        rows = out.data.to_pylist()
        first_seen = {}
        for i, (event_id, copy) in enumerate(zip(out.event_ids, is_copy, strict=True)):
            if copy:
                original = first_seen[event_id]  # KeyError: a copy before its original
                assert rows[i] == rows[original] and out.keys[i] == out.keys[original]
            else:
                first_seen[event_id] = i
        copies, total = copies + is_copy.sum(), total + len(batch)
    assert abs(copies / total - 0.02) < 4 * np.sqrt(0.02 / total)


def test_no_disorder_leaves_the_batch_as_is_and_flags_nothing() -> None:
    batch = batches(1_000, 1)[0]
    out = Disorder().apply(batch)
    assert out.data.equals(batch.data)
    assert not any(flags.any() for flags in out.flags.values())
    assert set(out.flags) == {"is_late", "is_out_of_order", "is_duplicate"}


def test_same_seed_same_disorder() -> None:
    """Invariant: disorder is reproducible from its seed, independently of the scenario's stream."""
    a = Disorder(0.1, 5_000, 0.1, 0.1, seed=9).apply(batches(5_000, 1)[0])
    b = Disorder(0.1, 5_000, 0.1, 0.1, seed=9).apply(batches(5_000, 1)[0])
    assert a.data.equals(b.data) and all(np.array_equal(a.flags[k], b.flags[k]) for k in a.flags)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10x@30s", Spike(10, 30, 5)),
        ("3x@1m+20s", Spike(3, 60, 20)),
        ("2.5x@500ms+1.5s", Spike(2.5, 0.5, 1.5)),
        ("4x@12", Spike(4, 12, 5)),
    ],
)
def test_spike_syntax(text: str, expected: Spike) -> None:
    assert Spike.parse(text) == expected


@pytest.mark.parametrize(
    "text", ["10x", "x@30s", "10@30s", "10x@-3s", "10x@30s+", "0x@30s", "10x@30s+0s", "ten x at 30"]
)
def test_malformed_spike_is_refused_with_the_syntax(text: str) -> None:
    with pytest.raises(IngestOptionError, match="FACTORx@START|must be above 0"):
        Spike.parse(text)


def test_spike_profile_integrates_the_rate() -> None:
    """Setup: 1,000/s with a 10x spike from 30 s for 5 s. Invariant: events due by t are the
    integral of the rate (30k by 30 s, +50k during the spike, 1k/s after); ``time_of`` inverts it."""
    profile = RateProfile(1000, (Spike.parse("10x@30s"),))
    assert profile.rate_at(29.9) == 1000 and profile.rate_at(30) == 10_000 and profile.rate_at(35) == 1000
    assert profile.due(30) == pytest.approx(30_000)
    assert profile.due(32) == pytest.approx(50_000)
    assert profile.due(35) == pytest.approx(80_000)
    assert profile.due(40) == pytest.approx(85_000)
    for count in (1, 29_999, 30_001, 79_999, 80_000, 85_000):
        assert profile.due(profile.time_of(count)) == pytest.approx(count)
    # Within the spike, a second holds ten times the events of a second outside it.
    assert profile.due(34) - profile.due(33) == pytest.approx(10 * (profile.due(20) - profile.due(19)))


def test_rate_profile_refuses_negative_rate_and_spikes_without_rate() -> None:
    with pytest.raises(IngestOptionError, match="--rate must be 0"):
        RateProfile(-1)
    with pytest.raises(IngestOptionError, match="needs --rate above 0"):
        RateProfile(0, (Spike(10, 30),))
    assert RateProfile(0).unlimited and RateProfile(0).due(1e9) == float("inf")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"late_fraction": 1.5}, "--late-fraction must be a fraction"),
        ({"duplicates": -0.1}, "--duplicates must be a fraction"),
        ({"out_of_order": 2}, "--out-of-order must be a fraction"),
        ({"max_lateness_ms": 0}, "--max-lateness must be above 0"),
    ],
)
def test_disorder_options_out_of_range(kwargs: dict, message: str) -> None:
    with pytest.raises(IngestOptionError, match=message):
        Disorder(**kwargs)
