"""The local Apache Kafka in KRaft mode, run from the jars: one node, or a cluster of three.

Every node is a combined broker and controller. A cluster's nodes form a static three-voter
controller quorum (``controller.quorum.voters``), so any one node can die while the other two elect
a leader and keep serving; topics get three replicas, ``min.insync.replicas=2`` and no unclean
leader election, so an acknowledged write (acks=all) is on two nodes before it is answered.

Storage is formatted once (``kafka.tools.StorageTool format``, every node with one cluster id) and
survives stop/start; ``STATE/kafka/topology.json`` records how many nodes it was formatted for, and
whether for the secure profile. Readiness means every partition has a serving leader and every node
has registered.

The secure profile (``settings.security.enabled``) has no plaintext listener: the client listener
(``CLIENT``, also the inter-broker one, where a node speaks as ``admin``) is SASL_SSL with
SCRAM-SHA-512, and the controller listener is TLS with client certificates: node ``i`` proves itself
with the certificate ``kafka-i`` the project's CA signed, whose CN becomes its principal. The
``StandardAuthorizer`` denies whatever no ACL allows; ``admin`` and the nodes are super users. The
admin's SCRAM credential is written into the storage when it is formatted (a broker must log in to
itself before any client could create it), and ``server.properties``, which holds its password, is
a secret file (0600).
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psutil
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec, PartitionMetadata

from streamwise.config import QUIET, KafkaNodeAddress, Settings
from streamwise.platform import certificates, jars
from streamwise.platform.exceptions import PlatformError, ServiceStartError
from streamwise.platform.java import require_java
from streamwise.platform.kafka_tools import METADATA_QUORUM, run_tool
from streamwise.platform.ports import check_bind, ensure_port_free
from streamwise.platform.process import Service, ServiceStatus
from streamwise.platform.security import (
    ADMIN,
    MECHANISM,
    admin_password,
    as_principal,
    controller_client_properties,
    node_principal,
    secure_recorded,
)
from streamwise.secret_files import private_dir, write_secret

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
class NodeStatus:
    """One node: its process, and whether the cluster's metadata lists it as a live broker."""

    node_id: int
    process: ServiceStatus
    address: str
    registered: bool


@dataclass(frozen=True)
class ClusterStatus:
    """What ``kafka status`` shows: each node, whether clients are served, the quorum's leader and the
    partitions short of replicas."""

    nodes: list[NodeStatus]
    bootstrap_servers: str
    serving: bool
    controller_leader: int | None
    under_replicated: list[str]
    data_dir: Path


class KafkaNode:
    """One KRaft node (broker and controller) on loopback: its config, storage and process."""

    def __init__(self, settings: Settings, address: KafkaNodeAddress) -> None:
        self.settings = settings
        self.kafka = settings.kafka
        self.address = address
        self.node_id = address.node_id
        single = settings.kafka.nodes == 1
        # A single node keeps the layout it always had: STATE/kafka/data, service "kafka".
        self.home = settings.state / "kafka" if single else settings.state / "kafka" / f"node-{self.node_id}"
        self.data_dir = self.home / "data"
        self.config_file = self.home / "server.properties"
        self.service = Service("kafka" if single else f"kafka-{self.node_id}", settings.state)

    @property
    def bootstrap_server(self) -> str:
        return f"{self.kafka.host}:{self.address.port}"

    @property
    def formatted(self) -> bool:
        return (self.data_dir / "meta.properties").is_file()

    def launch(self, java: Path, classpath: str) -> int:
        """Start the node's JVM unless it runs; return its pid without waiting (a node alone cannot
        serve until a quorum of controllers is up)."""
        running = self.service.process()
        if running is not None:
            return running.pid
        self.check_ports()
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
        log.info("starting Kafka node %d on %s", self.node_id, self.bootstrap_server)
        return self.service.start(cmd, ready=lambda: True, timeout_s=self.kafka.start_timeout_s)

    def check_ports(self) -> None:
        """Raise ExposedBindError for an address nothing protects, PortInUseError naming who holds a
        port this node needs."""
        of = f" of node {self.node_id}" if self.kafka.nodes > 1 else ""
        check_bind(self.kafka.host, f"Kafka node {self.node_id}", self.settings, setting="kafka.host")
        for port, what, option in (
            (self.address.port, f"the Kafka client listener{of}", "--port"),
            (self.address.controller_port, f"the KRaft controller{of}", "--controller-port"),
        ):
            ensure_port_free(self.kafka.host, port, what=what, option=option)

    def answers(self, timeout_s: float = 2.0) -> bool:
        """True when this node's own client listener answers a metadata request (it opens only once the
        node has caught up with the cluster's metadata and registered)."""
        config = as_principal(self.settings, ADMIN).kafka.client_config(
            **QUIET, **{"bootstrap.servers": self.bootstrap_server, "socket.timeout.ms": int(timeout_s * 1000)}
        )
        try:
            return AdminClient(config).list_topics(timeout=timeout_s).orig_broker_id == self.node_id
        except Exception:
            return False

    def kill(self) -> bool:
        """SIGKILL the node and everything it started, as a power cut would; True if it ran."""
        proc = self.service.process()
        if proc is None:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the node leads its own session
        with contextlib.suppress(psutil.Error):
            proc.wait(timeout=10)
        return True

    @property
    def secure(self) -> bool:
        return self.settings.security.enabled

    def write_config(self) -> None:
        """Write ``server.properties`` (a secret file in the secure profile: it holds admin's password)
        and the log4j2 config."""
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "log4j2.yaml").write_text(_LOG4J)
        text = "".join(f"{key}={value}\n" for key, value in self.properties().items())
        if self.secure:
            write_secret(self.config_file, text)
        else:
            self.config_file.write_text(text)

    def properties(self) -> dict[str, object]:
        """The node's ``server.properties``, as keys and values."""
        k = self.kafka
        voters = ",".join(f"{a.node_id}@{k.host}:{a.controller_port}" for a in k.addresses())
        replicas, min_isr = k.replication_factor, k.min_insync_replicas
        client = "CLIENT" if self.secure else "PLAINTEXT"
        props: dict[str, object] = {
            "process.roles": "broker,controller",
            "node.id": self.node_id,
            "controller.quorum.voters": voters,
            "listeners": f"{client}://{k.host}:{self.address.port},CONTROLLER://{k.host}:{self.address.controller_port}",
            "advertised.listeners": f"{client}://{k.host}:{self.address.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": client,
            "listener.security.protocol.map": "CLIENT:SASL_SSL,CONTROLLER:SSL"
            if self.secure
            else "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": self.data_dir,
            "num.partitions": k.default_partitions,
            # Every topic, Kafka's own included, on as many nodes as there are (up to three), and a
            # write acknowledged only once on all but one of them: one node may die without loss.
            "default.replication.factor": replicas,
            "min.insync.replicas": min_isr,
            "unclean.leader.election.enable": "false",
            "offsets.topic.replication.factor": replicas,
            "transaction.state.log.replication.factor": replicas,
            "transaction.state.log.min.isr": min_isr,
            "share.coordinator.state.topic.replication.factor": replicas,
            "share.coordinator.state.topic.min.isr": min_isr,
            "group.initial.rebalance.delay.ms": 0,
            "auto.create.topics.enable": "false",
        }
        if self.secure:
            props |= self._security_properties()
        return props

    def _security_properties(self) -> dict[str, object]:
        k = self.kafka
        tls = certificates.certificate(self.settings, node_principal(self.node_id), hosts=(k.host,))
        nodes = [node_principal(a.node_id) for a in k.addresses()]
        jaas = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{ADMIN}" password="{admin_password(self.settings).get_secret_value()}";'
        )
        return {
            # One PEM file holds the node's key and certificate chain; the CA alone is what it trusts,
            # as a server (client certificates on the controller listener) and as a client.
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": tls.bundle,
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": tls.ca,
            "ssl.endpoint.identification.algorithm": "https",
            "sasl.mechanism.inter.broker.protocol": MECHANISM,
            "listener.name.client.sasl.enabled.mechanisms": MECHANISM,
            f"listener.name.client.{MECHANISM.lower()}.sasl.jaas.config": jaas,
            # Nodes and tools on the controller listener show a certificate; its CN is the principal.
            "listener.name.controller.ssl.client.auth": "required",
            "ssl.principal.mapping.rules": "RULE:^CN=([^,]+),.*$/$1/,DEFAULT",
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found": "false",
            "super.users": ";".join(f"User:{name}" for name in [ADMIN, *nodes]),
        }

    def format(self, java: Path, classpath: str, cluster_id: str) -> None:
        """Format the node's storage; in the secure profile with admin's SCRAM credential in it."""
        args = ["kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(self.config_file)]
        log.info("formatting KRaft storage of node %d in %s (cluster %s)", self.node_id, self.data_dir, cluster_id)
        if self.secure:
            # The password goes through a Java argument file (0600, deleted right after), never argv,
            # which every user of the machine can read in /proc.
            password = admin_password(self.settings).get_secret_value()
            scram = f"{MECHANISM}=[name={ADMIN},password={password}]"
            lines = "".join(f"{_argfile_quote(arg)}\n" for arg in [*args, "--add-scram", scram])
            folder = private_dir(certificates.security_dir(self.settings) / "tmp")
            argfile = write_secret(folder / f"format-{self.node_id}.args", lines)
            try:
                result = subprocess.run(
                    [str(java), "-cp", classpath, f"@{argfile}"], capture_output=True, text=True, check=False
                )
            finally:
                argfile.unlink(missing_ok=True)
        else:
            result = subprocess.run([str(java), "-cp", classpath, *args], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise PlatformError(
                f"formatting Kafka storage in {self.data_dir} failed: {result.stderr.strip()[-500:]}",
                hint="remove the folder (streamwise down --purge) if it holds a broken format",
            )


class KafkaCluster:
    """The local Kafka: ``settings.kafka.nodes`` KRaft nodes on loopback, files under ``STATE/kafka``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.kafka = settings.kafka
        self.nodes = [KafkaNode(settings, address) for address in settings.kafka.addresses()]
        self.topology_file = settings.state / "kafka" / "topology.json"

    @property
    def data_dir(self) -> Path:
        return self.settings.state / "kafka"

    def node(self, node_id: int) -> KafkaNode:
        """The node with id ``node_id``, or a PlatformError naming the ids there are."""
        for node in self.nodes:
            if node.node_id == node_id:
                return node
        ids = ", ".join(str(n.node_id) for n in self.nodes)
        raise PlatformError(
            f"there is no Kafka node {node_id}: this platform has node(s) {ids}",
            hint="streamwise kafka status lists them; --profile cluster runs three",
        )

    def start(self) -> list[int]:
        """Start every node that is not running; return their pids once the cluster serves."""
        if self.kafka.external:
            raise PlatformError(
                f"Kafka is an existing cluster here ({self.kafka.bootstrap}): streamwise starts no broker for it",
                hint="unset STREAMWISE_KAFKA_BOOTSTRAP_SERVERS to start the local Kafka",
            )
        self.check_recorded()
        java = require_java()
        jars.cached_jars(self.settings.cache, "broker")
        classpath = str(jars.jar_dir(self.settings.cache, "broker") / "*")
        for node in self.nodes:
            if node.service.process() is None:
                node.check_ports()  # before formatting: a taken port leaves no half-made storage
            node.write_config()
        if not all(node.formatted for node in self.nodes):
            cluster_id = new_cluster_id()
            for node in self.nodes:
                if not node.formatted:
                    node.format(java, classpath, cluster_id)
            record = {"cluster_id": cluster_id, "nodes": self.kafka.nodes, "secure": self.settings.security.enabled}
            self.topology_file.write_text(json.dumps(record))
        log.info("starting Kafka on %s", self.kafka.bootstrap)
        pids = [node.launch(java, classpath) for node in self.nodes]
        self._await(lambda: self.serving() and self.registered() == {n.node_id for n in self.nodes}, self.nodes)
        return pids

    def check_recorded(self) -> None:
        """Raise a PlatformError when the storage was formatted for another node count or profile."""
        recorded = recorded_nodes(self.settings.state)
        if recorded is None:
            return
        if recorded != self.kafka.nodes:
            raise PlatformError(
                f"the Kafka storage in {self.data_dir} was formatted for {recorded} node(s), not {self.kafka.nodes}",
                hint="start it with the profile it was made with, or delete it (streamwise down --purge)",
            )
        secure = secure_recorded(self.settings.state)
        if secure and not self.settings.security.enabled:
            raise PlatformError(
                f"the Kafka storage in {self.data_dir} was formatted for the secure profile (TLS, SCRAM, ACLs): "
                "it has no plaintext listener to start with",
                hint="start it with --profile secure, or delete it (streamwise down --purge)",
            )
        if not secure and self.settings.security.enabled:
            raise PlatformError(
                f"the Kafka storage in {self.data_dir} was formatted without the secure profile: it holds no "
                "admin credential, so it cannot start with SASL_SSL and ACLs",
                hint="start it without --profile secure, or delete it (streamwise down --purge) and start secure",
            )

    def restart(self, node_id: int) -> int:
        """Start node ``node_id`` again (after a kill or stop); return its pid once it has registered
        and is back in the in-sync replicas of every partition it holds (so a drill that kills the
        next node right after never leaves a partition below ``min.insync.replicas`` by its doing).

        The node's own listener must answer first: until it has registered again, the metadata still
        shows the killed incarnation in sync."""
        node = self.node(node_id)
        java = require_java()
        classpath = str(jars.jar_dir(self.settings.cache, "broker") / "*")
        pid = node.launch(java, classpath)
        self._await(lambda: node.answers() and not self.lagging(node_id), [node])
        return pid

    def kill(self, node_id: int) -> bool:
        """SIGKILL node ``node_id`` (a crash drill); True if it was running."""
        return self.node(node_id).kill()

    def stop(self) -> bool:
        """Stop every node by pid, all at once: TERM lets each close its logs cleanly, and a node
        stopped alone while others still run would first wait to hand over its partitions."""
        with ThreadPoolExecutor(max_workers=len(self.nodes)) as pool:
            stopped = list(pool.map(lambda node: node.service.stop(grace_s=30.0), self.nodes))
        return any(stopped)

    def serving(self, timeout_s: float = 2.0) -> bool:
        """True when clients are served: metadata answers, and every partition has a leader that
        answers for it.

        After a restart a node registers before it has reloaded its logs and taken leadership
        again; until then reads and offset look-ups fail with NOT_LEADER_OR_FOLLOWER.
        """
        admin = self._admin(timeout_s)
        try:
            metadata = admin.list_topics(timeout=timeout_s)
        except Exception:
            return False
        partitions = [(name, p) for name, t in metadata.topics.items() for p in t.partitions.values()]
        if not metadata.brokers or not all(p.error is None and p.leader >= 0 for _, p in partitions):
            return False
        if not partitions:
            return True
        # Metadata can name a leader before it acts as one: ask every partition for its end offset,
        # in one request, as a client would.
        requests = {TopicPartition(topic, p.id): OffsetSpec.latest() for topic, p in partitions}
        try:
            for future in admin.list_offsets(requests, request_timeout=timeout_s).values():
                future.result()
        except Exception:
            return False
        return True

    def registered(self, timeout_s: float = 2.0) -> set[int]:
        """Ids of the nodes the cluster's metadata lists as live brokers (empty when none answers)."""
        try:
            return set(self._admin(timeout_s).list_topics(timeout=timeout_s).brokers)
        except Exception:
            return set()

    def lagging(self, node_id: int, timeout_s: float = 5.0) -> list[str]:
        """``topic/partition`` of every partition ``node_id`` holds a replica of but is not in sync on
        (every one, when the metadata cannot be read)."""
        return self._partitions(lambda p: node_id in p.replicas and node_id not in p.isrs, timeout_s, ["?"])

    def under_replicated(self, timeout_s: float = 5.0) -> list[str]:
        """``topic/partition`` of every partition whose in-sync replicas are fewer than its replicas."""
        return self._partitions(lambda p: len(p.isrs) < len(p.replicas), timeout_s, [])

    def _partitions(
        self, which: Callable[[PartitionMetadata], bool], timeout_s: float, unknown: list[str]
    ) -> list[str]:
        try:
            metadata = self._admin(timeout_s).list_topics(timeout=timeout_s)
        except Exception:
            return unknown
        return sorted(
            f"{name}/{p.id}" for name, topic in metadata.topics.items() for p in topic.partitions.values() if which(p)
        )

    def controller_leader(self) -> int | None:
        """The node leading the controller quorum (Kafka's ``kafka-metadata-quorum describe --status``),
        or None when no quorum answers."""
        controllers = ",".join(f"{self.kafka.host}:{a.controller_port}" for a in self.kafka.addresses())
        # The controller listener of the secure profile wants a client certificate, not a password.
        tls = controller_client_properties(self.settings) if self.settings.security.enabled else {}
        try:
            out = run_tool(
                self.settings,
                METADATA_QUORUM,
                "--bootstrap-controller",
                controllers,
                "describe",
                "--status",
                timeout_s=30,
                client_properties=tls,
            )
        except (PlatformError, subprocess.TimeoutExpired):
            return None
        match = re.search(r"^LeaderId:\s*(-?\d+)", out, re.MULTILINE)
        return int(match.group(1)) if match and int(match.group(1)) >= 0 else None

    def status(self, *, quorum: bool = True) -> ClusterStatus:
        """Each node, serving or not, and (when ``quorum``, which costs a JVM start) the quorum's leader."""
        live = self.registered()
        # An existing Kafka has no local nodes to list: it runs when it answers.
        local = [] if self.kafka.external else self.nodes
        nodes = [NodeStatus(n.node_id, n.service.status(), n.bootstrap_server, n.node_id in live) for n in local]
        running = bool(live) if self.kafka.external else any(n.process.running for n in nodes)
        serving = running and self.serving()
        return ClusterStatus(
            nodes=nodes,
            bootstrap_servers=self.kafka.bootstrap,
            serving=serving,
            controller_leader=self.controller_leader() if quorum and running else None,
            under_replicated=self.under_replicated() if serving else [],
            data_dir=self.data_dir,
        )

    def _admin(self, timeout_s: float) -> AdminClient:
        kafka = as_principal(self.settings, ADMIN).kafka  # the platform's own calls speak as admin
        return AdminClient(kafka.client_config(**QUIET, **{"socket.timeout.ms": int(timeout_s * 1000)}))

    def _await(self, ready: Callable[[], bool], watched: list[KafkaNode]) -> None:
        """Wait until ``ready()``; a watched node that exits meanwhile fails the wait with its log's tail."""
        deadline = time.monotonic() + self.kafka.start_timeout_s
        while time.monotonic() < deadline:
            for node in watched:
                if node.service.process() is None:
                    raise ServiceStartError(
                        f"Kafka node {node.node_id} exited while starting; last lines of {node.service.log_file}:\n"
                        + node.service.tail(),
                        hint=f"read {node.service.log_file} for the whole story",
                    )
            if ready():
                return
            time.sleep(0.5)
        nodes = ", ".join(str(node.node_id) for node in watched)
        raise ServiceStartError(
            f"Kafka node(s) {nodes} not serving after {self.kafka.start_timeout_s:.0f}s on {self.kafka.bootstrap}",
            hint="raise STREAMWISE_KAFKA_START_TIMEOUT_S on a slow machine, or read the nodes' logs in "
            f"{self.settings.state / 'logs'}",
        )


def recorded_nodes(state_dir: Path) -> int | None:
    """How many nodes the Kafka storage under ``state_dir`` was formatted for; None if never formatted."""
    record = state_dir / "kafka" / "topology.json"
    try:
        return int(json.loads(record.read_text())["nodes"])
    except FileNotFoundError:
        # Storage formatted before the record existed was always a single node.
        return 1 if (state_dir / "kafka" / "data" / "meta.properties").is_file() else None
    except (ValueError, KeyError, TypeError):
        return None


def _argfile_quote(arg: str) -> str:
    """``arg`` as one argument of a Java ``@argfile`` (double-quoted; backslash and quote escaped)."""
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def new_cluster_id() -> str:
    """A KRaft cluster id: a random UUID in URL-safe base64, never starting with '-' (as Kafka's own)."""
    while True:
        encoded = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not encoded.startswith("-"):
            return encoded
