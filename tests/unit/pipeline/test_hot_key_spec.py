"""The spec's options for hot keys: a window's ``salt``, the ``repartition`` step and the source's
``min_partitions`` validate with the file's line, and only aggregates that merge exactly are salted."""

from __future__ import annotations

import pytest

from streamwise.pipeline import SpecError, parse_pipeline
from streamwise.pipeline.spec import RepartitionStep, WindowStep, split_aggregate

SALTED = """\
name: hot
source:
  topic: clickstream
  schema: "user_id STRING, page STRING, event_time LONG"
  min_partitions: 6
steps:
  - type: repartition
    partitions: 4
    by: [user_id]
    salt: 8
  - type: window
    kind: tumbling
    duration: 10 seconds
    by: [user_id]
    salt: 4
    aggregates:
      views: count(*)
      mean_page: avg(length(page))
sinks:
  - type: delta
    path: hot/views
"""


def error_of(text: str) -> str:
    with pytest.raises(SpecError) as err:
        parse_pipeline(text, source="p.yaml")
    return err.value.message


def test_salted_spec_parses() -> None:
    """Setup: a spec with every hot-key option. Invariant: each lands in its model as written."""
    spec = parse_pipeline(SALTED)
    assert spec.source.min_partitions == 6
    assert spec.steps[0] == RepartitionStep(type="repartition", partitions=4, by=["user_id"], salt=8)
    window = spec.steps[1]
    assert isinstance(window, WindowStep) and window.salt == 4


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("count(*)", ("count", "*")),
        ("COUNT(page)", ("count", "page")),
        ("sum(amount * 2)", ("sum", "amount * 2")),
        (" avg(length(page)) ", ("avg", "length(page)")),
        ("mean(x)", ("mean", "x")),
        ("max(coalesce(a, b))", ("max", "coalesce(a, b)")),
        ("sum(a) + sum(b)", None),
        ("count(DISTINCT user_id)", None),
        ("count(*) FILTER (WHERE page = '/a')", None),
        ("round(avg(x), 2)", None),
        ("collect_list(page)", None),
        ("sum(*)", None),
        ("sum()", None),
    ],
)
def test_split_aggregate(expr: str, expected: tuple[str, str] | None) -> None:
    """Setup: aggregate expressions as a spec writes them. Invariant: only one call of count, sum,
    min, max or avg over one argument is split; anything else is refused (None)."""
    assert split_aggregate(expr) == expected


def test_salt_refuses_an_aggregate_that_does_not_merge_at_its_line() -> None:
    message = error_of(SALTED.replace("avg(length(page))", "count(DISTINCT page)"))
    assert "p.yaml:16: steps[1].window.aggregates: mean_page: 'count(DISTINCT page)' cannot be aggregated" in message


def test_salt_refuses_session_windows_at_its_line() -> None:
    message = error_of(SALTED.replace("kind: tumbling\n    duration: 10 seconds", "kind: session\n    gap: 10 seconds"))
    assert "p.yaml:15: steps[1].window.salt: salt splits a key's rows" in message
    assert "tumbling and sliding windows only" in message


def test_salt_bounds_and_repartition_salt_needs_by() -> None:
    assert "p.yaml:15: steps[1].window.salt: Input should be greater than or equal to 2" in error_of(
        SALTED.replace("    salt: 4", "    salt: 1")
    )
    message = error_of(SALTED.replace("    by: [user_id]\n    salt: 8", "    salt: 8"))
    assert "p.yaml:9: steps[0].repartition.salt: salt splits the rows of each value of `by`" in message
    assert "p.yaml:5: source.min_partitions: Input should be greater than or equal to 1" in error_of(
        SALTED.replace("min_partitions: 6", "min_partitions: 0")
    )


def test_salt_needs_append_mode() -> None:
    message = error_of(SALTED + "output_mode: update\n")
    assert "steps[1].salt chains two streaming aggregations" in message
    assert "output_mode append only (this pipeline has update)" in message
