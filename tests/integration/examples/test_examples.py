"""Every example pipeline in pipelines/ runs to completion (availableNow) on the real broker, fed by
its own scenario's generator, and writes what it promises."""

from __future__ import annotations

import json

import pytest

from streamwise.app.reference import seed_merchants
from streamwise.ingest.encoding import Encoder
from streamwise.ingest.producer import EventProducer
from streamwise.ingest.scenario import create
from streamwise.pipeline import await_queries, example_names, load_pipeline, resolve
from streamwise.pipeline.plan import Pipeline
from streamwise.platform.topics import create_topic
from streamwise.sinks import DeltaSink, sink_location
from streamwise.sinks.config import KafkaAlertsSink, PostgresSink
from streamwise.testing import collect

SCENARIO = {
    "clickstream": "clickstream",
    "clickstream_trending": "clickstream",
    "iot_anomalies": "iot",
    "iot_threshold": "iot",
    "payments_fraud": "payments",
    "logs_error_rate": "logs",
    "social_trending": "social",
}
EVENTS = 4_000
# Examples whose only sink is an alerts topic, with their filter written again in Python.
ALERTS_ONLY = {"iot_threshold": lambda e: e["kind"] == "temperature" and e["value"] is not None and e["value"] > 30}
T0 = 1_767_225_600_000


# A small fleet for the anomaly example, so each sensor has readings enough to pass the step's
# warm-up; the threshold example keeps the default fleet, whose spread of sensors has some over 30 C.
SHAPES = {"iot_anomalies": {"sensors": 20, "anomaly_rate": 0.01}}


def scenario_events(example: str, n: int) -> list[tuple[bytes, bytes]]:
    """``n`` events of ``example``'s scenario spread over 3 minutes as (key, value), keyed as the
    generator keys them (the examples require a key)."""
    gen = create(SCENARIO[example], seed=5, **SHAPES.get(example, {}))
    batches = [gen.batch(n // 6, T0 + (i + 1) * 30_000) for i in range(6)]
    encoder = Encoder(gen.schema, "json")
    return [
        (key, value) for batch in batches for key, value in zip(batch.keys, encoder.encode(batch.data), strict=True)
    ]


def closing_event(record: tuple[bytes, bytes], event_time: int) -> tuple[bytes, bytes]:
    """``record`` again at ``event_time``: one event a minute after the others closes their windows."""
    key, raw = record
    event = json.loads(raw)
    event["event_time"] = event_time
    return key, json.dumps(event).encode()


def test_every_example_is_covered() -> None:
    assert set(example_names()) == set(SCENARIO)


@pytest.mark.parametrize("example", sorted(SCENARIO))
def test_example_runs_to_completion(example: str, spark, settings, topic_name, postgres, redis_server) -> None:
    """Setup: the example pointed at a fresh topic (and fresh sink tables/paths/alert topic), fed
    4,000 events of its scenario over 3 simulated minutes plus one closing event, keyed as the
    generator keys them; merchants seeded.
    Invariant: the run completes; every Delta sink holds rows; alert and PostgreSQL sinks hold the
    same rows as Delta where both exist; an alerts-only example's topic holds exactly the events
    its filter keeps (counted in Python); no record was dead-lettered."""
    spec = load_pipeline(resolve(example))
    sinks = []
    for sink in spec.sinks:
        if isinstance(sink, DeltaSink):
            sink = sink.model_copy(update={"path": f"{topic_name}/{sink.path}"})
        elif isinstance(sink, KafkaAlertsSink):
            sink = sink.model_copy(update={"topic": f"{topic_name}_alerts"})
        elif isinstance(sink, PostgresSink):
            sink = sink.model_copy(update={"table": f"{topic_name}_{sink.table}"})
        sinks.append(sink)
    spec = spec.model_copy(
        update={"name": topic_name, "sinks": sinks, "source": spec.source.model_copy(update={"topic": topic_name})}
    )
    seed_merchants(settings, seed=5)
    create_topic(settings.kafka, topic_name, partitions=2)
    create_topic(settings.kafka, f"{topic_name}.dlq", partitions=1)
    events = scenario_events(example, EVENTS)
    sent = [*events, closing_event(events[-1], T0 + 6 * 60_000)]
    producer = EventProducer(settings.kafka, topic_name)
    producer.send_many((key, value, None) for key, value in sent)
    assert producer.flush().delivered == len(sent)

    plan = Pipeline(spec, settings)
    await_queries(plan.start(spark, once=True))
    run = collect(spark, plan)

    assert run.dead_letters == []
    if example in ALERTS_ONLY:  # its only sink is the alerts topic: exactly the readings its filter keeps
        wanted = sum(ALERTS_ONLY[example](json.loads(value)) for _, value in sent)
        (alerts,) = run.sinks.values()
        assert wanted > 0 and len(alerts) == wanted
        return
    delta = [run.sinks[sink.path] for sink in spec.sinks if isinstance(sink, DeltaSink)]
    assert delta and all(len(frame) > 0 for frame in delta), f"{example}: a Delta sink is empty"
    for sink in spec.sinks:
        if isinstance(sink, PostgresSink | KafkaAlertsSink):  # one row, one alert per Delta row
            held = len(run.sinks[sink_location(sink)])
            assert held == len(delta[0]), f"{example}: {sink.type} holds {held}, Delta {len(delta[0])}"
