"""Helpers of the verify tests: hand-made events sent to Kafka with their ground truth, the loopback
PostgreSQL and Redis, and the settings a ``streamwise`` child process needs to reach them."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa

from streamwise.config import Settings
from streamwise.ingest.producer import EventProducer
from streamwise.ingest.scenario import EventBatch
from streamwise.ingest.truth import GroundTruthWriter

T0_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
SCHEMA = "event_id BIGINT, user_id STRING, page STRING, event_time LONG"
_AVRO = {
    "type": "record",
    "name": "Event",
    "fields": [
        {"name": "event_id", "type": "long"},
        {"name": "user_id", "type": "string"},
        {"name": "page", "type": ["null", "string"]},
        {"name": "event_time", "type": "long"},
    ],
}


def send_with_truth(
    settings: Settings, topic: str, events: list[dict[str, Any]], *, duplicates: set[int] = frozenset()
) -> None:
    """Produce ``events`` (JSON, keyed by user_id) and record them as one ground-truth run. Each
    event whose position is in ``duplicates`` is sent a second time right after itself, flagged
    ``is_duplicate`` as the generator's disorder does."""
    rows, flags = [], []
    for i, event in enumerate(events):
        rows.append(event)
        flags.append(False)
        if i in duplicates:
            rows.append(event)
            flags.append(True)
    batch = EventBatch(
        data=pa.RecordBatch.from_pylist(
            rows,
            schema=pa.schema(
                [("event_id", pa.int64()), ("user_id", pa.string()), ("page", pa.string()), ("event_time", pa.int64())]
            ),
        ),
        keys=np.array([r["user_id"].encode() for r in rows], dtype=object),
        event_ids=np.array([r["event_id"] for r in rows], dtype=np.int64),
        flags={"is_duplicate": np.array(flags)},
    )
    truth = GroundTruthWriter(settings.state, topic, schema=_AVRO, key_field="user_id", meta={"source": "test"})
    producer = EventProducer(settings.kafka, topic)
    producer.send_many([(r["user_id"].encode(), json.dumps(r).encode(), None) for r in rows])
    assert producer.flush().failed == 0
    truth.write(batch)
    truth.close(events=len(events))
