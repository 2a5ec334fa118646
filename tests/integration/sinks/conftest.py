"""Session-scoped PostgreSQL and Redis for the sink tests, and a fixture that fills a topic with events.

Both servers run from the Debian binaries on free loopback ports, with their data under the test
session's state folder, and are stopped by pid at the end. ``sink_settings`` is the test platform's
Settings extended by the ``postgres`` and ``redis`` sections, as config.Settings will hold them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import Producer

from streamwise.config import QUIET, Settings
from streamwise.platform.topics import create_topic


@pytest.fixture(scope="session")
def sink_settings(settings: Settings) -> Settings:
    """The test platform's settings: PostgreSQL and Redis already on free ports (never 5432/6379)."""
    return settings


@pytest.fixture
def fill_topic(sink_settings: Settings, broker: Any) -> Callable[[str, list[dict[str, Any]]], None]:
    """Create a one-partition topic (so micro-batches split exactly) and produce events as JSON."""

    def fill(topic: str, events: list[dict[str, Any]]) -> None:
        create_topic(sink_settings.kafka, topic, partitions=1)
        producer = Producer(sink_settings.kafka.client_config(**QUIET, **{"enable.idempotence": True}))
        for event in events:
            producer.produce(topic, json.dumps(event).encode(), event["user_id"].encode())
        assert producer.flush(30) == 0

    return fill
