"""``bench peer`` on the real broker and Spark, with the real Quix Streams: on one partition (one
stream time for Quix, as Spark has one watermark) both count exactly the views an independent pandas
model of the topic predicts."""

from __future__ import annotations

from pathlib import Path

from test_bench_overhead_run import EVENT_RATE, expected_windows

from streamwise.bench import BenchContext, get
from streamwise.config import Settings

EVENTS = 3_000


def test_bench_peer_counts_the_same_views_as_pandas_with_both(
    spark, settings: Settings, broker, tmp_path: Path
) -> None:
    """Setup: the ``peer`` benchmark on the session's broker and Spark: 3,000 clickstream events at
    100 events/s of event time on one partition; Quix Streams in its own virtualenv (made in the
    cache on first use).
    Invariant: streamwise's windows and views, and Quix's views, equal the pandas count of the
    windows closed after all records; Quix's windowed stage saw every record; the ratio is
    streamwise's events/s over Quix's; the report names its goal (≥ 5×)."""
    options = {"events": EVENTS, "partitions": 1, "spark": spark, "event_rate": EVENT_RATE, "repeat": 1}
    report = get("peer").run(BenchContext(settings, options))

    expected = expected_windows(spark, settings, report.config["topic"])
    assert len(expected) >= 2 * 20  # two closed windows or more, each with many pages
    ours, theirs = report.rows
    assert (ours["case"], theirs["case"]) == ("streamwise", "quixstreams 3.28.1")
    assert (ours["windows"], ours["views"]) == (len(expected), int(expected["views"].sum()))
    assert theirs["views"] == int(expected["views"].sum())
    assert report.checks["both saw every record"]["passed"] is True
    assert ours["ratio"] == (EVENTS / ours["seconds"]) / (EVENTS / theirs["seconds"])
    assert report.goals["streamwise ÷ Quix Streams (events/s)"]["target"] == 5.0
