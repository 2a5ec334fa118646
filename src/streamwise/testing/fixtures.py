"""pytest fixtures for testing pipelines against the real thing: a Kafka broker, a SparkSession and a
scratch state folder, each started once per test session on free loopback ports.

Use them in your own project's ``conftest.py``::

    pytest_plugins = ["streamwise.testing.fixtures"]

then ask for ``streamwise_settings``, ``kafka_broker``, ``spark`` or ``topic_name`` in a test. The
broker is stopped by its pid when the session ends. Set ``STREAMWISE_CACHE_DIR`` to share the JVM jar
cache between projects (by default the jars are resolved into ``.streamwise/cache`` of the current
folder).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from streamwise.config import Settings, load_settings
from streamwise.platform.kafka import KafkaBroker
from streamwise.platform.ports import free_ports

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@pytest.fixture(scope="session")
def streamwise_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings of the test platform: scratch state folder, free ports, a small local Spark."""
    port, controller, registry, dashboard, postgres, redis = free_ports(6)
    cache = Path(os.environ.get("STREAMWISE_CACHE_DIR", Path.cwd() / ".streamwise" / "cache"))
    return load_settings(
        state_dir=tmp_path_factory.mktemp("streamwise-state"),
        cache_dir=cache,
        kafka={"port": port, "controller_port": controller, "heap": "512m", "default_partitions": 2},
        spark={"master": "local[2]", "shuffle_partitions": 2, "ui": False, "driver_memory": "1g"},
        registry={"port": registry},
        dashboard={"port": dashboard},
        postgres={"port": postgres},
        redis={"port": redis},
    )


@pytest.fixture(scope="session")
def kafka_broker(streamwise_settings: Settings) -> Iterator[KafkaBroker]:
    """A real Kafka broker (KRaft), started once; stopped by pid afterwards."""
    broker = KafkaBroker(streamwise_settings)
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def spark(streamwise_settings: Settings, kafka_broker: KafkaBroker) -> Iterator[SparkSession]:
    """A real SparkSession with the Kafka, Avro and Delta jars."""
    from streamwise.platform.spark import spark_session

    session = spark_session(streamwise_settings, app_name="streamwise-tests")
    yield session
    session.stop()


@pytest.fixture
def topic_name() -> str:
    """A fresh topic name per test, so tests never see each other's records."""
    return f"t_{uuid.uuid4().hex[:10]}"
