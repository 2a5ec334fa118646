"""The embedded local platform behind ``streamwise up`` / ``down``: broker, generator, pipeline.

Every process is a :class:`Service` under the state folder, so ``down`` finds and stops each one by
its pid even when ``up`` ran in another terminal. Child processes get the same settings through
``STREAMWISE_*`` variables.
"""

from __future__ import annotations

import logging
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

from streamwise.app.principals import (
    DASHBOARD,
    REGISTRY,
    dashboard_acls,
    pipeline_acls,
    pipeline_principal,
    producer_acls,
    producer_principal,
    provision,
    registry_acls,
)
from streamwise.app.reference import seed_merchants
from streamwise.config import DashboardSettings, Settings, settings_env
from streamwise.dashboard import start_dashboard
from streamwise.dashboard.settings import pipeline_results_table
from streamwise.ingest.scenario import names as scenarios
from streamwise.monitor.store import latest_metrics
from streamwise.pipeline import load_pipeline, resolve
from streamwise.pipeline.layout import PipelineLayout
from streamwise.pipeline.spec import JdbcSide, JoinStep, PipelineSpec
from streamwise.platform import jars
from streamwise.platform.cluster import SparkCluster
from streamwise.platform.exceptions import PlatformError
from streamwise.platform.kafka import KafkaCluster
from streamwise.platform.ports import check_binds
from streamwise.platform.process import SERVICES, Service
from streamwise.platform.services import PostgresServer, RedisServer
from streamwise.platform.storage import data_root
from streamwise.platform.topics import create_topic, end_offsets, partition_count
from streamwise.schemas import start_registry
from streamwise.secret_files import private_dir
from streamwise.sinks import PostgresSink, RedisSink

log = logging.getLogger(__name__)


def _streamwise(*args: str) -> list[str]:
    return [sys.executable, "-m", "streamwise", *args]


def start_generator(settings: Settings, *, scenario: str, topic: str, rate: float, partitions: int) -> int:
    """Create the topic and start the scenario's generator; ready once its events reach Kafka (the
    pipeline creates its dead-letter topic when it starts)."""
    create_topic(settings.kafka, topic, partitions=partitions, exist_ok=True)
    parts = list(range(partition_count(settings.kafka, topic)))
    before = sum(end_offsets(settings.kafka, topic, parts).values())
    return Service("generator", settings.state).start(
        # No ground-truth file for a generator that runs until stopped: it would grow without bound.
        _streamwise("produce", scenario, "--topic", topic, "--rate", str(rate), "--quiet", "--no-ground-truth"),
        ready=lambda: sum(end_offsets(settings.kafka, topic, parts).values()) > before,
        timeout_s=60,
        env=settings_env(settings),
    )


def start_pipeline(settings: Settings, pipeline: str, layout: PipelineLayout) -> int:
    """Start a pipeline under a supervisor (``run --supervise``: a failed driver is restarted with
    backoff, and ``status`` shows the restarts); ready once its main query (``layout``) has planned or
    committed a micro-batch since this start (a checkpoint from an earlier run holds only the last
    100 batches: batch 0 may be long gone)."""
    started = time.time()
    checkpoint = layout.main_checkpoint

    def batch_since_start() -> bool:
        if not isinstance(checkpoint, Path):
            # A remote checkpoint is read through a Spark driver's Hadoop client, and this process
            # runs none: the progress the query publishes to Kafka after each batch tells the same.
            progress = latest_metrics(settings.kafka).get(layout.main_query)
            return progress is not None and progress.timestamp_ms >= started * 1000
        logs = [checkpoint / "offsets", checkpoint / "commits"]
        return any(f.stat().st_mtime >= started for folder in logs if folder.is_dir() for f in folder.iterdir())

    return Service("pipeline", settings.state).start(
        _streamwise("run", pipeline, "--supervise"), ready=batch_since_start, timeout_s=300, env=settings_env(settings)
    )


def needs_database(spec: PipelineSpec) -> bool:
    """True when the pipeline reads or writes PostgreSQL or Redis (so `up` starts and seeds them)."""
    joins = [s for s in spec.steps if isinstance(s, JoinStep) and isinstance(s.right, JdbcSide)]
    return bool(joins) or any(isinstance(sink, PostgresSink | RedisSink) for sink in spec.sinks)


def up(
    settings: Settings,
    *,
    rate: float,
    partitions: int,
    pipeline: str = "clickstream",
    spark_workers: int = 0,
    step: Callable[[str], None] = lambda _msg: None,
) -> PipelineSpec:
    """Bring everything up for ``pipeline`` (an example name or file), reporting each stage through
    ``step``; already-running parts are kept. The generator is the scenario named like the topic.
    With ``spark_workers`` the pipeline runs on a local Spark standalone cluster of that many workers
    (``streamwise cluster up``), else on ``spark.master``."""
    spec = load_pipeline(resolve(pipeline))
    topic = spec.source.topic
    if topic not in scenarios():
        raise PlatformError(
            f"pipeline {spec.name} reads topic {topic!r}, which no generator produces",
            hint=f"up runs pipelines over a scenario topic: {', '.join(scenarios())}",
        )
    # Every address is checked before anything starts: a refused bind must not leave half a platform.
    local_kafka = [] if settings.kafka.external else ["kafka"]
    check_binds(
        settings, [*local_kafka, "registry", "dashboard", *(["postgres", "redis"] if needs_database(spec) else [])]
    )
    private_dir(settings.state)
    step("resolving JVM jars (Maven, first run only)")
    jars.ensure_all(settings.cache)
    kafka = KafkaCluster(settings)
    if settings.kafka.external:
        step(f"using the existing Kafka at {settings.kafka.bootstrap}")
        if not kafka.serving(timeout_s=15):
            raise PlatformError(
                f"the existing Kafka at {settings.kafka.bootstrap} does not answer (or a partition has no leader)",
                hint="check STREAMWISE_KAFKA_BOOTSTRAP_SERVERS and its security settings: `streamwise kafka status`",
            )
    else:
        step(f"starting Kafka on {settings.kafka.bootstrap}")
        kafka.start()
    # In the secure profile each part speaks as its own principal, with only its ACLs (app.principals).
    step(f"starting the schema registry on {settings.registry.url}")
    start_registry(provision(settings, REGISTRY, registry_acls(settings)))
    step(f"starting the dashboard on {settings.dashboard.url}")
    start_dashboard(provision(settings, DASHBOARD, dashboard_acls(settings)), dashboard_for(spec, settings))
    if needs_database(spec):
        step(f"starting PostgreSQL on port {settings.postgres.port} and Redis on {settings.redis.port}")
        PostgresServer(settings).start()
        RedisServer(settings).start()
        seed_merchants(settings)
    step(f"starting the {topic} generator ({rate:g} events/s)")
    producer = provision(settings, producer_principal(topic), producer_acls(topic))
    start_generator(producer, scenario=topic, topic=topic, rate=rate, partitions=partitions)
    if spark_workers:
        cluster = SparkCluster(settings)
        step(f"starting a Spark cluster of {spark_workers} workers on {cluster.url}")
        cluster.start(spark_workers)
        settings = settings.model_copy(update={"spark": settings.spark.model_copy(update={"master": cluster.url})})
    step(f"starting the Spark pipeline {spec.name} on {settings.spark.master} (first start takes ~30 s)")
    driver = provision(settings, pipeline_principal(spec.name), pipeline_acls(spec))
    start_pipeline(driver, pipeline, PipelineLayout(spec.name, data_root(settings)))
    return spec


def dashboard_for(spec: PipelineSpec, settings: Settings) -> DashboardSettings:
    """The dashboard's settings for the pipeline ``up`` runs: its windows come from that pipeline's
    Delta table (unless a results table is set explicitly)."""
    dash = settings.dashboard
    table = pipeline_results_table(spec, settings)
    return (
        dash.model_copy(update={"results_table": table}) if dash.results_table is None and table is not None else dash
    )


def down(settings: Settings, *, purge: bool = False) -> list[str]:
    """Stop every service ``up`` started, by pid; ``purge`` also deletes the state folder.

    Returns the names of the services that were running.
    """
    stopped = [name for name in SERVICES if _stop(name, settings)]
    if purge and settings.state.exists():
        shutil.rmtree(settings.state)
    return stopped


def _stop(name: str, settings: Settings) -> bool:
    servers = {"kafka": KafkaCluster, "postgres": PostgresServer, "redis": RedisServer, "spark-master": SparkCluster}
    # Each knows its own clean shutdown (PostgreSQL: fast shutdown, not TERM; a Spark cluster: every
    # worker, then the master).
    if name in servers:
        return servers[name](settings).stop()
    # A pipeline stops between two batches and settles the last ones before it exits: give it time.
    return Service(name, settings.state).stop(grace_s=60.0 if name == "pipeline" else 15.0)
