"""The ``streamwise`` command line: one Typer app; its sub-commands mirror the packages.

Each package's commands live in a module here (platform, ingest, pipeline); this file only wires
them together and turns streamwise errors into one red line and exit code 1.

The top layer: it may import every package. Its commands import the package they run inside the
function, the one place function-local imports are the rule: the CLI then starts in ~0.4 s, where
importing every package up front (pandas, pyspark, fastapi, matplotlib) takes ~2.4 s.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.logging import RichHandler

from streamwise.cli import (
    cluster,
    dashboard,
    ingest,
    monitor,
    pipeline,
    platform,
    schemas,
    security,
    services,
    verify,
)
from streamwise.cli._common import err_console, root_options
from streamwise.cli.bench import bench_app
from streamwise.errors import StreamwiseError

app = typer.Typer(
    name="streamwise",
    help="Stream processing on Apache Kafka and Spark Structured Streaming.\n\nExample: streamwise up",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


@app.callback()
def root(
    state_dir: Annotated[
        Path | None, typer.Option(help="Folder for pids, logs, data [env STREAMWISE_STATE_DIR]")
    ] = None,
    kafka_port: Annotated[
        int | None, typer.Option(help="Port of the Kafka broker to use [env STREAMWISE_KAFKA_PORT]")
    ] = None,
    debug: Annotated[bool, typer.Option(help="Show tracebacks and debug logs")] = False,
) -> None:
    """Stream processing on Apache Kafka and Spark Structured Streaming."""
    root_options.state_dir, root_options.kafka_port, root_options.debug = state_dir, kafka_port, debug
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False, show_time=False)],
    )
    for noisy in ("py4j", "urllib3", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


app.command()(platform.up)
app.command()(platform.down)
app.command()(ingest.produce)
app.command()(pipeline.run)
app.command()(pipeline.validate)
app.command()(pipeline.explain)
app.command()(pipeline.train)
app.command()(platform.jars)
app.command()(monitor.status)
app.command()(verify.verify)
app.add_typer(ingest.datasets_app, name="datasets")
app.add_typer(platform.kafka_app, name="kafka")
app.add_typer(platform.topics_app, name="topics")
app.add_typer(platform.config_app, name="config")
app.add_typer(schemas.registry_app, name="registry")
app.add_typer(schemas.schema_app, name="schema")
app.add_typer(dashboard.dashboard_app, name="dashboard")
app.add_typer(services.services_app, name="services")
app.add_typer(cluster.cluster_app, name="cluster")
app.add_typer(security.users_app, name="users")
app.add_typer(security.acl_app, name="acl")
app.add_typer(bench_app, name="bench")


# Everything a command writes (the state folder, logs, data, checkpoints, secrets) is its user's alone;
# the processes the platform starts inherit the mask.
UMASK = 0o077


def main() -> None:
    """Entry point: run the app; a StreamwiseError becomes one red line (and its hint), exit code 1."""
    os.umask(UMASK)
    try:
        app()
    except StreamwiseError as exc:
        if root_options.debug or os.environ.get("STREAMWISE_DEBUG"):
            raise
        err_console.print(f"[bold red]error:[/] {exc.message}", highlight=False)
        if exc.hint:
            err_console.print(f"[red]  → {exc.hint}[/]", highlight=False)
        sys.exit(1)
