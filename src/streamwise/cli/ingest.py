"""``streamwise produce``: generate a scenario's events into Kafka."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from streamwise.cli._common import console, settings
from streamwise.errors import StreamwiseError

SCENARIOS = ("clickstream",)


def produce(
    scenario: Annotated[str, typer.Argument(help="Event source: clickstream")],
    rate: Annotated[float, typer.Option(min=0, help="Events per second; 0 = as fast as possible")] = 1000,
    duration: Annotated[float | None, typer.Option(min=0, help="Seconds to run; default until Ctrl-C")] = None,
    topic: Annotated[str | None, typer.Option(help="Topic (default: the scenario's name)")] = None,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same events")] = 7,
    quiet: Annotated[bool, typer.Option(help="No progress display (for background runs)")] = False,
) -> None:
    """Generate a scenario's events into Kafka (idempotent, acks=all).

    Example: streamwise produce clickstream --rate 5000 --duration 60
    """
    from streamwise.ingest.run import produce_clickstream

    if scenario not in SCENARIOS:
        raise StreamwiseError(f"unknown scenario {scenario!r}", hint=f"available: {', '.join(SCENARIOS)}")
    cfg = settings()
    target = topic or scenario
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TextColumn("{task.completed:,} events"),
               TextColumn("{task.fields[rate]}"), TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=console, disable=quiet) as progress:
        task = progress.add_task(f"producing {scenario} → {target}", total=None, rate="")
        started = time.monotonic()

        def tick(sent: int) -> None:
            progress.update(task, completed=sent, rate=f"{sent / max(time.monotonic() - started, 1e-6):,.0f}/s")

        report = produce_clickstream(cfg.kafka, topic=target, rate=rate, duration_s=duration, seed=seed, on_tick=tick)
    console.print(f"[green]✓[/] {report.stats.delivered:,} events delivered to {target} in "
                  f"{report.seconds:.1f}s ({report.events_per_s:,.0f}/s), {report.stats.failed} failed")  # fmt: skip
