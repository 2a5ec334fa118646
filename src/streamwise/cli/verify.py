"""``streamwise verify PIPELINE``: the exactly-once audit of a pipeline's sinks against the ground truth."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from streamwise.cli._common import console, settings

if TYPE_CHECKING:
    from streamwise.verify import VerifyReport

EXIT_LOST_OR_DUPLICATED = 1
EXIT_NOTHING_CHECKED = 2


def verify(
    pipeline: Annotated[str, typer.Argument(help="A pipeline .yaml file, or an example name (clickstream)")],
    json_path: Annotated[Path | None, typer.Option("--json", help="Also write the report as JSON to this file", show_default=False)] = None,
) -> None:
    """Compare what the generator sent (STATE/ground_truth/TOPIC, every run) with what each sink holds:
    expected, found, lost, duplicated, late-ledgered, dead-lettered. Exit code 1 when any sink lost or
    duplicated a record, 2 when no sink could be checked.

    Run it once the pipeline has caught up (e.g. after `streamwise run PIPELINE --once`).

    Example: streamwise verify pipelines/clickstream.yaml
    """
    from streamwise.pipeline import load_pipeline, resolve
    from streamwise.verify import verify_pipeline

    spec = load_pipeline(resolve(pipeline))
    with console.status(f"reading the ground truth of {spec.source.topic} and {len(spec.sinks)} sink(s)"):
        report = verify_pipeline(spec, settings())
    console.print(report_table(report))
    for sink in report.sinks:
        if sink.lost_sample or sink.duplicated_sample:
            what = "event ids" if report.rule.startswith("pass-through") else "window starts (epoch ms)"
            console.print(f"  {sink.sink}: {what} lost {list(sink.lost_sample)}, duplicated {list(sink.duplicated_sample)}")
    if json_path is not None:
        json_path.write_text(json.dumps(report.to_json(), indent=2) + "\n")
    if not report.checked:
        console.print("[yellow]no sink of this pipeline could be checked[/]")
        raise typer.Exit(EXIT_NOTHING_CHECKED)
    if not report.ok:
        bad = [s.sink for s in report.sinks if s.checked and not s.ok]
        console.print(f"[bold red]✗[/] lost or duplicated records in {', '.join(bad)}")
        raise typer.Exit(EXIT_LOST_OR_DUPLICATED)
    console.print(f"[green]✓[/] every checked sink holds exactly what it should ({report.rule})")


def report_table(report: VerifyReport) -> Table:
    """One row per sink; lost and duplicated in red when not zero."""
    runs = f"{len(report.runs)} run{'s' if len(report.runs) != 1 else ''}"
    table = Table(title=f"verify {report.pipeline}: {report.topic} ({runs}), {report.rule}", title_justify="left")
    for title in ("sink", "sent", "expected", "found", "lost", "duplicated", "late-ledgered", "dead-lettered", "open", "note"):
        table.add_column(title, justify="left" if title in ("sink", "note") else "right")
    for s in report.sinks:
        if not s.checked:
            table.add_row(s.sink, f"{s.sent:,}", "–", "–", "–", "–", "–", f"{s.dead_lettered:,}", "–", f"[yellow]not checked:[/] {s.note}")
            continue
        extras = (f"{s.late_counted:,} ledgered counted anyway" if s.late_counted else "",
                  f"{s.unknown:,} not in the ground truth" if s.unknown else "")  # fmt: skip
        note = "; ".join(n for n in (s.note, *extras) if n)
        table.add_row(
            s.sink, f"{s.sent:,}", f"{s.expected:,}", f"{s.found:,}", _alarm(s.lost), _alarm(s.duplicated),
            f"{s.late_ledgered:,}", f"{s.dead_lettered:,}", f"{s.open:,}", note,
        )  # fmt: skip
    return table


def _alarm(value: int) -> str:
    return f"[bold red]{value:,}[/]" if value else "0"
