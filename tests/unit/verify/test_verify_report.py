"""``verify``'s verdict on hand-made reports (no services): a report with nothing checked is not ok,
a sink holding rows it cannot classify is not ok, and ``streamwise verify`` says so and exits non-zero."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer import Typer
from typer.testing import CliRunner

from streamwise.cli.verify import EXIT_NOT_EXACT, EXIT_NOTHING_CHECKED, verdict, verify
from streamwise.verify import SinkReport, VerifyReport

UNCHECKED_WEBHOOK = SinkReport(
    "webhook http://hooks.local/x",
    "p_webhook_0",
    checked=False,
    sent=10,
    dead_lettered=1,
    note="a webhook receiver cannot be read back; its dead letters are counted",
)
UNCHECKED_CONSOLE = SinkReport("console ", "p_console_1", checked=False, sent=10, note="a console sink keeps nothing")
EXACT_DELTA = SinkReport("delta p/out", "p_delta_2", checked=True, sent=10, expected=10, found=10)
UNKNOWN_POSTGRES = SinkReport(
    "postgres orders", "p_postgres_3", checked=True, sent=10, expected=10, found=13, unknown=3
)


def report(*sinks: SinkReport, rule: str = "pass-through") -> VerifyReport:
    return VerifyReport("p", "t", rule, ["run-1"], list(sinks))


def test_a_report_with_nothing_checked_is_not_ok() -> None:
    """Setup: a pipeline whose only sinks are a webhook and a console (neither can be read back), and
    one with no sinks at all.
    Invariant: checked False and ok False for both (no evidence is not a pass); each unchecked sink is
    not ok either, although it has nothing lost or duplicated."""
    for r in (report(UNCHECKED_WEBHOOK, UNCHECKED_CONSOLE), report()):
        assert (r.checked, r.ok) == (False, False)
    assert (UNCHECKED_WEBHOOK.ok, UNCHECKED_WEBHOOK.lost, UNCHECKED_WEBHOOK.duplicated) == (False, 0, 0)


def test_one_exact_checked_sink_makes_the_report_ok_whatever_cannot_be_checked() -> None:
    """Setup: an exact Delta sink next to an unchecked webhook.
    Invariant: checked True, ok True; the webhook does not count against it."""
    r = report(UNCHECKED_WEBHOOK, EXACT_DELTA)
    assert (r.checked, r.ok, EXACT_DELTA.ok) == (True, True, True)


def test_rows_that_cannot_be_classified_fail_the_sink_and_the_report() -> None:
    """Setup: a PostgreSQL sink with nothing lost or duplicated but 3 unknown rows (never sent, or
    without a readable event_id), next to an exact Delta sink.
    Invariant: that sink is not ok, the report is not ok; the JSON says so per sink."""
    r = report(EXACT_DELTA, UNKNOWN_POSTGRES)
    assert (UNKNOWN_POSTGRES.lost, UNKNOWN_POSTGRES.duplicated, UNKNOWN_POSTGRES.ok) == (0, 0, False)
    assert (r.checked, r.ok) == (True, False)
    as_json = r.to_json()
    assert (as_json["ok"], as_json["checked"]) == (False, True)
    assert [(s["sink"], s["unknown"], s["ok"]) for s in as_json["sinks"]] == [
        ("delta p/out", 0, True),
        ("postgres orders", 3, False),
    ]


def test_the_verdict_names_what_why_and_what_to_do() -> None:
    """Setup: the three reports above: nothing checked, unknown rows (per event and per window), and
    an exact sink next to an unchecked one.
    Invariant: exit 2 with each sink's reason and the sinks verify can read; exit 1 naming the sink,
    how many rows and what to do; exit 0 saying how many sinks were checked and that one was not."""
    code, lines = verdict(report(UNCHECKED_WEBHOOK, UNCHECKED_CONSOLE))
    assert code == EXIT_NOTHING_CHECKED == 2
    assert lines == [
        "[bold red]✗[/] nothing verified: no sink of p can be compared with the ground truth, so there is no "
        "evidence that it holds what was sent",
        "  webhook http://hooks.local/x: a webhook receiver cannot be read back; its dead letters are counted",
        "  console : a console sink keeps nothing",
        "  to verify it, add a sink verify can read back: delta, kafka or kafka_alerts, postgres or a redis hash keyed "
        "by event_id (windowed counts: keyed by window_start and the window's by columns)",
    ]
    assert verdict(report())[1][1] == "  the pipeline has no sinks"

    code, lines = verdict(report(EXACT_DELTA, UNKNOWN_POSTGRES))
    assert code == EXIT_NOT_EXACT == 1
    assert lines == [
        "[bold red]✗[/] postgres orders holds 3 rows verify cannot classify (never sent by a recorded run, or without "
        "a readable event_id): they are not output of the recorded runs, so the sink is not exact. If something else "
        "writes there (another pipeline, a manual insert, a run whose ground truth was deleted), give this pipeline "
        "its own sink or remove those rows, then verify again",
    ]
    windowed = SinkReport("delta p/views", "p_delta_0", checked=True, sent=5, expected=5, found=5, unknown=1)
    code, lines = verdict(report(windowed, rule="tumbling window 10 seconds: views per window"))
    assert code == 1 and "holds 1 row verify cannot classify (without a readable window start or count)" in lines[0]

    lost = SinkReport("delta p/out", "p_delta_0", checked=True, sent=10, expected=10, found=9, lost=1, unknown=1)
    code, lines = verdict(report(lost))
    assert (code, lines[0], len(lines)) == (1, "[bold red]✗[/] lost or duplicated records in delta p/out", 2)

    assert verdict(report(UNCHECKED_WEBHOOK, EXACT_DELTA)) == (
        0,
        [
            "[green]✓[/] every checked sink holds exactly what it should (pass-through; 1 checked; 1 not checked (see note))"
        ],
    )


@pytest.mark.parametrize(
    ("sinks", "exit_code", "says"),
    [
        (
            (UNCHECKED_WEBHOOK, UNCHECKED_CONSOLE),
            2,
            "nothing verified: no sink of p can be compared with the ground truth",
        ),
        ((EXACT_DELTA, UNKNOWN_POSTGRES), 1, "postgres orders holds 3 rows verify cannot classify"),
        ((UNCHECKED_WEBHOOK, EXACT_DELTA), 0, "every checked sink holds exactly what it should"),
    ],
)
def test_streamwise_verify_exits_non_zero_unless_something_was_checked_and_exact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sinks: tuple[SinkReport, ...], exit_code: int, says: str
) -> None:
    """Setup: `streamwise verify p.yaml --json r.json` with the audit replaced by a fixed report
    (nothing checked / unknown rows / exact).
    Invariant: exit 2 / 1 / 0, the verdict in the output, the table's unknown column, and the JSON's
    ok and checked."""
    import streamwise.verify

    monkeypatch.setattr(streamwise.verify, "verify_pipeline", lambda spec, settings: report(*sinks))
    spec = tmp_path / "p.yaml"
    spec.write_text(
        "name: p\nsource: {topic: t, schema: 'event_id BIGINT, event_time LONG'}\nsinks: [{type: delta, path: p/out}]\n"
    )
    app = Typer()
    app.command()(verify)
    result = CliRunner().invoke(
        app,
        [str(spec), "--json", str(tmp_path / "r.json")],
        env={"COLUMNS": "400", "NO_COLOR": "1", "STREAMWISE_STATE_DIR": str(tmp_path)},
    )
    assert result.exit_code == exit_code, result.output
    assert says in result.output
    assert "unknown" in result.output.splitlines()[2]  # the table's header row
    written = json.loads((tmp_path / "r.json").read_text())
    assert (written["ok"], written["checked"]) == (exit_code == 0, exit_code != 2)
