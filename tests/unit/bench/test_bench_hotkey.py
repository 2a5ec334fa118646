"""bench hotkey's cases: the specs it runs and the max/median figure it reports."""

from __future__ import annotations

from streamwise.bench import benchmarks
from streamwise.bench.hotkey import _ratio, hotkey_spec
from streamwise.pipeline.spec import WindowStep


def test_cases_are_the_same_pipeline_but_for_the_remedy() -> None:
    """Setup: the three cases' specs. Invariant: one micro-batch each (unbounded), the same window
    by user; only plain lacks both salt and min_partitions, salted has salt only, split has
    min_partitions only."""
    plain = hotkey_spec("p", "t", "/tmp/p", salt=None, min_partitions=None)
    salted = hotkey_spec("s", "t", "/tmp/s", salt=8, min_partitions=None)
    split = hotkey_spec("x", "t", "/tmp/x", salt=None, min_partitions=8)
    windows = [spec.steps[0] for spec in (plain, salted, split)]
    assert all(isinstance(w, WindowStep) and w.by == ["user_id"] for w in windows)
    assert [w.salt for w in windows if isinstance(w, WindowStep)] == [None, 8, None]
    assert [s.source.min_partitions for s in (plain, salted, split)] == [None, None, 8]
    assert {s.source.max_offsets_per_trigger for s in (plain, salted, split)} == {"unbounded"}
    assert "hotkey" in benchmarks()


def test_ratio_is_max_over_median() -> None:
    assert _ratio([250, 50, 50, 50]) == 5.0
    assert _ratio([10, 10]) == 1.0
    assert _ratio([5, 0, 0]) is None  # no median to divide by
    assert _ratio([]) is None
