"""A local Apache Kafka broker in KRaft mode (combined broker + controller), run from the jars.

Storage is formatted once (``kafka.tools.StorageTool format``); the data folder survives stop/start.
Readiness means the broker answers a metadata request on its client listener.
"""

from __future__ import annotations

import base64
import logging
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from streamwise.config import QUIET, Settings
from streamwise.platform import jars
from streamwise.platform.exceptions import PlatformError
from streamwise.platform.java import require_java
from streamwise.platform.ports import ensure_port_free
from streamwise.platform.process import Service, ServiceStatus

log = logging.getLogger(__name__)

_LOG4J = """\
Configuration:
  Appenders:
    Console:
      name: STDOUT
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: INFO
      AppenderRef:
        - ref: STDOUT
    Logger:
      - name: kafka.request.logger
        level: WARN
      - name: org.apache.kafka.controller
        level: WARN
"""


@dataclass(frozen=True)
class BrokerStatus:
    """The broker process and whether it serves metadata."""

    process: ServiceStatus
    bootstrap_servers: str
    serving: bool
    data_dir: Path


class KafkaBroker:
    """One KRaft node on loopback, its files under ``STATE/kafka``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.kafka = settings.kafka
        self.home = settings.state / "kafka"
        self.data_dir = self.home / "data"
        self.config_file = self.home / "server.properties"
        self.service = Service("kafka", settings.state)

    def start(self) -> int:
        """Start the broker unless it runs already; return its pid once it serves metadata."""
        running = self.service.process()
        if running is not None:
            return running.pid
        java = require_java()
        ensure_port_free(self.kafka.host, self.kafka.port, what="the Kafka client listener", option="--port")
        ensure_port_free(
            self.kafka.host, self.kafka.controller_port, what="the KRaft controller", option="--controller-port"
        )
        jars.cached_jars(self.settings.cache, "broker")
        classpath = str(jars.jar_dir(self.settings.cache, "broker") / "*")
        self._write_config()
        if not (self.data_dir / "meta.properties").is_file():
            self._format(java, classpath)
        cmd = [
            str(java),
            f"-Xmx{self.kafka.heap}",
            f"-Xms{self.kafka.heap}",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.yaml'}",
            "-cp",
            classpath,
            "kafka.Kafka",
            str(self.config_file),
        ]
        log.info("starting Kafka on %s", self.kafka.bootstrap_servers)
        return self.service.start(cmd, ready=self.serving, timeout_s=self.kafka.start_timeout_s)

    def stop(self) -> bool:
        """Stop the broker by pid (TERM lets it close its logs cleanly)."""
        return self.service.stop(grace_s=30.0)

    def serving(self, timeout_s: float = 2.0) -> bool:
        """True when the broker answers metadata and serves every partition it holds.

        After a restart the broker registers before it has reloaded its logs and taken leadership
        again; until then reads and offset look-ups fail with NOT_LEADER_OR_FOLLOWER.
        """
        admin = AdminClient(self.kafka.client_config(**QUIET, **{"socket.timeout.ms": int(timeout_s * 1000)}))
        try:
            metadata = admin.list_topics(timeout=timeout_s)
        except Exception:
            return False
        partitions = [(name, p) for name, t in metadata.topics.items() for p in t.partitions.values()]
        if not metadata.brokers or not all(p.error is None and p.leader >= 0 for _, p in partitions):
            return False
        if not partitions:
            return True
        # Metadata can name this broker as leader before it acts as one: ask every partition for its
        # end offset, in one request, as a client would.
        requests = {TopicPartition(topic, p.id): OffsetSpec.latest() for topic, p in partitions}
        try:
            for future in admin.list_offsets(requests, request_timeout=timeout_s).values():
                future.result()
        except Exception:
            return False
        return True

    def status(self) -> BrokerStatus:
        proc = self.service.status()
        return BrokerStatus(proc, self.kafka.bootstrap_servers, proc.running and self.serving(), self.data_dir)

    def _write_config(self) -> None:
        k = self.kafka
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "log4j2.yaml").write_text(_LOG4J)
        props = {
            "process.roles": "broker,controller",
            "node.id": k.node_id,
            "controller.quorum.voters": f"{k.node_id}@{k.host}:{k.controller_port}",
            "listeners": f"PLAINTEXT://{k.host}:{k.port},CONTROLLER://{k.host}:{k.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{k.host}:{k.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": self.data_dir,
            "num.partitions": k.default_partitions,
            # A single node can only hold one replica of the internal topics.
            "offsets.topic.replication.factor": 1,
            "transaction.state.log.replication.factor": 1,
            "transaction.state.log.min.isr": 1,
            "share.coordinator.state.topic.replication.factor": 1,
            "share.coordinator.state.topic.min.isr": 1,
            "group.initial.rebalance.delay.ms": 0,
            "auto.create.topics.enable": "false",
        }
        self.config_file.write_text("".join(f"{key}={value}\n" for key, value in props.items()))

    def _format(self, java: Path, classpath: str) -> None:
        cluster_id = new_cluster_id()
        cmd = [
            str(java),
            "-cp",
            classpath,
            "kafka.tools.StorageTool",
            "format",
            "-t",
            cluster_id,
            "-c",
            str(self.config_file),
        ]
        log.info("formatting KRaft storage in %s (cluster %s)", self.data_dir, cluster_id)
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise PlatformError(
                f"formatting Kafka storage in {self.data_dir} failed: {result.stderr.strip()[-500:]}",
                hint="remove the folder (streamwise down --purge) if it holds a broken format",
            )


def new_cluster_id() -> str:
    """A KRaft cluster id: a random UUID in URL-safe base64, never starting with '-' (as Kafka's own)."""
    while True:
        encoded = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not encoded.startswith("-"):
            return encoded
