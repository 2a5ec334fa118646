"""``bench overhead``'s pure parts: the summary and ratios of timed runs, the goals, the agreement
check, and the event clock that stamps events as if paced, however fast they are produced."""

from __future__ import annotations

import json

import numpy as np
import pytest

from streamwise.bench import BenchError, BenchReport, Column
from streamwise.bench.overhead import (
    GOAL_RATIO_TO_FLOOR,
    GOAL_RATIO_TO_HAND_WRITTEN,
    StampedAt,
    _output_columns,
    agrees,
    clickstream_options,
    clickstream_spec,
    goals,
    summarize,
    throughput_ratio,
)
from streamwise.ingest.scenario import create


def test_throughput_ratio_is_baseline_seconds_over_case_seconds() -> None:
    """Setup: the same events in 50 s (baseline) and 100 s (case), and degenerate inputs.
    Invariant: the case runs at 0.5× the baseline's events/s; missing or non-positive times give None."""
    assert throughput_ratio(50.0, 100.0) == 0.5
    assert throughput_ratio(90.0, 60.0) == 1.5
    assert throughput_ratio(None, 60.0) is None
    assert throughput_ratio(60.0, 0.0) is None
    assert throughput_ratio(-1.0, 60.0) is None


def test_summarize_medians_minima_and_ratios() -> None:
    """Setup: 1,000,000 events; streamwise took 100, 120, 110 s, hand-written 60, 66, 64 s, the floor 10, 12, 11 s.
    Invariant: one row per case in the order streamwise, hand-written, floor; medians 110/64/11 s and
    minima 100/60/10 s; events/s from the median (and the best run); ratios from medians:
    streamwise 64/110 of the hand-written's throughput and 11/110 of the floor's; each baseline is 1.0 to itself."""
    rows = summarize(
        1_000_000,
        {"streamwise": [100.0, 120.0, 110.0], "hand-written": [60.0, 66.0, 64.0], "floor": [10.0, 12.0, 11.0]},
    )
    assert [r["case"] for r in rows] == ["streamwise", "hand-written", "floor"]
    ours, theirs, floor = rows
    assert (ours["median_s"], ours["min_s"], ours["runs"], ours["seconds"]) == (110.0, 100.0, 3, [100.0, 120.0, 110.0])
    assert ours["events_per_s"] == round(1_000_000 / 110, 1)
    assert ours["best_events_per_s"] == 10_000.0
    assert ours["ratio_to_hand_written"] == round(64 / 110, 3)
    assert ours["ratio_to_floor"] == 0.1
    assert theirs["ratio_to_hand_written"] == 1.0
    assert theirs["ratio_to_floor"] == round(11 / 64, 3)
    assert (floor["median_s"], floor["events_per_s"], floor["ratio_to_floor"]) == (11.0, round(1_000_000 / 11, 1), 1.0)
    assert floor["ratio_to_hand_written"] == round(64 / 11, 3)


def test_summarize_without_a_baseline_leaves_its_ratio_out() -> None:
    """Setup: only streamwise was timed (an even number of runs: the median is the mean of the middle two).
    Invariant: a single row, median 15 s, no ratios."""
    (row,) = summarize(300, {"streamwise": [10.0, 20.0], "hand-written": []})
    assert (row["case"], row["median_s"], row["events_per_s"]) == ("streamwise", 15.0, 20.0)
    assert row["ratio_to_hand_written"] is None and row["ratio_to_floor"] is None


def test_goals_are_issue_11s_ratios() -> None:
    """Setup: summaries where streamwise is 0.9× the floor and 0.5× the hand-written query.
    Invariant: the floor goal (≥ 0.8) is met, the hand-written goal (≥ 1.0) is not; each goal carries its target and value."""
    rows = summarize(1_000, {"streamwise": [10.0], "hand-written": [5.0], "floor": [9.0]})
    result = goals(rows)
    floor_goal, hand_goal = result.values()
    assert floor_goal == {"target": GOAL_RATIO_TO_FLOOR, "value": 0.9, "met": True}
    assert hand_goal == {"target": GOAL_RATIO_TO_HAND_WRITTEN, "value": 0.5, "met": False}
    assert goals(summarize(1_000, {"floor": [1.0]})) == {}


def test_agreement_needs_identical_non_empty_tables_in_every_repeat() -> None:
    """Setup: agreement records as compare_tables returns them.
    Invariant: identical non-empty tables agree; a repeat with a differing row, or tables with no
    rows at all (nothing compared), or no repeats, do not."""
    same = {
        "streamwise": {"rows": 40, "views": 1000},
        "hand_written": {"rows": 40, "views": 1000},
        "only_in_streamwise": 0,
        "only_in_hand_written": 0,
        "same": True,
    }
    differ = {
        **same,
        "hand_written": {"rows": 40, "views": 999},
        "only_in_streamwise": 1,
        "only_in_hand_written": 1,
        "same": False,
    }
    empty = {**same, "streamwise": {"rows": 0, "views": 0}, "hand_written": {"rows": 0, "views": 0}}
    assert agrees([same, same])
    assert not agrees([same, differ])
    assert not agrees([empty])
    assert not agrees([])


def test_report_json_holds_the_checks() -> None:
    """Setup: a report with a check. Invariant: its JSON carries the check beside goals and results."""
    report = BenchReport(
        "x", rows=[{"a": 1}], columns=[Column("a", "a")], checks={"same": {"passed": True, "detail": "ok"}}
    )
    data = json.loads(json.dumps(report.to_json()))
    assert data["checks"] == {"same": {"passed": True, "detail": "ok"}}
    assert data["results"] == [{"a": 1}]


def test_stamped_at_paces_event_time_not_the_wall_clock() -> None:
    """Setup: clickstream stamped at 400 events/s from T0, asked for batches of 3 and 5 with a wall
    clock that says 5 ms (as when producing flat out, or any other time).
    Invariant: the i-th event happened at T0 + i * 2.5 ms, across batches (truncated to whole ms);
    the scenario's rows, schema and key field are its own."""
    t0 = 1_800_000_000_000
    source = StampedAt(create("clickstream", seed=7), rate=400, start_ms=t0)
    plain = create("clickstream", seed=7)
    assert source.key_field == "user_id" and source.stamp_event_time and source.schema == create("clickstream").schema
    first, second = source.batch(3, now_ms=5), source.batch(5, now_ms=5)
    assert first.event_time_ms.tolist() == [t0 + 2, t0 + 5, t0 + 7]
    assert second.event_time_ms.tolist() == [t0 + 10, t0 + 12, t0 + 15, t0 + 17, t0 + 20]
    for stamped, n in ((first, 3), (second, 5)):  # the same rows as the scenario's own batches of 3 and 5
        assert stamped.data.drop_columns("event_time").equals(plain.batch(n, now_ms=t0).data.drop_columns("event_time"))
    assert source.clock_ms(400) == t0 + 1_000


def test_stamped_at_spreads_a_flat_out_run_over_its_span() -> None:
    """Setup: 1,000 events at 100 events/s, produced in one 1,000-event batch (the producer's first chunk).
    Invariant: they span 10 s of event time, ascending (not squeezed into the scenario's first span)."""
    t0 = 1_800_000_000_000
    times = StampedAt(create("clickstream", seed=7), rate=100, start_ms=t0).batch(1_000, now_ms=0).event_time_ms
    assert (times.min(), times.max()) == (t0 + 10, t0 + 10_000)
    assert (np.diff(times) == 10).all()


def test_the_shipped_clickstream_pipeline_is_what_the_hand_written_query_repeats() -> None:
    """Setup: pipelines/clickstream.yaml as shipped.
    Invariant: it loads as the shape hand_written_query repeats (JSON source, one tumbling window,
    one Delta sink), and both tables are compared on window_start, window_end, page, views."""
    spec = clickstream_spec()
    assert (spec.source.format, spec.event_time.watermark, spec.steps[0].duration) == (
        "json",
        "5 seconds",
        "10 seconds",
    )
    assert _output_columns(spec) == ["window_start", "window_end", "page", "views"]


def test_clickstream_options_default_and_refuse_what_cannot_run() -> None:
    events, repeat, partitions, rate, _ = clickstream_options("process", {}, events=4_000_000)
    assert (events, repeat, partitions, rate) == (4_000_000, 1, 3, 2_000.0)
    with pytest.raises(BenchError, match=r"bench process needs .* \(got 10, 1, 0, 2000\)"):
        clickstream_options("process", {"events": 10, "partitions": 0}, events=1)
