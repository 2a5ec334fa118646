"""Integration tests: the real broker and Spark from streamwise.testing, under short names."""

from __future__ import annotations

import pytest

from streamwise.config import Settings
from streamwise.platform.kafka import KafkaCluster
from streamwise.platform.services import PostgresServer, RedisServer


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def settings(streamwise_settings: Settings) -> Settings:
    """The test platform's settings."""
    return streamwise_settings


@pytest.fixture(scope="session")
def broker(kafka_broker: KafkaCluster) -> KafkaCluster:
    """The session's broker."""
    return kafka_broker


@pytest.fixture(scope="session")
def services(postgres: PostgresServer, redis_server: RedisServer) -> tuple[PostgresServer, RedisServer]:
    """PostgreSQL and Redis on the session's free ports (streamwise.testing's fixtures)."""
    return postgres, redis_server
