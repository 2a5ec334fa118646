"""Commands for the platform's real parts: jars, the Kafka broker, topics, settings, up/down."""

from __future__ import annotations

# Commands import what they run inside their bodies, so `streamwise --help` starts in ~0.4 s, not ~2.4 s.
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.live import Live
from rich.table import Table

from streamwise.cli._common import (
    ControllerPortOpt,
    ExposeOpt,
    PortOpt,
    ProfileOpt,
    console,
    kafka_nodes_table,
    settings,
)
from streamwise.errors import StreamwiseError
from streamwise.platform.storage import Location

kafka_app = typer.Typer(
    help="The local KRaft broker.\n\nExample: streamwise kafka start --port 9092", no_args_is_help=True
)
topics_app = typer.Typer(
    help="Kafka topics.\n\nExample: streamwise topics create clickstream -p 6", no_args_is_help=True
)
config_app = typer.Typer(help="Settings in force.\n\nExample: streamwise config show", no_args_is_help=True)


@config_app.command("show")
def config_show() -> None:
    """Print every setting in force and the variable that overrides it."""
    cfg = settings()
    table = Table("setting", "value", "environment variable", title="streamwise settings")
    table.add_row("state_dir", str(cfg.state), "STREAMWISE_STATE_DIR")
    table.add_row("cache_dir", str(cfg.cache), "STREAMWISE_CACHE_DIR")
    table.add_row("data_root", str(cfg.data), "STREAMWISE_DATA_ROOT")
    for prefix, section in cfg.sections().items():
        for name in type(section).model_fields:
            value = getattr(section, name)
            table.add_row(f"{prefix}.{name}", str(value), f"STREAMWISE_{prefix.upper()}_{name.upper()}")
    console.print(table)


def jars() -> None:
    """Resolve the JVM jars (Kafka, Spark connectors, Delta, JDBC) with mvn into the cache.

    Example: streamwise jars
    """
    from streamwise.platform import jars as jvm

    cfg = settings()
    with console.status("resolving JVM jars with Maven (the first run downloads ~200 MB)"):
        found = jvm.ensure_all(cfg.cache)
    for profile, paths in found.items():
        console.print(f"[green]✓[/] {profile}: {len(paths)} jars in {jvm.jar_dir(cfg.cache, profile)}")


@kafka_app.command("start")
def kafka_start(
    profile: ProfileOpt = None,
    port: PortOpt = None,
    controller_port: ControllerPortOpt = None,
    expose: ExposeOpt = False,
) -> None:
    """Start the local Kafka (formats its storage on first start) and wait until it serves.

    Example: streamwise kafka start --profile cluster
    """
    from streamwise.platform.kafka import KafkaCluster

    cluster = KafkaCluster(settings(profile, expose=expose, port=port, controller_port=controller_port))
    with console.status(f"starting Kafka on {cluster.kafka.bootstrap}"):
        pids = cluster.start()
    console.print(
        f"[green]✓[/] Kafka serves on [bold]{cluster.kafka.bootstrap}[/] "
        f"({len(pids)} node(s), pid {', '.join(map(str, pids))}); data in {cluster.data_dir}, "
        f"logs in {cluster.nodes[0].service.log_file.parent}"
    )


@kafka_app.command("stop")
def kafka_stop() -> None:
    """Stop every local Kafka node by its pid. Its data stays (`down --purge` deletes it)."""
    from streamwise.platform.kafka import KafkaCluster

    stopped = KafkaCluster(settings()).stop()
    console.print("[green]✓[/] Kafka stopped" if stopped else "[yellow]Kafka was not running[/]")


NodeArg = Annotated[int, typer.Argument(help="Node id (1, 2 or 3 on the cluster profile; see kafka status)")]


@kafka_app.command("kill")
def kafka_kill(node: NodeArg) -> None:
    """SIGKILL one node, as a crash would: no clean shutdown, no handing over of leadership.

    Example: streamwise kafka kill 2
    """
    from streamwise.platform.kafka import KafkaCluster

    killed = KafkaCluster(settings()).kill(node)
    console.print(f"[green]✓[/] killed Kafka node {node}" if killed else f"[yellow]node {node} was not running[/]")


@kafka_app.command("restart")
def kafka_restart(node: NodeArg) -> None:
    """Start one node again (after kill or a crash) and wait until it has rejoined the cluster.

    Example: streamwise kafka restart 2
    """
    from streamwise.platform.kafka import KafkaCluster

    cluster = KafkaCluster(settings())
    with console.status(f"starting Kafka node {node}"):
        pid = cluster.restart(node)
    console.print(f"[green]✓[/] Kafka node {node} rejoined (pid {pid})")


@kafka_app.command("status")
def kafka_status(port: PortOpt = None) -> None:
    """Each node, the controller quorum's leader, and under-replicated partitions; exits 1 unless served.

    Example: streamwise kafka status
    """
    from streamwise.platform.kafka import KafkaCluster

    status = KafkaCluster(settings(port=port)).status()
    console.print(kafka_nodes_table(status))
    raise typer.Exit(0 if status.serving else 1)


@topics_app.command("create")
def topics_create(
    name: str,
    partitions: Annotated[int, typer.Option("--partitions", "-p", min=1, help="Number of partitions")] = 3,
    replication: Annotated[
        int | None,
        typer.Option(
            "--replication",
            "-r",
            min=1,
            help="Replication factor (default: 3 on a cluster, 1 on one node, the brokers' default on an existing Kafka)",
        ),
    ] = None,
    retention_ms: Annotated[int | None, typer.Option(help="retention.ms (-1 keeps forever)")] = None,
    cleanup_policy: Annotated[str | None, typer.Option(help="delete, compact or compact,delete")] = None,
    if_not_exists: Annotated[bool, typer.Option(help="Succeed when the topic exists")] = False,
) -> None:
    """Create a topic.

    Example: streamwise topics create payments --partitions 6 --retention-ms 604800000
    """
    from streamwise.platform.topics import create_topic

    created = create_topic(
        settings().kafka,
        name,
        partitions=partitions,
        replication=replication,
        retention_ms=retention_ms,
        cleanup_policy=cleanup_policy,
        exist_ok=if_not_exists,
    )
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
    table = Table(
        "partition",
        "leader",
        "replicas",
        "isr",
        "end offset",
        title=f"{name}: {len(info.partitions)} partitions, replication {info.replication}",
    )
    for p in info.partitions:
        table.add_row(str(p.partition), str(p.leader), str(p.replicas), str(p.isr), f"{p.end_offset:,}")
    console.print(table)
    for key, value in sorted(info.configs.items()):
        console.print(f"  {key}={value}")


@topics_app.command("plan")
def topics_plan(
    rate: Annotated[float, typer.Option(min=0.001, help="Offered events per second the topic must carry")],
    topic: Annotated[
        str | None, typer.Option(help="An existing topic to compare with (and how to grow it)", show_default=False)
    ] = None,
    record_bytes: Annotated[int, typer.Option(min=1, max=1_000_000, help="Mean record value size")] = 100,
    headroom: Annotated[float, typer.Option(min=1.0, help="Capacity over the offered rate, for spikes")] = 2.0,
    parallelism: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Spark tasks reading at once  [default: the cores of a local master; on a cluster, the executors' cores in total]",
            show_default=False,
        ),
    ] = None,
    measure: Annotated[
        bool, typer.Option("--measure", help="Measure again instead of using the cached result")
    ] = False,
    seconds: Annotated[float, typer.Option(min=0.5, max=60, help="How long the measurement produces")] = 3.0,
) -> None:
    """Suggest a partition count for an offered rate, from one partition's throughput measured here.

    The first call produces to a one-partition topic for a few seconds with streamwise's producer
    settings and reads it back; the result is cached in the state folder (per machine, brokers and
    record size), so later calls are instant. Suggests enough partitions for rate × headroom, at
    least Spark's parallelism (one task per partition), in a multiple of it.

    Example: streamwise topics plan --rate 50000 --topic clickstream
    """
    from streamwise.ingest.producer import PRODUCER_DEFAULTS
    from streamwise.platform import partitions as plans
    from streamwise.platform.topics import partition_count

    cfg = settings()
    throughput = None if measure else plans.cached_throughput(cfg.state, cfg.kafka, record_bytes)
    if throughput is None:
        with console.status(f"measuring one partition on {cfg.kafka.bootstrap} for {seconds:g} s"):
            throughput = plans.measure_partition_throughput(
                cfg.kafka, dict(PRODUCER_DEFAULTS), record_bytes=record_bytes, seconds=seconds
            )
        plans.save_throughput(cfg.state, throughput)
        source = f"measured now ({throughput.records:,} records)"
    else:
        source = f"cached from {throughput.measured_at}; --measure to measure again"
    known = parallelism or plans.spark_parallelism(cfg.spark.master)
    plan = plans.plan_partitions(rate, throughput, parallelism=known or 1, headroom=headroom)
    table = Table(
        "one partition",
        "MB/s",
        "events/s",
        title=f"throughput of one partition on {throughput.bootstrap_servers}",
        caption=f"{throughput.record_bytes}-byte records · {throughput.machine}, {throughput.cpus} CPUs · {source}\n"
        "consume: one Python (librdkafka) consumer, a floor for Spark's Java one",
    )
    table.add_row("produce", f"{throughput.produce_mb_per_s:,.1f}", f"{throughput.produce_events_per_s:,.0f}")
    table.add_row("consume", f"{throughput.consume_mb_per_s:,.1f}", f"{throughput.consume_events_per_s:,.0f}")
    console.print(table)
    console.print(f"[green]✓[/] suggested partitions: [bold]{plan.suggested}[/]")
    for reason in plan.reasons:
        console.print(f"  · {reason}")
    if known is None:
        console.print(
            f"  · master {cfg.spark.master} is a cluster: pass --parallelism (the executors' cores in total) "
            "to have the count cover and divide evenly among them"
        )
    if topic is not None:
        _topic_advice(topic, partition_count(cfg.kafka, topic), plan.suggested, cfg.kafka.bootstrap)


def _topic_advice(topic: str, current: int, suggested: int, bootstrap: str) -> None:
    """What to do with an existing (or missing) topic against the suggestion."""
    if current == 0:
        console.print(f"  {topic} does not exist: streamwise topics create {topic} --partitions {suggested}")
    elif current >= suggested:
        console.print(f"  {topic} has {current} partitions: enough")
    else:
        console.print(
            f"[yellow]![/] {topic} has {current} partitions, fewer than {suggested}. Grow it with Kafka's tool "
            f"(partitions can only be added):\n"
            f"    kafka-topics.sh --bootstrap-server {bootstrap} --alter --topic {topic} --partitions {suggested}\n"
            f"  or create a new topic (streamwise topics create {topic}_v2 --partitions {suggested}) and move "
            "producers and pipelines to it.\n"
            "  Keyed records: a key's partition is hash(key) mod the count, so after growing, a key's new records "
            "may go to another partition than its old ones, and its order holds only within each partition. "
            "A running Spark query picks up the new partitions and reads them from their start."
        )


def up(
    pipeline: Annotated[
        str, typer.Option(help="Example pipeline (or .yaml) to run; its topic's generator feeds it")
    ] = "clickstream",
    rate: Annotated[float, typer.Option(min=1, help="Generator events per second")] = 2000,
    partitions: Annotated[int, typer.Option(min=1, help="Partitions of the source topic")] = 3,
    profile: ProfileOpt = None,
    port: PortOpt = None,
    controller_port: ControllerPortOpt = None,
    watch: Annotated[
        bool, typer.Option(help="Keep refreshing the results until Ctrl-C; --no-watch returns after the first results")
    ] = True,
    wait: Annotated[float, typer.Option(help="Seconds to wait for the first results before giving up")] = 300,
    expose: ExposeOpt = False,
    spark_workers: Annotated[
        int,
        typer.Option(
            min=0,
            help="Run the pipeline on a local Spark standalone cluster of this many workers (cluster up); "
            "0: on spark.master",
        ),
    ] = 0,
) -> None:
    """Start the local platform: Kafka, registry, dashboard, a generator and a Spark pipeline; show results.

    Example: streamwise up --pipeline iot_anomalies --rate 5000 --profile cluster
             streamwise up --profile cluster --spark-workers 2   (three brokers and a Spark cluster)
    """
    from streamwise.app import local
    from streamwise.dashboard.auth import token_file
    from streamwise.platform.storage import data_root
    from streamwise.sinks import DeltaSink, warehouse_path

    cfg = settings(profile, expose=expose, port=port, controller_port=controller_port)
    started = time.monotonic()
    with console.status("starting") as status:

        def step(msg: str) -> None:
            status.update(msg)
            console.print(f"[dim]{time.monotonic() - started:5.1f}s[/] {msg}")

        spec = local.up(
            cfg, rate=rate, partitions=partitions, pipeline=pipeline, spark_workers=spark_workers, step=step
        )
    tables = [warehouse_path(s.path, data_root(cfg)) for s in spec.sinks if isinstance(s, DeltaSink)]
    ui = f"http://127.0.0.1:{cfg.spark.ui_port}" if cfg.spark.ui else "(disabled)"
    if spark_workers:
        from streamwise.platform.cluster import SparkCluster

        ui += f"; cluster {SparkCluster(cfg).ui_url} ({spark_workers} workers)"
    topic = spec.source.topic
    console.print(
        f"[green]✓[/] platform up in {time.monotonic() - started:.0f}s, running pipeline [bold]{spec.name}[/]\n"
        f"  dashboard  {cfg.dashboard.url}  (live throughput, latency, lag, windows, alerts; /metrics)\n"
        + (f"             login token in {token_file(cfg)}\n" if cfg.dashboard.tls else "")
        + f"  Kafka      {cfg.kafka.bootstrap}  (topic {topic}, dead letters {topic}.dlq)\n"
        f"  registry   {cfg.registry.url}  (Confluent-compatible schema registry)\n"
        + "".join(f"  Delta      {t}\n" for t in tables)
        + f"  Spark UI   {ui}\n"
        f"  logs       {cfg.state / 'logs'}\n"
        f"  stop with  ./dev down   (or streamwise down)"
    )
    if not tables:
        return
    view = windows_table if spec.name == "clickstream" else sinks_table
    _show_results(tables, view, started, wait=wait, watch=watch, state=cfg.state)


def windows_table(tables: list[Location]) -> Table:
    """The latest closed windows as a rich table (a waiting row until the first window closes)."""
    from streamwise.monitor import latest_windows

    path = tables[0]
    frame = latest_windows(path)
    table = Table(
        "window (UTC)",
        "page",
        "views",
        title="latest windows: views per page",
        caption=f"{path} · {time.strftime('%H:%M:%S')}",
    )
    if frame.empty:
        table.add_row("(waiting for the first window to close)", "", "")
    for row in frame.itertuples():
        table.add_row(f"{row.window_start:%H:%M:%S}–{row.window_end:%H:%M:%S}", str(row.page), f"{row.views:,}")
    return table


def sinks_table(tables: list[Location]) -> Table:
    """Rows written so far to each Delta table of the pipeline."""
    from streamwise.monitor.windows import delta_rows

    table = Table("Delta table", "rows", title="pipeline output", caption=time.strftime("%H:%M:%S"))
    for path in tables:
        table.add_row(str(path), f"{delta_rows(path):,}")
    return table


def _show_results(
    tables: list[Location],
    view: Callable[[list[Location]], Table],
    started: float,
    *,
    wait: float,
    watch: bool,
    state: Path,
) -> None:
    from streamwise.monitor.windows import delta_rows
    from streamwise.platform.process import Service

    log_dir = state / "logs"
    deadline = time.monotonic() + wait
    first_seen = False
    try:
        with Live(view(tables), console=console, refresh_per_second=1) as live:
            while watch or not first_seen:
                time.sleep(2)
                if first_seen and not Service("pipeline", state).status().running:
                    live.console.print(
                        f"[yellow]■[/] the pipeline is no longer running (`./dev down`, or it failed: see "
                        f"{log_dir / 'pipeline.log'}); nothing more to show"
                    )
                    return
                live.update(view(tables))
                if not first_seen and any(delta_rows(t) for t in tables):
                    first_seen = True
                    live.console.print(f"[green]✓[/] first results {time.monotonic() - started:.0f}s after up")
                if not first_seen and time.monotonic() > deadline:
                    if not Service("pipeline", state).status().running:
                        raise StreamwiseError(
                            f"the pipeline stopped before writing to {tables[0]}",
                            hint=f"see {log_dir / 'pipeline.log'}",
                        )
                    live.console.print(
                        f"[yellow]no rows yet after {wait:.0f}s; the pipeline runs (a filtering "
                        "pipeline writes only what it finds)[/]"
                    )
                    if not watch:
                        return
                    deadline = float("inf")
    except KeyboardInterrupt:
        console.print("\nthe platform keeps running; stop it with [bold]./dev down[/]")


def down(
    purge: Annotated[bool, typer.Option(help="Also delete the state folder (data, checkpoints, jar cache)")] = False,
) -> None:
    """Stop every process `up` started, by pid.

    Example: streamwise down --purge
    """
    from streamwise.app import local

    cfg = settings()
    stopped = local.down(cfg, purge=purge)
    console.print(f"[green]✓[/] stopped {', '.join(stopped)}" if stopped else "nothing was running")
    if purge:
        console.print(f"[green]✓[/] deleted {cfg.state}")
