"""pytest fixtures for testing pipelines against the real thing: a Kafka broker, a SparkSession and a
scratch state folder, each started once per test session on free loopback ports.

Use them in your own project's ``conftest.py``::

    pytest_plugins = ["streamwise.testing.fixtures"]

then ask for ``streamwise_settings``, ``kafka_broker``, ``spark`` or ``topic_name`` in a test (or
``spark_cluster`` for a Spark standalone cluster of two workers, ``hdfs`` for a real HDFS to use as
the data root). The broker is stopped by its pid
when the session ends. Set ``STREAMWISE_CACHE_DIR`` to share the JVM jar
cache between projects (by default the jars are resolved into ``.streamwise/cache`` of the current
folder).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

import pytest

from streamwise.config import Settings, load_settings
from streamwise.platform.cluster import SparkCluster, on_free_ports
from streamwise.platform.hdfs import MiniHdfs
from streamwise.platform.kafka import KafkaCluster
from streamwise.platform.ports import free_port_block, free_ports
from streamwise.platform.services import PostgresServer, RedisServer
from streamwise.platform.spark import spark_session
from streamwise.schemas.service import start_registry, stop_registry

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from streamwise.platform.services import PostgresServer, RedisServer


@pytest.fixture(scope="session")
def streamwise_settings() -> Iterator[Settings]:
    """Settings of the test platform: scratch state folder, free ports, a small local Spark.

    The state folder is not under pytest's own temporary folder: pytest takes group and other bits
    off ``/tmp/pytest-of-<user>`` whenever a session starts, and when we are root the postgres OS
    user must pass through every ancestor of its data folder (initdb fails midway when another
    session starts then). Removed when the session ends, after the servers in it have stopped.
    """
    port, controller, registry, dashboard, postgres, redis = free_ports(6)
    cache = Path(os.environ.get("STREAMWISE_CACHE_DIR", Path.cwd() / ".streamwise" / "cache"))
    state = Path(tempfile.mkdtemp(prefix="streamwise-state-"))
    yield load_settings(
        state_dir=state,
        cache_dir=cache,
        kafka={"port": port, "controller_port": controller, "heap": "512m", "default_partitions": 2},
        spark={"master": "local[2]", "shuffle_partitions": 2, "ui": False, "driver_memory": "1g"},
        registry={"port": registry},
        dashboard={"port": dashboard},
        postgres={"port": postgres},
        redis={"port": redis},
    )
    shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope="session")
def cluster_settings(tmp_path_factory: pytest.TempPathFactory, streamwise_settings: Settings) -> Settings:
    """The test platform's settings on a three-node Kafka cluster (the cluster profile) of its own:
    its own state folder and a block of six consecutive free ports for the nodes' listeners."""
    first = free_port_block(6)
    return streamwise_settings.model_copy(
        update={
            "state_dir": tmp_path_factory.mktemp("streamwise-cluster"),
            "kafka": streamwise_settings.kafka.model_copy(
                update={"port": first, "controller_port": first + 1, "nodes": 3, "heap": "384m"}
            ),
        }
    )


@pytest.fixture(scope="session")
def secure_settings(tmp_path_factory: pytest.TempPathFactory, streamwise_settings: Settings) -> Settings:
    """The test platform's settings in the secure profile (TLS, SCRAM, ACLs), on a state folder and
    Kafka ports of their own. As ``admin`` once :func:`secure_kafka` runs (``as_principal``)."""
    port, controller = free_ports(2)
    return streamwise_settings.model_copy(
        update={
            "state_dir": tmp_path_factory.mktemp("streamwise-secure"),
            "security": streamwise_settings.security.model_copy(update={"enabled": True}),
            "kafka": streamwise_settings.kafka.model_copy(
                update={"port": port, "controller_port": controller, "heap": "384m", "default_partitions": 1}
            ),
        }
    )


@pytest.fixture(scope="session")
def secure_kafka(secure_settings: Settings) -> Iterator[KafkaCluster]:
    """A secure single-node Kafka (SASL_SSL + SCRAM-SHA-512, mutual-TLS controller, deny-by-default
    ACLs), started once when a test asks for it; stopped by pid afterwards."""
    yield from _running(KafkaCluster(secure_settings))


class _Server(Protocol):
    def start(self) -> object: ...
    def stop(self) -> bool: ...


ServerT = TypeVar("ServerT", bound=_Server)


def _running(server: ServerT) -> Iterator[ServerT]:
    """Start a supervised server for the session, and stop it by pid afterwards."""
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def kafka_broker(streamwise_settings: Settings) -> Iterator[KafkaCluster]:
    """A real Kafka broker (KRaft), started once; stopped by pid afterwards."""
    yield from _running(KafkaCluster(streamwise_settings))


@pytest.fixture(scope="session")
def kafka_cluster(cluster_settings: Settings) -> Iterator[KafkaCluster]:
    """A real three-node KRaft cluster (replication 3, min.insync.replicas 2), started once when a
    test asks for it; every node stopped by pid afterwards."""
    yield from _running(KafkaCluster(cluster_settings))


@pytest.fixture(scope="session")
def schema_registry(streamwise_settings: Settings, kafka_broker: KafkaCluster) -> Iterator[str]:
    """The schema registry process on the test broker (its free port from ``streamwise_settings``),
    started once; stopped by pid afterwards. Yields its URL."""
    start_registry(streamwise_settings)
    yield streamwise_settings.registry.url
    stop_registry(streamwise_settings)


@pytest.fixture(scope="session")
def spark(streamwise_settings: Settings, kafka_broker: KafkaCluster) -> Iterator[SparkSession]:
    """A real SparkSession with the Kafka, Avro and Delta jars."""
    session = spark_session(streamwise_settings, app_name="streamwise-tests")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def spark_cluster_settings(streamwise_settings: Settings) -> Settings:
    """The test platform's settings with a local Spark standalone cluster of two workers on free ports
    (files under the session's state folder), and ``spark.master`` pointing at it: a driver started
    with these settings (``child_env``) runs on the cluster. The session's own ``spark`` stays local."""
    return on_free_ports(streamwise_settings, workers=2)


@pytest.fixture(scope="session")
def spark_cluster(spark_cluster_settings: Settings) -> Iterator[SparkCluster]:
    """``streamwise cluster up --workers 2``: a Spark master and two workers of 1 core and 1 GiB, started
    once when a test asks for it; every daemon stopped by pid afterwards."""
    cluster = SparkCluster(spark_cluster_settings)
    cluster.start(2)
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def hdfs(tmp_path_factory: pytest.TempPathFactory, streamwise_settings: Settings) -> Iterator[MiniHdfs]:
    """A real HDFS (a NameNode and a DataNode of Hadoop 3.5.0, the version of pyspark's client) on a
    free loopback port, its files in a folder of its own; started once when a test asks for it,
    stopped by pid afterwards. ``hdfs.uri`` is its root, e.g. for ``data_root``."""
    (port,) = free_ports(1)
    yield from _running(MiniHdfs(tmp_path_factory.mktemp("streamwise-hdfs"), streamwise_settings.cache, port))


@pytest.fixture
def topic_name() -> str:
    """A fresh topic name per test, so tests never see each other's records."""
    return f"t_{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def postgres(streamwise_settings: Settings) -> Iterator[PostgresServer]:
    """A real PostgreSQL from Debian's packages (initdb on first start), stopped by pid afterwards."""
    yield from _running(PostgresServer(streamwise_settings))


@pytest.fixture(scope="session")
def redis_server(streamwise_settings: Settings) -> Iterator[RedisServer]:
    """A real Redis (append-only file on), stopped by pid afterwards."""
    yield from _running(RedisServer(streamwise_settings))
