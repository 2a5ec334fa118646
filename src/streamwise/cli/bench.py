"""``streamwise bench …``: the benchmark family (one command per benchmark; ``list`` shows them all)."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer

from streamwise.cli._common import console, settings
from streamwise.ingest.formats import Format

bench_app = typer.Typer(
    help="Benchmarks; each writes DIR/<name>.json and prints a table.\n\nExample: streamwise bench ingest --output bench-results",
    no_args_is_help=True,
)

OutputOpt = Annotated[Path | None, typer.Option(help="Folder for <name>.json  [default: STATE/bench]", show_default=False)]
BootstrapOpt = Annotated[str | None, typer.Option(help="Use this broker (HOST:PORT) instead of starting a scratch one", show_default=False)]


@bench_app.command("list")
def bench_list() -> None:
    """The benchmarks there are."""
    from streamwise.bench import benchmarks

    for name, cls in benchmarks().items():
        console.print(f"[bold]{name}[/]  {cls.description}")


@bench_app.command("ingest")
def bench_ingest(
    output: OutputOpt = None,
    bootstrap: BootstrapOpt = None,
    events: Annotated[int, typer.Option(min=1000, help="Events per scenario (and records for the perf tool)")] = 2_000_000,
    scenario: Annotated[list[str] | None, typer.Option(help="Only this scenario (repeatable)  [default: all]", show_default=False)] = None,
    fmt: Annotated[Format, typer.Option("--format", help="Record values as JSON or Avro binary")] = Format.JSON,
    partitions: Annotated[int, typer.Option(min=1, help="Partitions of each benchmark topic")] = 8,
) -> None:
    """Producer throughput per scenario, beside Kafka's ProducerPerformance in the same run.

    Starts its own broker on free ports unless --bootstrap is given.

    Example: streamwise bench ingest --output bench-results --events 2000000
    """
    from streamwise.bench import BenchContext, bench_settings, get, scratch_broker
    from streamwise.ingest.scenario import scenario_class

    for name in scenario or ():
        scenario_class(name)  # unknown names fail before a broker starts
    project = settings()
    benchmark = get("ingest")
    with console.status("starting a scratch Kafka broker") as status:
        broker = nullcontext(bench_settings(project, bootstrap)) if bootstrap else scratch_broker(project)
        with broker as target:

            def step(msg: str) -> None:
                status.update(msg)
                console.print(f"[dim]·[/] {msg}")

            options = {"events": events, "scenarios": scenario, "format": fmt.value, "partitions": partitions, "on_step": step}
            report = benchmark.run(BenchContext(target, options))
    path = report.write(output or project.state / "bench")
    console.print(report.table())
    for goal, result in report.goals.items():
        mark = "[green]✓[/]" if result["met"] else "[red]✗[/]"
        console.print(f"{mark} {goal}: {result['value']:,.2f} (goal ≥ {result['target']:,})")
    console.print(f"[green]✓[/] wrote {path}")
