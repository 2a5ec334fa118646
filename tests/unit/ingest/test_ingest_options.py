"""Bad ``produce`` options give one clear error (a StreamwiseError, printed by the CLI as one red
line with exit 1) before anything is sent; good ones resolve to a source, pace and disorder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from streamwise.ingest.disorder import RateProfile
from streamwise.ingest.exceptions import IngestOptionError, ReplayError, UnknownScenarioError
from streamwise.ingest.options import ProduceOptions, plan
from streamwise.ingest.replay import FileReplay


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "trips.csv"
    path.write_text("ts,vendor,fare\n2026-01-01T00:00:00,a,1.5\n2026-01-01T00:00:02,b,2.5\n")
    return path


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"scenario": "weather"}, UnknownScenarioError, "unknown scenario 'weather'"),
        ({}, IngestOptionError, "name a scenario or give --from-file PATH"),
        ({"scenario": "iot", "rate": -5}, IngestOptionError, "--rate must be 0 or more"),
        ({"scenario": "iot", "count": -1}, IngestOptionError, "--count must be 0 or more"),
        ({"scenario": "iot", "spikes": ("10x@",)}, IngestOptionError, "--spike '10x@' is not FACTORx@START"),
        ({"scenario": "iot", "spikes": ("10x@5s",), "rate": 0}, IngestOptionError, "needs --rate above 0"),
        ({"scenario": "iot", "late_fraction": 2.0}, IngestOptionError, "--late-fraction must be a fraction"),
        ({"scenario": "iot", "max_lateness_s": 0}, IngestOptionError, "--max-lateness must be above 0"),
        ({"scenario": "iot", "key": "x"}, IngestOptionError, "--key applies to --from-file only"),
        ({"scenario": "iot", "format": "xml"}, IngestOptionError, "--format 'xml' is not one of json, avro"),
    ],
)
def test_bad_scenario_options(options: dict, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message.replace("(", r"\(").replace("[", r"\[")):
        plan(ProduceOptions(**options))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"late_fraction": 0.1}, "--late-fraction and --max-lateness need --event-time COLUMN with --from-file"),
        ({"max_lateness_s": 5}, "--late-fraction and --max-lateness need --event-time COLUMN"),
        ({"speedup": "10"}, "--speedup keeps the gaps between event times, so it needs --event-time"),
        ({"rate": 100}, "--rate does not apply to --from-file"),
        ({"spikes": ("2x@1s",)}, "--spike does not apply to --from-file"),
        ({"scenario": "iot"}, "give a scenario \\(iot\\) or --from-file, not both"),
        ({"event_time": "ts", "speedup": "0"}, "--speedup must be above 0"),
        ({"event_time": "ts", "speedup": "fast"}, "--speedup 'fast' is neither a number nor 'max'"),
    ],
)
def test_bad_replay_options(csv_file: Path, options: dict, message: str) -> None:
    with pytest.raises(IngestOptionError, match=message):
        plan(ProduceOptions(from_file=csv_file, **options))


def test_replay_missing_column_names_the_columns_there_are(csv_file: Path) -> None:
    with pytest.raises(ReplayError, match="--event-time pickup: trips.csv has no such column") as err:
        plan(ProduceOptions(from_file=csv_file, event_time="pickup"))
    assert err.value.hint == "its columns: ts, vendor, fare"


def test_good_options_resolve_defaults(csv_file: Path) -> None:
    """Invariant: a scenario defaults to 1,000 events/s, 1% late (15 s at most) and its own name as
    topic; a replay, the file's stem as topic and, with an event time, defaults to speed 1, without one to as fast as possible."""
    p = plan(ProduceOptions(scenario="payments"))
    assert isinstance(p.pace, RateProfile) and p.pace.rate == 1000 and p.topic == "payments"
    assert p.disorder.late_fraction == 0.01 and p.disorder.max_lateness_ms == 15_000
    replay = plan(ProduceOptions(from_file=csv_file, event_time="ts", key="vendor"))
    assert isinstance(replay.source, FileReplay) and replay.topic == "trips"
    assert replay.pace.due(1.9) == 1 and replay.pace.due(2.0) == 2 and replay.disorder.late_fraction == 0
    fast = plan(ProduceOptions(from_file=csv_file, late_fraction=0.5, event_time="ts", speedup="max"))
    assert fast.pace.unlimited and fast.disorder.late_fraction == 0.5


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "streamwise", *args], capture_output=True, text=True, env=env, timeout=120
    )


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["produce", "clickstream", "--spike", "10x"], "error: --spike '10x' is not FACTORx@START[+DURATION]"),
        (
            ["produce", "--from-file", "x.csv", "--late-fraction", "0.1"],
            "error: --late-fraction and --max-lateness need --event-time COLUMN with --from-file",
        ),
        (["produce", "social", "--duplicates", "3"], "error: --duplicates must be a fraction between 0 and 1 (got 3)"),
    ],
)
def test_cli_prints_one_red_line_and_exits_1(tmp_path: Path, args: list[str], line: str) -> None:
    """Setup: the real entry point in a subprocess (no broker needed: options are checked first).
    Invariant: exit code 1, the error as one line on stderr, no traceback."""
    result = run_cli("--state-dir", str(tmp_path), *args)
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines()[0] == line
    assert "Traceback" not in result.stderr


def test_every_lazy_export_of_ingest_resolves() -> None:
    """``streamwise.ingest`` imports its modules on first use; each exported name must reach one."""
    import streamwise.ingest as ingest

    assert ingest.__all__ and all(getattr(ingest, name) is not None for name in ingest.__all__)
