"""The ``streamwise`` command line: one Typer app whose sub-commands mirror the packages."""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.live import Live
from rich.logging import RichHandler
from rich.table import Table

from streamwise.config import Settings, load_settings
from streamwise.errors import StreamwiseError

console = Console()
err_console = Console(stderr=True)

app = typer.Typer(
    name="streamwise",
    help="Stream processing on Apache Kafka and Spark Structured Streaming.\n\nExample: streamwise up",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
kafka_app = typer.Typer(help="The local KRaft broker.\n\nExample: streamwise kafka start --port 9092", no_args_is_help=True)
topics_app = typer.Typer(help="Kafka topics.\n\nExample: streamwise topics create clickstream -p 6", no_args_is_help=True)
config_app = typer.Typer(help="Settings in force.\n\nExample: streamwise config show", no_args_is_help=True)
app.add_typer(kafka_app, name="kafka")
app.add_typer(topics_app, name="topics")
app.add_typer(config_app, name="config")


class _State:
    """Options given before the sub-command, shared by all of them."""

    state_dir: Path | None = None
    kafka_port: int | None = None
    debug: bool = False


_opts = _State()


def settings(**kafka: Any) -> Settings:
    """Settings from the environment, the root options and a command's own Kafka options."""
    overrides: dict[str, Any] = {}
    if _opts.state_dir is not None:
        overrides["state_dir"] = _opts.state_dir
    kafka = {k: v for k, v in kafka.items() if v is not None}
    if _opts.kafka_port is not None:
        kafka.setdefault("port", _opts.kafka_port)
    return load_settings(kafka=kafka, **overrides)


@app.callback()
def root(
    state_dir: Annotated[Path | None, typer.Option(help="Folder for pids, logs, data [env STREAMWISE_STATE_DIR]")] = None,
    kafka_port: Annotated[int | None, typer.Option(help="Port of the Kafka broker to use [env STREAMWISE_KAFKA_PORT]")] = None,
    debug: Annotated[bool, typer.Option(help="Show tracebacks and debug logs")] = False,
) -> None:
    """Stream processing on Apache Kafka and Spark Structured Streaming."""
    _opts.state_dir, _opts.kafka_port, _opts.debug = state_dir, kafka_port, debug
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False, show_time=False)],
    )
    for noisy in ("py4j", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


# --- config -----------------------------------------------------------------------------------


@config_app.command("show")
def config_show() -> None:
    """Print every setting in force and the variable that overrides it."""
    cfg = settings()
    table = Table("setting", "value", "environment variable", title="streamwise settings")
    table.add_row("state_dir", str(cfg.state), "STREAMWISE_STATE_DIR")
    table.add_row("cache_dir", str(cfg.cache), "STREAMWISE_CACHE_DIR")
    for prefix, section in (("kafka", cfg.kafka), ("spark", cfg.spark)):
        for name, value in section.model_dump().items():
            table.add_row(f"{prefix}.{name}", str(value), f"STREAMWISE_{prefix.upper()}_{name.upper()}")
    console.print(table)


# --- jars ---------------------------------------------------------------------------------------


@app.command()
def jars() -> None:
    """Resolve the JVM jars (Kafka, Spark connectors, Delta, JDBC) with mvn into the cache.

    Example: streamwise jars
    """
    from streamwise.platform import jars as jvm

    cfg = settings()
    with console.status("resolving JVM jars with Maven (first run downloads ~150 MB)"):
        found = jvm.ensure_all(cfg.cache)
    for profile, paths in found.items():
        console.print(f"[green]✓[/] {profile}: {len(paths)} jars in {jvm.jar_dir(cfg.cache, profile)}")


# --- kafka ----------------------------------------------------------------------------------------

PortOpt = Annotated[int | None, typer.Option("--port", help="Client listener port (default 9092)")]
ControllerPortOpt = Annotated[int | None, typer.Option("--controller-port", help="KRaft controller port (default 9093)")]


@kafka_app.command("start")
def kafka_start(port: PortOpt = None, controller_port: ControllerPortOpt = None) -> None:
    """Start the local broker (formats its storage on first start) and wait until it serves.

    Example: streamwise kafka start --port 9092
    """
    from streamwise.platform.kafka import KafkaBroker

    broker = KafkaBroker(settings(port=port, controller_port=controller_port))
    with console.status(f"starting Kafka on {broker.kafka.bootstrap_servers}"):
        pid = broker.start()
    console.print(f"[green]✓[/] Kafka serves on [bold]{broker.kafka.bootstrap_servers}[/] (pid {pid}); "
                  f"data in {broker.data_dir}, log in {broker.service.log_file}")


@kafka_app.command("stop")
def kafka_stop() -> None:
    """Stop the local broker by its pid. Its data stays (use `down --purge` to delete it)."""
    from streamwise.platform.kafka import KafkaBroker

    stopped = KafkaBroker(settings()).stop()
    console.print("[green]✓[/] Kafka stopped" if stopped else "[yellow]Kafka was not running[/]")


@kafka_app.command("status")
def kafka_status(port: PortOpt = None) -> None:
    """Show whether the broker runs and serves metadata; exits 1 when it does not."""
    from streamwise.platform.kafka import KafkaBroker

    status = KafkaBroker(settings(port=port)).status()
    if status.serving:
        console.print(f"[green]● running[/] pid {status.process.pid}, serving {status.bootstrap_servers}")
    elif status.process.running:
        console.print(f"[yellow]● started[/] pid {status.process.pid}, not serving {status.bootstrap_servers} yet")
    else:
        console.print(f"[red]● stopped[/] (log: {status.process.log})")
    raise typer.Exit(0 if status.serving else 1)


# --- topics ---------------------------------------------------------------------------------------


@topics_app.command("create")
def topics_create(
    name: str,
    partitions: Annotated[int, typer.Option("--partitions", "-p", min=1, help="Number of partitions")] = 3,
    replication: Annotated[int, typer.Option("--replication", "-r", min=1, help="Replication factor")] = 1,
    retention_ms: Annotated[int | None, typer.Option(help="retention.ms (-1 keeps forever)")] = None,
    cleanup_policy: Annotated[str | None, typer.Option(help="delete, compact or compact,delete")] = None,
    if_not_exists: Annotated[bool, typer.Option(help="Succeed when the topic exists")] = False,
) -> None:
    """Create a topic.

    Example: streamwise topics create payments --partitions 6 --retention-ms 604800000
    """
    from streamwise.platform.topics import create_topic

    created = create_topic(
        settings().kafka, name, partitions=partitions, replication=replication,
        retention_ms=retention_ms, cleanup_policy=cleanup_policy, exist_ok=if_not_exists,
    )  # fmt: skip
    console.print(f"[green]✓[/] created {name}" if created else f"[yellow]{name} exists[/]")


@topics_app.command("list")
def topics_list(internal: Annotated[bool, typer.Option(help="Include Kafka's __internal topics")] = False) -> None:
    """List topic names, one per line."""
    from streamwise.platform.topics import list_topics

    for name in list_topics(settings().kafka, internal=internal):
        console.print(name)


@topics_app.command("describe")
def topics_describe(name: str) -> None:
    """Partitions (leader, replicas, ISR, end offset) and configs of a topic.

    Example: streamwise topics describe clickstream
    """
    from streamwise.platform.topics import describe_topic

    info = describe_topic(settings().kafka, name)
    table = Table("partition", "leader", "replicas", "isr", "end offset",
                  title=f"{name}: {len(info.partitions)} partitions, replication {info.replication}")  # fmt: skip
    for p in info.partitions:
        table.add_row(str(p.partition), str(p.leader), str(p.replicas), str(p.isr), f"{p.end_offset:,}")
    console.print(table)
    for key, value in sorted(info.configs.items()):
        console.print(f"  {key}={value}")


# --- produce / run --------------------------------------------------------------------------------


@app.command()
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

    if scenario != "clickstream":
        raise StreamwiseError(f"unknown scenario {scenario!r}", hint="available: clickstream")
    cfg = settings()
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("{task.description}"), TextColumn("{task.completed:,} events"),
               TextColumn("{task.fields[rate]}"), TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=console, disable=quiet) as progress:
        task = progress.add_task(f"producing {scenario}", total=None, rate="")
        started = time.monotonic()

        def tick(sent: int) -> None:
            elapsed = max(time.monotonic() - started, 1e-6)
            progress.update(task, completed=sent, rate=f"{sent / elapsed:,.0f}/s")

        report = produce_clickstream(cfg.kafka, topic=topic or scenario, rate=rate, duration_s=duration,
                                     seed=seed, on_tick=tick)  # fmt: skip
    console.print(f"[green]✓[/] {report.stats.delivered:,} events delivered to {topic or scenario} in "
                  f"{report.seconds:.1f}s ({report.events_per_s:,.0f}/s), {report.stats.failed} failed")  # fmt: skip


@app.command()
def run(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name: clickstream")],
    once: Annotated[bool, typer.Option(help="Process what is in Kafka now, then stop (availableNow)")] = False,
) -> None:
    """Run a pipeline until Ctrl-C (or, with --once, until it has caught up).

    Example: streamwise run clickstream --once
    """
    if pipeline != "clickstream":
        raise StreamwiseError(f"unknown pipeline {pipeline!r}", hint="available: clickstream")
    from streamwise.pipeline import ClickstreamPipeline, await_queries
    from streamwise.platform.spark import spark_session

    cfg = settings()
    spec = ClickstreamPipeline(cfg)
    spark = spark_session(cfg, app_name=f"streamwise-{pipeline}")
    queries = spec.start(spark, once=once)
    logging.getLogger("streamwise").info("query started: %s -> %s", spec.topic, spec.output_path)
    await_queries(queries)


# --- up / down ------------------------------------------------------------------------------------


def windows_table(path: Path) -> Table:
    """The latest closed windows as a rich table (empty until the first window closes)."""
    from streamwise.monitor import latest_windows

    frame = latest_windows(path)
    table = Table("window", "page", "views", title=f"latest windows · {path}", caption=time.strftime("%H:%M:%S"))
    if frame.empty:
        table.add_row("(waiting for the first window to close)", "", "")
    for row in frame.itertuples():
        span = f"{row.window_start:%H:%M:%S}–{row.window_end:%H:%M:%S}"
        table.add_row(span, str(row.page), f"{row.views:,}")
    return table


@app.command()
def up(
    rate: Annotated[float, typer.Option(min=1, help="Generator events per second")] = 2000,
    partitions: Annotated[int, typer.Option(min=1, help="Partitions of the clickstream topic")] = 3,
    port: PortOpt = None,
    controller_port: ControllerPortOpt = None,
    watch: Annotated[bool, typer.Option(help="Keep refreshing the results table until Ctrl-C")] = True,
    wait: Annotated[float, typer.Option(help="Seconds to wait for the first window before giving up")] = 180,
) -> None:
    """Start the local platform: Kafka, the clickstream generator and the Spark pipeline.

    Example: streamwise up --rate 5000
    """
    from streamwise.pipeline.clickstream import ClickstreamPipeline
    from streamwise.platform import local

    cfg = settings(port=port, controller_port=controller_port)
    started = time.monotonic()
    with console.status("starting") as status:
        def step(msg: str) -> None:
            status.update(msg)
            console.print(f"[dim]{time.monotonic() - started:5.1f}s[/] {msg}")

        local.up(cfg, rate=rate, partitions=partitions, step=step)
    output = ClickstreamPipeline(cfg).output_path
    console.print(f"[green]✓[/] platform up in {time.monotonic() - started:.0f}s\n"
                  f"  Kafka      {cfg.kafka.bootstrap_servers}  (topic clickstream, dead letters clickstream.dlq)\n"
                  f"  Delta      {output}\n"
                  f"  Spark UI   http://127.0.0.1:{cfg.spark.ui_port}\n"
                  f"  logs       {cfg.state / 'logs'}\n"
                  f"  stop with  ./dev down   (or streamwise down)")  # fmt: skip
    _show_windows(output, started, wait=wait, watch=watch)


def _show_windows(output: Path, started: float, *, wait: float, watch: bool) -> None:
    from streamwise.monitor import latest_windows

    deadline = time.monotonic() + wait
    first_seen = False
    try:
        with Live(windows_table(output), console=console, refresh_per_second=1) as live:
            while watch or not first_seen:
                time.sleep(2)
                live.update(windows_table(output))
                if not first_seen and not latest_windows(output).empty:
                    first_seen = True
                    live.console.print(f"[green]✓[/] first window results {time.monotonic() - started:.0f}s after up")
                if not first_seen and time.monotonic() > deadline:
                    raise StreamwiseError(f"no window reached {output} within {wait:.0f}s",
                                          hint="see .streamwise/logs/pipeline.log")  # fmt: skip
    except KeyboardInterrupt:
        console.print("\nthe platform keeps running; stop it with [bold]./dev down[/]")


@app.command()
def down(purge: Annotated[bool, typer.Option(help="Also delete the state folder (data, checkpoints, jars)")] = False) -> None:
    """Stop every process `up` started, by pid.

    Example: streamwise down --purge
    """
    from streamwise.platform import local

    cfg = settings()
    stopped = local.down(cfg, purge=purge)
    console.print(f"[green]✓[/] stopped {', '.join(stopped)}" if stopped else "nothing was running")
    if purge:
        console.print(f"[green]✓[/] deleted {cfg.state}")


def main() -> None:
    """Entry point: run the app, turning streamwise errors into one red line and exit code 1."""
    try:
        app()
    except StreamwiseError as exc:
        if _opts.debug or os.environ.get("STREAMWISE_DEBUG"):
            raise
        err_console.print(f"[bold red]error:[/] {exc.message}", highlight=False)
        if exc.hint:
            err_console.print(f"[red]  → {exc.hint}[/]", highlight=False)
        sys.exit(1)
