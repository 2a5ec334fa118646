"""``bench report``: results JSON in a folder become one markdown page with tables, goals and plots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streamwise.bench.exceptions import BenchError
from streamwise.bench.report import render


def write(folder: Path, name: str, rows: list[dict], goals: dict | None = None) -> None:
    (folder / f"{name}.json").write_text(
        json.dumps(
            {
                "benchmark": name,
                "created": "2026-11-28T12:00:00Z",
                "machine": {"cpus": 2, "platform": "Linux"},
                "config": {},
                "results": rows,
                "goals": goals or {},
                "checks": {},
                "notes": ["a note"],
            }
        )
    )


def test_a_folder_of_results_becomes_one_page_with_tables_goals_and_plots(tmp_path: Path) -> None:
    """Setup: a latency result (two rates, a per-batch series) and a peer result (two cases, a goal
    missed), and a JSON file that is not a result.
    Invariants: report.md has a section per result, in name order; each table lists the rows' plain
    values (the series stays in the JSON) formatted for reading; goals carry ✓/✗ and their sign; a
    PNG per benchmark is written and linked; the other JSON is ignored."""
    write(
        tmp_path,
        "peer",
        [
            {"case": "streamwise", "events_per_s": 91362.4, "ratio": 4.9},
            {"case": "quixstreams", "events_per_s": 18663.0, "ratio": 1.0},
        ],
        {"streamwise ÷ Quix Streams (events/s)": {"target": 5.0, "value": 4.9, "met": False}},
    )
    write(
        tmp_path,
        "latency",
        [
            {"rate": 2000.0, "p50_s": 1.1, "p95_s": 1.56, "p99_s": 2.1, "series": [[1, 2, 3, 4]]},
            {"rate": 20000.0, "p50_s": 1.23, "p95_s": 1.65, "p99_s": 2.14, "series": []},
        ],
        {"p99 at 20,000 events/s offered (s, at most)": {"target": 1.5, "value": 2.14, "met": False, "at_most": True}},
    )
    (tmp_path / "other.json").write_text('{"not": "a result"}')

    page = render(tmp_path).read_text()
    assert page.index("## latency") < page.index("## peer") and "## other" not in page
    assert (
        "| rate | p50_s | p95_s | p99_s |" in page
        and "| 20,000 | 1.23 | 1.65 | 2.14 |" in page
        and "series" not in page
    )
    assert "| streamwise | 91,362 | 4.90 |" in page
    assert "- ✗ p99 at 20,000 events/s offered (s, at most): 2.14 (goal ≤ 1.5)" in page
    assert "- ✗ streamwise ÷ Quix Streams (events/s): 4.90 (goal ≥ 5.0)" in page
    for name in ("latency", "peer"):
        assert (tmp_path / f"{name}.png").read_bytes().startswith(b"\x89PNG") and f"![{name}]({name}.png)" in page


def test_an_empty_folder_is_a_clear_error(tmp_path: Path) -> None:
    """Invariant: no results means a BenchError naming the folder and how to make some."""
    with pytest.raises(BenchError, match=str(tmp_path)) as caught:
        render(tmp_path)
    assert "--output" in caught.value.hint
