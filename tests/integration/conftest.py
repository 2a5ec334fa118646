"""Session-scoped real services: one KRaft broker and one SparkSession for every integration test.

Both live under a scratch state folder with free loopback ports, so a developer's own `./dev up`
(port 9092) is never touched. The JVM jar cache is the project's (.streamwise/cache), resolved once.
The broker is stopped by its pid at the end of the session.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamwise.config import Settings, load_settings
from streamwise.platform.kafka import KafkaBroker
from streamwise.platform.ports import free_ports

REPO = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings of the test platform: scratch state folder, free ports, a small local Spark."""
    port, controller = free_ports(2)
    return load_settings(
        state_dir=tmp_path_factory.mktemp("state"),
        cache_dir=REPO / ".streamwise" / "cache",
        kafka={"port": port, "controller_port": controller, "heap": "512m", "default_partitions": 2},
        spark={"master": "local[2]", "shuffle_partitions": 2, "ui": False, "driver_memory": "1g"},
    )


@pytest.fixture(scope="session")
def broker(settings: Settings) -> Iterator[KafkaBroker]:
    """A real Kafka broker, started once; stopped by pid afterwards."""
    kafka = KafkaBroker(settings)
    kafka.start()
    yield kafka
    kafka.stop()


@pytest.fixture(scope="session")
def spark(settings: Settings, broker: KafkaBroker):  # noqa: ANN201 - pyspark type imported lazily
    """A real SparkSession with the Kafka, Avro and Delta jars."""
    from streamwise.platform.spark import spark_session

    session = spark_session(settings, app_name="streamwise-tests")
    yield session
    session.stop()


@pytest.fixture
def topic_name() -> str:
    """A fresh topic name per test, so tests never see each other's records."""
    return f"t_{uuid.uuid4().hex[:10]}"
