"""``streamwise run | validate | explain``: pipelines from YAML files (or the bundled examples)."""

from __future__ import annotations

# Commands import what they run inside their bodies, so `streamwise --help` starts in ~0.4 s, not ~2.4 s.
import logging
import os
import sys
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from streamwise.cli._common import console, err_console, root_options, settings
from streamwise.errors import StreamwiseError

if TYPE_CHECKING:
    from streamwise.config import Settings
    from streamwise.pipeline.spec import PipelineSpec

PipelineArg = Annotated[str, typer.Argument(help="A pipeline .yaml file, or an example name (clickstream)")]
log = logging.getLogger("streamwise")


def run(
    pipelines: Annotated[
        list[str],
        typer.Argument(
            help="Pipeline .yaml files or example names; several run in one Spark driver and stop together",
            show_default=False,
        ),
    ],
    once: Annotated[bool, typer.Option(help="Process what is in Kafka now, then stop (availableNow)")] = False,
    supervise: Annotated[
        bool,
        typer.Option(
            help="Restart the run when it fails, after 2 s doubling to 60 s; restarts show in `streamwise status`. "
            "Not restarted: a finished --once run, a wrong pipeline file or setting (exit 2), 10 failures in a row"
        ),
    ] = False,
    master: Annotated[
        str | None,
        typer.Option(
            help="Spark master to run on: local[N], spark://127.0.0.1:7077 (streamwise cluster up), any cluster's "
            "URL  [env STREAMWISE_SPARK_MASTER; default local[*]]",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run pipelines until Ctrl-C (or, with --once, until they have caught up).

    When any query fails, the others are stopped between two batches and the run exits 1 naming the
    query and the cause. A wrong pipeline file or setting exits 2 (a retry cannot help).

    Example: streamwise run pipelines/clickstream.yaml --once  (or: streamwise run clickstream --supervise)
             streamwise run clickstream --master spark://127.0.0.1:7077  (after streamwise cluster up)
    """
    from streamwise.config import settings_env
    from streamwise.errors import ConfigError
    from streamwise.pipeline import load_pipeline, resolve
    from streamwise.pipeline.loader import SpecError
    from streamwise.platform.process import Service
    from streamwise.platform.supervise import NO_RETRY_EXIT
    from streamwise.platform.supervise import supervise as supervise_command

    try:
        cfg = settings()
        if master is not None:
            if not master.strip():
                raise ConfigError("--master is empty", hint="e.g. --master spark://127.0.0.1:7077 or local[2]")
            cfg = cfg.model_copy(update={"spark": cfg.spark.model_copy(update={"master": master.strip()})})
        specs = [load_pipeline(resolve(p)) for p in pipelines]
        twice = sorted({s.name for s in specs if [t.name for t in specs].count(s.name) > 1})
        if twice:
            raise SpecError(f"pipeline {', '.join(twice)} given twice", hint="name each pipeline once")
    except (SpecError, ConfigError) as exc:
        _fail_for_good(exc, NO_RETRY_EXIT)
    if supervise:
        cmd = [sys.executable, "-m", "streamwise", "run", *pipelines, *(["--once"] if once else [])]
        env = {**os.environ, **settings_env(cfg), **({"STREAMWISE_DEBUG": "1"} if root_options.debug else {})}
        raise typer.Exit(supervise_command(cmd, Service("pipeline", cfg.state).supervisor_file, env=env))
    _run_in_one_driver(specs, cfg, once=once)


def _run_in_one_driver(specs: list[PipelineSpec], cfg: Settings, *, once: bool) -> None:
    """Start every pipeline's queries in one SparkSession and wait for them (see await_queries)."""
    from streamwise.monitor.listener import ProgressPublisher
    from streamwise.pipeline import await_queries
    from streamwise.pipeline.plan import Pipeline
    from streamwise.pipeline.realtime import with_task_slots
    from streamwise.platform.spark import spark_session

    if not once:
        for spec in specs:  # realtime pipelines want a task slot per source partition
            cfg = with_task_slots(cfg, spec)
    plans = [Pipeline(spec, cfg) for spec in specs]
    spark = spark_session(cfg, app_name="streamwise-" + "+".join(spec.name for spec in specs))
    listener = ProgressPublisher(cfg.kafka)
    spark.streams.addListener(listener)
    try:
        queries: list = []
        try:
            for plan in plans:
                started = plan.start(spark, once=once)
                queries += started
                log.info("pipeline %s started: %s", plan.spec.name, ", ".join(q.name for q in started))
        except BaseException:
            for query in queries:  # a later pipeline could not start: the earlier ones do not run alone
                query.stop()
            raise
        await_queries(queries)
        for spec in specs:
            log.info("pipeline %s stopped", spec.name)
    finally:
        listener.detach(spark)
        spark.stop()


def _fail_for_good(exc: StreamwiseError, code: int) -> NoReturn:
    """Print ``exc`` the way ``main`` prints every error, then exit ``code`` (not the usual 1)."""
    err_console.print(f"[bold red]error:[/] {exc.message}", highlight=False)
    if exc.hint:
        err_console.print(f"[red]  → {exc.hint}[/]", highlight=False)
    raise typer.Exit(code)


def validate(pipeline: PipelineArg) -> None:
    """Check a pipeline file without starting anything; errors name the file, line and field.

    Example: streamwise validate pipelines/clickstream.yaml
    """
    from streamwise.pipeline import load_pipeline, resolve

    path = resolve(pipeline)
    spec = load_pipeline(path)
    steps = " → ".join(step.type for step in spec.steps) or "(no steps)"
    sinks = ", ".join(sink.type for sink in spec.sinks)
    console.print(
        f"[green]✓[/] {path}: pipeline [bold]{spec.name}[/] reads {spec.source.topic}, {steps}, writes {sinks}"
    )


def explain(pipeline: PipelineArg) -> None:
    """Print the Spark plan the pipeline runs (parsed, analysed, optimised and physical).

    Example: streamwise explain clickstream
    """
    from streamwise.pipeline import load_pipeline, resolve
    from streamwise.pipeline.plan import Pipeline
    from streamwise.platform.spark import spark_session

    spec = load_pipeline(resolve(pipeline))
    cfg = settings()
    spark = spark_session(cfg, app_name=f"streamwise-explain-{spec.name}")
    console.print(Pipeline(spec, cfg).explain(spark), highlight=False, markup=False)


def train(
    table: Annotated[str, typer.Argument(help="Delta table of history: a path, or relative to the warehouse")],
    features: Annotated[str, typer.Option(help="Comma-separated numeric feature columns")],
    label: Annotated[str, typer.Option(help="0/1 label column")],
    model: Annotated[str, typer.Option(help="Where to save it: a path, or a name under the state folder's models/")],
) -> None:
    """Train a classifier on history in Delta, for a pipeline's `score` step.

    Example: streamwise train payments/history --features amount,foreign --label is_fraud --model fraud
    """
    from streamwise.pipeline.ml import train_classifier
    from streamwise.pipeline.spec import model_path
    from streamwise.platform.spark import spark_session
    from streamwise.platform.storage import data_root
    from streamwise.sinks import warehouse_path

    cfg = settings()
    spark = spark_session(cfg, app_name="streamwise-train")
    with console.status(f"training on {table}"):
        report = train_classifier(
            spark,
            warehouse_path(table, data_root(cfg)),
            features=features.split(","),
            label=label,
            model_path=model_path(model, cfg.state),
        )
    console.print(
        f"[green]✓[/] trained on {report.rows:,} rows ({report.positives:,} positive); "
        f"held-out AUC {report.auc:.3f}; saved to {report.model_path}"
    )
