"""A pipeline in Spark's real-time mode on the real broker: every record through the steps reaches
its sink's topic, dead letters reach the dead-letter topic, while the query keeps running."""

from __future__ import annotations

import json

import pytest

from streamwise.config import Settings
from streamwise.pipeline import load_pipeline, resolve
from streamwise.pipeline.exceptions import PipelineError
from streamwise.pipeline.plan import Pipeline
from streamwise.pipeline.realtime import check_task_slots, with_task_slots
from streamwise.platform.topics import create_topic
from streamwise.testing import produce_events, read_topic, wait_for

T0 = 1_767_225_600_000


def test_realtime_alerts_every_matching_reading_and_dead_letters_the_rest(
    spark, settings: Settings, topic_name: str
) -> None:
    """Setup: the shipped iot_threshold pipeline (mode: realtime) on a 2-partition topic, started as
    a running query; 200 readings (every 7th a temperature over 30 C), 2 records that are not JSON
    and 1 with a negative event time are produced while it runs.
    Invariants: the alerts topic holds exactly the readings over 30 C (their ids, once each,
    keyed by sensor), and the dead-letter topic exactly the 3 bad records with their reasons; the
    query is still running."""
    shipped = load_pipeline(resolve("iot_threshold"))
    alerts = f"{topic_name}_alerts"
    spec = shipped.model_copy(
        update={
            "name": f"rt_{topic_name}",
            "source": shipped.source.model_copy(update={"topic": topic_name}),
            "sinks": [shipped.sinks[0].model_copy(update={"topic": alerts})],
        }
    )
    create_topic(settings.kafka, topic_name, partitions=2)
    (query,) = Pipeline(spec, with_task_slots(settings, spec)).start(spark)
    try:
        readings = [
            {
                "event_id": i,
                "sensor_id": f"s{i % 5}",
                "site": "a",
                "kind": "temperature" if i % 7 == 0 else "humidity",
                "value": 31.5 if i % 7 == 0 else 45.0,
                "unit": "C",
                "battery": 0.9,
                "event_time": T0 + i,
            }
            for i in range(200)
        ]
        # Keyed like every reading (the shipped pipeline requires keys): only its event time is wrong.
        bad = [b"{not json", b"also not json", {**readings[0], "event_id": 999, "event_time": -1}]
        produce_events(settings, topic_name, [*readings, *bad], key="sensor_id")
        expected = sorted(r["event_id"] for r in readings if r["kind"] == "temperature" and r["value"] > 30)
        got = wait_for(
            lambda: rows if len(rows := read_topic(settings, alerts)) >= len(expected) else None,
            bound_s=180,
            what=f"{len(expected)} alerts",
        )
        dead = wait_for(
            lambda: rows if len(rows := read_topic(settings, f"{topic_name}.dlq")) >= 3 else None,
            bound_s=60,
            what="3 dead letters",
        )
        assert query.isActive and query.exception() is None
    finally:
        query.stop()
    assert sorted(json.loads(value)["event_id"] for value, _ in got) == expected
    reasons = sorted(headers["dlq.reason"] for _, headers in dead)
    assert reasons == [
        "event time -1 ms is before 1970-01-01 (negative epoch milliseconds)",
        "not valid JSON for the schema",
        "not valid JSON for the schema",
    ]


def test_too_few_task_slots_for_the_partitions_is_one_clear_error(spark) -> None:
    slots = spark.sparkContext.defaultParallelism
    with pytest.raises(PipelineError, match=f"needs a task slot per partition of t \\({slots + 1}\\)"):
        check_task_slots(spark, slots + 1, "t")
