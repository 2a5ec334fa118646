"""The registry as a supervised process: ``python -m streamwise registry serve`` under :class:`Service`.

Ready means ``GET /subjects`` answers 200, i.e. the state has been rebuilt from the Kafka topic
and the HTTP server listens.

The secure profile sets, in :class:`RegistrySettings`: ``tls_cert_file``/``tls_key_file`` (from
``platform.certificates.certificate(settings, "registry")``, so the registry serves HTTPS),
``ca_file`` (what clients, and the readiness probe, verify it with) and ``users_dir`` (writes need
basic auth); the registry's own Kafka access follows ``settings.kafka`` (SASL_SSL there).
"""

from __future__ import annotations

import logging
import ssl
import sys
import time
from dataclasses import dataclass

import httpx
import uvicorn

from streamwise.config import RegistrySettings, Settings, settings_env
from streamwise.errors import ConfigError
from streamwise.platform.kafka import KafkaCluster
from streamwise.platform.ports import check_bind, ensure_port_free
from streamwise.platform.process import Service, ServiceStatus
from streamwise.schemas.app import create_app
from streamwise.schemas.exceptions import RegistryUnavailableError
from streamwise.schemas.store import SchemaStore
from streamwise.schemas.topic_log import KafkaSchemaLog

log = logging.getLogger(__name__)

SERVICE_NAME = "registry"
KAFKA_WAIT_S = 15.0  # for partitions to be served once the brokers answer


@dataclass(frozen=True)
class RegistryStatus:
    """The registry process and whether it answers."""

    process: ServiceStatus
    url: str
    serving: bool


def registry_service(settings: Settings) -> Service:
    """The supervisor record of the registry under the state folder."""
    return Service(SERVICE_NAME, settings.state)


def answers(reg: RegistrySettings, timeout_s: float = 2.0) -> bool:
    """True when the registry ``reg`` describes lists its subjects (over HTTPS, verified with its CA)."""
    verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(reg.ca_file)) if reg.ca_file else True
    try:
        return httpx.get(f"{reg.url}/subjects", timeout=timeout_s, verify=verify).status_code == 200
    except httpx.HTTPError:
        return False


def start_registry(settings: Settings, *, timeout_s: float = 60.0) -> int:
    """Start the registry unless it runs already (Kafka must be up); return its pid once it answers."""
    service = registry_service(settings)
    running = service.process()
    if running is not None:
        return running.pid
    reg = settings.registry
    check_bind(reg.host, "the schema registry", settings, setting="registry.host")
    ensure_port_free(reg.host, reg.port, what="the schema registry", option="--port")
    _check_files(reg)
    if not _kafka_serves(KafkaCluster(settings)):
        raise RegistryUnavailableError(
            50001,
            f"Kafka on {settings.kafka.bootstrap} does not answer; the registry keeps its state there",
            hint="start it first with `streamwise kafka start` (or pass --kafka-port)",
        )
    log.info("starting the schema registry on %s (state in topic %s)", reg.url, reg.topic)
    return service.start(
        [sys.executable, "-m", "streamwise", "registry", "serve"],
        ready=lambda: answers(reg),
        timeout_s=timeout_s,
        env=settings_env(settings),
    )


def _kafka_serves(cluster: KafkaCluster, wait_s: float = KAFKA_WAIT_S) -> bool:
    """Whether Kafka serves every partition; when its brokers answer but some partition is not served
    yet (a leader still loading after a restart, a busy machine), wait up to ``wait_s`` for it. No
    broker answering fails at once."""
    deadline = time.monotonic() + wait_s
    while not cluster.serving():
        if not cluster.registered() or time.monotonic() >= deadline:
            return False
        time.sleep(0.5)
    return True


def stop_registry(settings: Settings) -> bool:
    """Stop the registry by pid; True if it was running."""
    return registry_service(settings).stop(grace_s=10.0)


def registry_status(settings: Settings) -> RegistryStatus:
    proc = registry_service(settings).status()
    url = settings.registry.url
    return RegistryStatus(proc, url, proc.running and answers(settings.registry))


def serve(settings: Settings) -> None:
    """Rebuild the state from the topic and serve the REST API until stopped (the process's body)."""
    reg = settings.registry
    _check_files(reg)
    store = SchemaStore(KafkaSchemaLog(settings.kafka, reg.topic))
    log.info("registry state rebuilt from %s: %d subjects", reg.topic, len(store.subjects(deleted=True)))
    uvicorn.run(
        create_app(store, reg),
        host=reg.host,
        port=reg.port,
        log_level="info",
        access_log=False,
        ssl_certfile=str(reg.tls_cert_file) if reg.tls_cert_file else None,
        ssl_keyfile=str(reg.tls_key_file) if reg.tls_key_file else None,
    )


def _check_files(reg: RegistrySettings) -> None:
    """A ConfigError naming the first TLS file or users folder the settings name but that is missing."""
    for what, path in (
        ("tls_cert_file", reg.tls_cert_file),
        ("tls_key_file", reg.tls_key_file),
        ("ca_file", reg.ca_file),
        ("users_dir", reg.users_dir),
    ):
        if path is not None and not path.exists():
            raise ConfigError(
                f"the schema registry's {what} {path} does not exist",
                hint=f"unset STREAMWISE_REGISTRY_{what.upper()} or start the secure profile (streamwise up) to create it",
            )
