"""What ``verify`` predicts for a pipeline spec, and the small readers that need no service: Redis key
templates and the watermark in a Spark checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streamwise.pipeline import load_pipeline, parse_pipeline, resolve
from streamwise.verify import VerifyError, shape_of
from streamwise.verify.readers import batch_watermark, key_pattern

BASE = """
name: p
source: {topic: t, schema: "event_id BIGINT, user_id STRING, page STRING, event_time LONG", required: [page]}
sinks: [{type: delta, path: p/out}]
"""


def spec_with(steps: str) -> object:
    return parse_pipeline(BASE + f"steps: {steps}\n")


def test_pass_through_steps_keep_the_per_event_rule() -> None:
    """Setup: select, with_columns and a deduplicate on event_id; then the same without deduplicate.
    Invariant: per-event rule (no window); ``once`` only with the deduplicate step."""
    steps = '[{type: with_columns, columns: {x: "1"}}, {type: deduplicate, keys: [event_id]}, {type: select, columns: {event_id: event_id, page: page}}]'
    shape = shape_of(spec_with(steps))
    assert (shape.window, shape.once, shape.rule) == (None, True, "pass-through, deduplicated on event_id")
    assert shape_of(spec_with("[]")).once is False


def test_the_shipped_clickstream_pipeline_is_checked_by_window_counts() -> None:
    """Setup: pipelines/clickstream.yaml (10 s tumbling windows by page, views: count(*)).
    Invariant: the window rule with the count column ``views``."""
    shape = shape_of(load_pipeline(resolve("clickstream")))
    assert shape.window is not None and shape.count_column == "views"
    assert shape.rule == "tumbling window 10 seconds: views per window"


@pytest.mark.parametrize(
    ("steps", "says"),
    [
        ("[{type: filter, where: \"page = '/a'\"}]", "step 1 (filter)"),
        ("[{type: deduplicate, keys: [user_id]}]", "step 1 (deduplicate)"),
        ("[{type: window, kind: session, gap: 5 seconds, aggregates: {n: count(*)}}]", "step 1 (window)"),
        ("[{type: window, duration: 5 seconds, aggregates: {s: sum(event_id)}}]", "no count(*)"),
        ("[{type: window, duration: 5 seconds, aggregates: {n: count(user_id)}}]", "no count(*)"),
        ("[{type: window, duration: 5 seconds, aggregates: {n: count(*)}}, {type: top_n, order_by: n}]", "top_n"),
    ],
)
def test_steps_whose_output_the_truth_cannot_predict_are_refused(steps: str, says: str) -> None:
    """Setup: a filter, a deduplicate on another key, a session window, windows without a count of
    never-null values, and a top_n.
    Invariant: VerifyError naming the step (or the missing count), never a made-up verdict."""
    with pytest.raises(VerifyError, match=says.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")):
        shape_of(spec_with(steps))


def test_a_count_of_a_required_field_is_a_count_of_events() -> None:
    """Setup: a window counting ``page`` (required, so never null) and one counting ``1``.
    Invariant: both are accepted as the event count."""
    assert (
        shape_of(spec_with("[{type: window, duration: 5 seconds, aggregates: {n: COUNT(page)}}]")).count_column == "n"
    )
    assert (
        shape_of(
            spec_with("[{type: window, duration: 5 seconds, aggregates: {a: max(page), n: count(1)}}]")
        ).count_column
        == "n"
    )


def test_pass_through_needs_the_event_id_in_the_schema() -> None:
    """Setup: a pass-through pipeline whose source schema lacks event_id.
    Invariant: VerifyError saying to add it."""
    spec = parse_pipeline(BASE.replace("event_id BIGINT, ", ""))
    with pytest.raises(VerifyError, match="no event_id column"):
        shape_of(spec)


def test_redis_key_templates_become_a_scan_glob_and_a_parsing_regex() -> None:
    """Setup: templates with one and two columns, and one with a literal glob character.
    Invariant: the glob matches the keys the sink writes; the regex gives back each column's text."""
    glob, regex = key_pattern("ev:{event_id}")
    assert glob == "ev:*" and regex.match("ev:42").groupdict() == {"event_id": "42"}
    glob, regex = key_pattern("views:{window_start}|{page}")
    assert glob == "views:*|*"
    assert regex.match("views:2026-01-01T00:00:00+00:00|/a").groupdict() == {
        "window_start": "2026-01-01T00:00:00+00:00",
        "page": "/a",
    }
    assert key_pattern("a*{x}")[0] == r"a\**"
    assert regex.match("other:1") is None


def test_the_watermark_is_the_newest_committed_batch_s(tmp_path: Path) -> None:
    """Setup: a checkpoint with offsets 0-2 (watermarks 0, 5000, 9000) but commits only 0 and 1;
    then an empty checkpoint.
    Invariant: 5000 (batch 2 was planned, not committed); None with no commits, and None for 0."""
    for batch, watermark in ((0, 0), (1, 5000), (2, 9000)):
        (tmp_path / "offsets").mkdir(exist_ok=True)
        (tmp_path / "offsets" / str(batch)).write_text(f"v1\n{json.dumps({'batchWatermarkMs': watermark})}\n{{}}\n")
    (tmp_path / "commits").mkdir()
    for batch in (0, 1):
        (tmp_path / "commits" / str(batch)).write_text("v1\n{}\n")
    assert batch_watermark(tmp_path) == 5000
    (tmp_path / "commits" / "1").unlink()
    assert batch_watermark(tmp_path) is None
    assert batch_watermark(tmp_path / "nowhere") is None
