"""``streamwise bench …``: the benchmark family (one command per benchmark; ``list`` shows them all)."""

from __future__ import annotations

# Commands import what they run inside their bodies, so `streamwise --help` starts in ~0.4 s, not ~2.4 s.
from collections.abc import Mapping
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

OutputOpt = Annotated[
    Path | None, typer.Option(help="Folder for <name>.json  [default: STATE/bench]", show_default=False)
]
BootstrapOpt = Annotated[
    str | None,
    typer.Option(
        help="Use this Kafka (HOST:PORT[,HOST:PORT...], its bootstrap servers) instead of starting a scratch broker",
        show_default=False,
    ),
]


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
    events: Annotated[
        int, typer.Option(min=1000, help="Events per scenario (and records for the perf tool)")
    ] = 2_000_000,
    scenario: Annotated[
        list[str] | None, typer.Option(help="Only this scenario (repeatable)  [default: all]", show_default=False)
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", help="Record values as JSON or Avro binary")] = Format.JSON,
    partitions: Annotated[int, typer.Option(min=1, help="Partitions of each benchmark topic")] = 8,
) -> None:
    """Producer throughput per scenario, beside Kafka's ProducerPerformance in the same run.

    In JSON the perf tool sends the scenario's own encoded events (a sample, from a --payload-file),
    so both send the same bytes; in Avro it sends random letters of the same mean size (it reads
    payload files as text). Starts its own broker on free ports unless --bootstrap is given.

    Example: streamwise bench ingest --output bench-results --events 2000000
    """
    from streamwise.ingest.scenario import scenario_class

    for name in scenario or ():
        scenario_class(name)  # unknown names fail before a broker starts
    options = {"events": events, "scenarios": scenario, "format": fmt.value, "partitions": partitions}
    _run("ingest", options, bootstrap=bootstrap, output=output)


@bench_app.command("delta")
def bench_delta(
    output: OutputOpt = None,
    bootstrap: BootstrapOpt = None,
    batches: Annotated[int, typer.Option(min=2, help="Micro-batches per run")] = 200,
    events: Annotated[
        int, typer.Option(min=100, help="Events produced; each batch reads events/batches of them")
    ] = 20_000,
    compact_every: Annotated[
        int, typer.Option(min=1, help="The compacted run runs OPTIMIZE after every N batches")
    ] = 20,
    partitions: Annotated[int, typer.Option(min=1, help="Partitions of the topic: files each batch leaves")] = 2,
) -> None:
    """A Delta sink fed many small micro-batches, without and with compaction: files and read times.

    Starts its own broker on free ports unless --bootstrap is given.

    Example: streamwise bench delta --output bench-results --batches 200 --compact-every 20
    """
    options = {"events": events, "batches": batches, "compact_every": compact_every, "partitions": partitions}
    _run("delta", options, bootstrap=bootstrap, output=output)


@bench_app.command("latency")
def bench_latency(
    output: OutputOpt = None,
    rates: Annotated[
        list[float] | None,
        typer.Option("--rate", min=1, help="Offered events/s; repeat for several (default 2k, 5k, 20k, 50k)"),
    ] = None,
    warmup: Annotated[float, typer.Option(min=0, help="Seconds of running before the measured window")] = 30.0,
    measure: Annotated[float, typer.Option(min=10, help="Seconds measured per rate")] = 60.0,
    pipeline: Annotated[
        str,
        typer.Option(
            help="The example pipeline the platform runs; one with a kafka_alerts sink (iot_threshold) has its alert path measured too"
        ),
    ] = "clickstream",
    spark_workers: Annotated[
        int,
        typer.Option(
            min=0, help="Run the pipeline on a scratch local Spark cluster of this many workers (0: local[*])"
        ),
    ] = 0,
) -> None:
    """End-to-end latency (Kafka → sink commit, and → alerts topic) of the whole local platform at
    each offered rate.

    For each rate: the platform comes up on its own broker, ports and state folder (a running
    `streamwise up` is left alone), warms up, is measured, and is removed. Also reports whether it
    keeps up (lag at the end) and the CPU each part used.

    Example: streamwise bench latency --rate 2000 --rate 20000 --output bench-results
             streamwise bench latency --pipeline iot_threshold --rate 20000
             streamwise bench latency --rate 2000 --spark-workers 2
    """
    options = {
        "rates": rates,
        "warmup": warmup,
        "measure": measure,
        "pipeline": pipeline,
        "spark_workers": spark_workers,
    }
    _run("latency", options, bootstrap=None, output=output)


@bench_app.command("peer")
def bench_peer(
    output: OutputOpt = None,
    bootstrap: BootstrapOpt = None,
    events: Annotated[
        int,
        typer.Option(
            min=1000,
            help="Clickstream events produced once and read by both (enough that each runs well past its start-up)",
        ),
    ] = 1_000_000,
    partitions: Annotated[int, typer.Option(min=1, help="Partitions of the topic")] = 3,
    repeat: Annotated[int, typer.Option(min=1, help="Runs of streamwise (fresh checkpoints); the median counts")] = 3,
) -> None:
    """The clickstream pipeline beside the same windowed count written with Quix Streams.

    Same topic, same broker, one run: events/s of each and the ratio. Quix Streams runs in its own
    process from a virtualenv made once in the cache folder. Starts its own broker on free ports
    unless --bootstrap is given.

    Example: streamwise bench peer --events 1000000 --output bench-results
    """
    _run("peer", {"events": events, "partitions": partitions, "repeat": repeat}, bootstrap=bootstrap, output=output)


@bench_app.command("scaling")
def bench_scaling(
    output: OutputOpt = None,
    bootstrap: BootstrapOpt = None,
    events: Annotated[
        int, typer.Option(min=1000, help="Clickstream events per topic (1 and 8 partitions)")
    ] = 1_000_000,
) -> None:
    """The clickstream pipeline's run --once events/s with 1 vs 2 cores and 1 vs 8 partitions.

    Each case runs in its own SparkSession (local[cores]) after an untimed warm-up; ratios are
    against 1 core and 8 partitions. Starts its own broker on free ports unless --bootstrap is given.

    Example: streamwise bench scaling --events 1000000 --output bench-results
    """
    _run("scaling", {"events": events}, bootstrap=bootstrap, output=output)


@bench_app.command("cluster")
def bench_cluster(
    output: OutputOpt = None,
    bootstrap: BootstrapOpt = None,
    events: Annotated[
        int, typer.Option(min=0, help="Clickstream events timed on each (0: the drills alone)")
    ] = 1_000_000,
    partitions: Annotated[int, typer.Option(min=1, help="Partitions of the timed topic")] = 4,
    workers: Annotated[int, typer.Option(min=1, help="Workers of the scratch cluster (1 core, 1 GiB each)")] = 2,
    drills: Annotated[
        str, typer.Option(help="Comma-separated worker-kill drills: clickstream, iot_anomalies; 'none' for none")
    ] = "clickstream,iot_anomalies",
) -> None:
    """The clickstream pipeline's run --once events/s on local[2] vs a standalone cluster of this machine
    (a scratch `cluster up` on free ports), the tasks each executor ran (Spark's REST API), and
    worker-kill drills: a worker SIGKILLed mid-run, the cluster run's Delta rows equal local[2]'s.

    Starts its own broker on free ports unless --bootstrap is given; fails when a check fails.

    Example: streamwise bench cluster --events 1000000 --output bench-results
    """
    chosen = [d.strip() for d in drills.split(",") if d.strip() and d.strip().lower() != "none"]
    options = {"events": events, "partitions": partitions, "workers": workers, "drills": chosen}
    if not _run("cluster", options, bootstrap=bootstrap, output=output):
        raise typer.Exit(1)


@bench_app.command("hotkey")
def bench_hotkey(
    output: OutputOpt = None,
    bootstrap: BootstrapOpt = None,
    events: Annotated[
        int, typer.Option(min=1000, help="Clickstream events produced once, read by every case")
    ] = 400_000,
    hot_key_share: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share of the events by user u0")] = 0.5,
    partitions: Annotated[int, typer.Option(min=1, help="Partitions of the topic, keyed by user")] = 4,
    salt: Annotated[int, typer.Option(min=2, help="The salted case's salt buckets")] = 8,
    min_partitions: Annotated[int, typer.Option(min=1, help="The split case's min_partitions")] = 8,
) -> None:
    """One hot key through a windowed pipeline on local[2]: rows per Kafka partition, and per Spark
    task (max/median, from Spark's REST API) of the Kafka-reading and the aggregation stage, for the
    plain pipeline, the window salted, and the source split (min_partitions).

    Example: streamwise bench hotkey --events 400000 --hot-key-share 0.5 --output bench-results
    """
    options = {
        "events": events,
        "hot_key_share": hot_key_share,
        "partitions": partitions,
        "salt": salt,
        "min_partitions": min_partitions,
    }
    _run("hotkey", options, bootstrap=bootstrap, output=output)


@bench_app.command("report")
def bench_report(
    folder: Annotated[
        Path | None, typer.Argument(help="Folder of <name>.json results  [default: STATE/bench]", show_default=False)
    ] = None,
) -> None:
    """Write FOLDER/report.md: a table per benchmark, its goals and checks, and PNG plots.

    Example: streamwise bench report bench-results
    """
    from streamwise.bench.report import render

    path = render(folder or settings().state / "bench")
    console.print(f"[green]✓[/] wrote {path}")


# What `bench all` runs, in order, each with its defaults (about 30 minutes on 2 cores).
ALL = ("ingest", "delta", "process", "overhead", "peer", "scaling", "latency")


@bench_app.command("all")
def bench_all(
    output: OutputOpt = None,
    report: Annotated[bool, typer.Option(help="Then write report.md and PNG plots into the output folder")] = False,
) -> None:
    """Every benchmark with its defaults, one after the other: ingest, delta, process, overhead, peer,
    scaling, latency (about 30 minutes on 2 cores); JSON results in one folder, and with --report a markdown
    page and plots beside them.

    Example: streamwise bench all --report --output bench-results
    """
    folder = output or settings().state / "bench"
    for name in ALL:
        console.rule(f"bench {name}")
        _run(name, {}, bootstrap=None, output=folder)
    if report:
        bench_report(folder)


@bench_app.command("process")
def bench_process(
    output: OutputOpt = None,
    bootstrap: BootstrapOpt = None,
    events: Annotated[
        int,
        typer.Option(
            min=1000, help="Clickstream events produced once, then processed (4,000,000: over 30 s of work on 2 cores)"
        ),
    ] = 4_000_000,
    repeat: Annotated[int, typer.Option(min=1, help="Run both cases R times; report medians and minima")] = 1,
    partitions: Annotated[
        int, typer.Option(min=1, help="Partitions of the topic (the local platform's default is 3)")
    ] = 3,
) -> None:
    """run --once events/s of the clickstream pipeline (Kafka → decode → 10 s window with watermark →
    Delta, availableNow) beside Spark's own batch read of the same topic (the floor), in one session.
    Starts its own broker on free ports unless --bootstrap is given.

    Example: streamwise bench process --events 4000000 --output bench-results
    """
    _run("process", {"events": events, "repeat": repeat, "partitions": partitions}, bootstrap=bootstrap, output=output)


@bench_app.command("overhead")
def bench_overhead(
    output: OutputOpt = None,
    bootstrap: BootstrapOpt = None,
    events: Annotated[
        int, typer.Option(min=1000, help="Clickstream events produced once and read by every case")
    ] = 1_000_000,
    repeat: Annotated[int, typer.Option(min=1, help="Run every case R times; report medians and minima")] = 1,
    event_rate: Annotated[
        float,
        typer.Option(
            min=1,
            help="Event times are stamped as if sent at this many events/s (2,000/s: 1,000,000 events span 500 s, 50 windows)",
        ),
    ] = 2_000.0,
    partitions: Annotated[
        int, typer.Option(min=1, help="Partitions of the topic (the local platform's default is 3)")
    ] = 3,
    warmup: Annotated[
        bool, typer.Option(help="Run both queries once, untimed, on a small topic first (JVM class loading, JIT)")
    ] = True,
) -> None:
    """The clickstream pipeline beside the same query in plain PySpark and Spark's own Kafka read.

    Produces the events once, then times each case in the same SparkSession: wall seconds, events/s,
    and ratios to the hand-written query and to the floor (Spark's batch read of the topic); checks
    that both queries wrote the same window counts. Starts its own broker on free ports unless
    --bootstrap is given.

    Example: streamwise bench overhead --events 1000000 --repeat 3 --output bench-results
    """
    options = {"events": events, "repeat": repeat, "event_rate": event_rate, "partitions": partitions, "warmup": warmup}
    _run("overhead", options, bootstrap=bootstrap, output=output)


def _run(name: str, options: Mapping[str, object], *, bootstrap: str | None, output: Path | None) -> bool:
    """Run benchmark ``name`` against a scratch broker (or ``bootstrap``), write its JSON, print its
    table; True when every check of the run passed."""
    from streamwise.bench import BenchContext, bench_settings, get, scratch_broker

    project = settings()
    benchmark = get(name)
    with console.status("starting a scratch Kafka broker") as status:
        broker = nullcontext(bench_settings(project, bootstrap)) if bootstrap else scratch_broker(project)
        with broker as target:

            def step(msg: str) -> None:
                status.update(msg)
                console.print(f"[dim]·[/] {msg}")

            report = benchmark.run(BenchContext(target, {**options, "on_step": step}))
    path = report.write(output or project.state / "bench")
    console.print(report.table())
    for goal, result in report.goals.items():
        mark = "[green]✓[/]" if result["met"] else "[red]✗[/]"
        console.print(
            f"{mark} {goal}: {result['value']:,.2f} (goal {'≤' if result.get('at_most') else '≥'} {result['target']:,})"
        )
    for check, result in report.checks.items():
        mark = "[green]✓[/]" if result["passed"] else "[red]✗[/]"
        console.print(f"{mark} {check}: {result['detail']}")
    console.print(f"[green]✓[/] wrote {path}")
    return all(result["passed"] for result in report.checks.values())


@bench_app.command("chaos")
def bench_chaos(
    output: OutputOpt = None,
    drills: Annotated[
        str,
        typer.Option(
            help="Comma-separated drills: R1 broker kill, R2 driver kill, R3 sink outage, R4 bad input, R6 soak, R7 spike"
        ),
    ] = "R1,R2,R3,R4,R7",
    short: Annotated[bool, typer.Option(help="The CI-size variants (minutes, not half an hour)")] = False,
    report: Annotated[bool, typer.Option(help="Then write report.md (a markdown table) beside the JSON")] = False,
) -> None:
    """Chaos drills, each on a scratch platform of its own (the cluster profile for R1): faults while
    events flow, then sent, acknowledged, consumed, lost, duplicated, dead-lettered and recovery
    seconds per drill. R6 (30 minutes at 20,000 events/s) runs only when named.

    Example: streamwise bench chaos --drills R1,R2,R4 --report --output bench-results
    """
    from streamwise.bench.chaos_suite import run_suite

    project = settings()
    chosen = [d.strip().upper() for d in drills.split(",") if d.strip()]
    with console.status("chaos") as status:

        def step(msg: str) -> None:
            status.update(msg)
            console.print(f"[dim]·[/] {msg}")

        result = run_suite(project, chosen, short=short, on_step=step)
    folder = output or project.state / "bench"
    path = result.write(folder)
    console.print(result.table())
    for check, outcome in result.checks.items():
        console.print(f"{'[green]✓[/]' if outcome['passed'] else '[red]✗[/]'} {check}: {outcome['detail']}")
    console.print(f"[green]✓[/] wrote {path}")
    if report:
        bench_report(folder)
    if not all(outcome["passed"] for outcome in result.checks.values()):
        raise typer.Exit(1)
