"""The embedded local platform behind ``streamwise up`` / ``down``: broker, generator, pipeline.

Every process is a :class:`Service` under the state folder, so ``down`` finds and stops each one by
its pid even when ``up`` ran in another terminal. Child processes get the same settings through
``STREAMWISE_*`` variables.
"""

from __future__ import annotations

import logging
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from pydantic import SecretStr

from streamwise.config import Settings
from streamwise.platform import jars
from streamwise.platform.kafka import KafkaBroker
from streamwise.platform.process import Service
from streamwise.platform.topics import create_topic, end_offsets

log = logging.getLogger(__name__)

CLICKSTREAM_TOPIC = "clickstream"
# Stopped in this order by `down`: consumers before producers before the broker.
SERVICES = ("dashboard", "pipeline", "generator", "registry", "kafka", "redis", "postgres")


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes a child process see exactly these settings."""
    env = {"STREAMWISE_STATE_DIR": str(settings.state), "STREAMWISE_CACHE_DIR": str(settings.cache)}
    for prefix, section in settings.sections().items():
        for name in type(section).model_fields:
            value = getattr(section, name)
            if isinstance(value, SecretStr):
                value = value.get_secret_value()  # str() would hand the child '**********'
            if value is not None:  # unset stays unset (str(None) would be read back as a value)
                env[f"STREAMWISE_{prefix.upper()}_{name.upper()}"] = str(value)
    return env


def _streamwise(*args: str) -> list[str]:
    return [sys.executable, "-m", "streamwise", *args]


def start_generator(settings: Settings, *, rate: float, partitions: int) -> int:
    """Create the clickstream topic and start the generator; ready once its events reach Kafka."""
    create_topic(settings.kafka, CLICKSTREAM_TOPIC, partitions=partitions, exist_ok=True)
    create_topic(settings.kafka, f"{CLICKSTREAM_TOPIC}.dlq", partitions=1, exist_ok=True)
    parts = list(range(partitions))
    before = sum(end_offsets(settings.kafka, CLICKSTREAM_TOPIC, parts).values())
    return Service("generator", settings.state).start(
        # No ground-truth file for a generator that runs until stopped: it would grow without bound.
        _streamwise("produce", "clickstream", "--rate", str(rate), "--quiet", "--no-ground-truth"),
        ready=lambda: sum(end_offsets(settings.kafka, CLICKSTREAM_TOPIC, parts).values()) > before,
        timeout_s=60,
        env=settings_env(settings),
    )


def start_pipeline(settings: Settings, checkpoint: Path) -> int:
    """Start the clickstream pipeline; ready once its query has planned a first micro-batch."""
    return Service("pipeline", settings.state).start(
        _streamwise("run", "clickstream"),
        ready=lambda: (checkpoint / "offsets" / "0").is_file(),
        timeout_s=300,
        env=settings_env(settings),
    )


def up(
    settings: Settings,
    *,
    rate: float,
    partitions: int,
    step: Callable[[str], None] = lambda _msg: None,
) -> None:
    """Bring everything up, reporting each stage through ``step``; already-running parts are kept."""
    step("resolving JVM jars (Maven, first run only)")
    jars.ensure_all(settings.cache)
    step(f"starting Kafka on {settings.kafka.bootstrap_servers}")
    KafkaBroker(settings).start()
    from streamwise.schemas import start_registry

    step(f"starting the schema registry on {settings.registry.url}")
    start_registry(settings)
    from streamwise.dashboard import start_dashboard

    step(f"starting the dashboard on {settings.dashboard.url}")
    start_dashboard(settings)
    step(f"starting the clickstream generator ({rate:g} events/s)")
    start_generator(settings, rate=rate, partitions=partitions)
    from streamwise.pipeline import load_pipeline, resolve
    from streamwise.pipeline.spec import checkpoint_root

    spec = load_pipeline(resolve("clickstream"))
    step("starting the Spark pipeline (first start takes ~30 s)")
    start_pipeline(settings, checkpoint_root(spec.name, settings.state) / "delta_0")


def down(settings: Settings, *, purge: bool = False) -> list[str]:
    """Stop every service ``up`` started, by pid; ``purge`` also deletes the state folder.

    Returns the names of the services that were running.
    """
    stopped = [name for name in SERVICES if _stop(name, settings)]
    if purge and settings.state.exists():
        shutil.rmtree(settings.state)
    return stopped


def _stop(name: str, settings: Settings) -> bool:
    from streamwise.platform.services import PostgresServer, RedisServer

    servers = {"kafka": KafkaBroker, "postgres": PostgresServer, "redis": RedisServer}
    if name in servers:  # each knows its own clean shutdown (PostgreSQL: fast shutdown, not TERM)
        return servers[name](settings).stop()
    return Service(name, settings.state).stop()
