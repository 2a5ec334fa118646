"""Monitoring on the real broker and Spark: consumer lag visible to Kafka's own tools, latency percentiles
within independently measured bounds, and /metrics in the Prometheus format."""

from __future__ import annotations

import json
import time

from prometheus_client.parser import text_string_to_metric_families

from streamwise.config import Settings
from streamwise.ingest.producer import EventProducer
from streamwise.monitor.listener import ProgressPublisher
from streamwise.monitor.metrics import QueryMetrics
from streamwise.monitor.prometheus import render
from streamwise.monitor.store import latest_metrics
from streamwise.pipeline import await_queries
from streamwise.pipeline.layout import PipelineLayout
from streamwise.pipeline.plan import Pipeline
from streamwise.pipeline.spec import KafkaSource, PipelineSpec
from streamwise.platform.kafka_tools import consumer_group_lag
from streamwise.platform.topics import create_topic
from streamwise.sinks import ConsoleSink

EVENTS = 20_000
PER_BATCH = 4_000


def test_lag_latency_and_prometheus(spark, settings: Settings, topic_name: str) -> None:
    """Setup: 20,000 events on 2 partitions, then a pipeline limited to 4,000 offsets per batch runs
    with availableNow; after its first batch the test asks Kafka's ConsumerGroupCommand for the lag.
    Invariants: the group named after the query shows lag > 0 mid-run and 0 at the end; every batch's
    latency percentiles lie between (query start - last send) and (query end - first send); /metrics
    parses and carries the named series with the values of the last batch."""
    create_topic(settings.kafka, topic_name, partitions=2)
    create_topic(settings.kafka, f"{topic_name}.dlq", partitions=1)
    producer = EventProducer(settings.kafka, topic_name)
    first_send = time.time() * 1000
    producer.send_many(
        (b"k%d" % i, json.dumps({"n": i, "event_time": int(time.time() * 1000)}).encode(), None) for i in range(EVENTS)
    )
    producer.flush()
    last_send = time.time() * 1000

    spec = PipelineSpec(
        name=topic_name,
        source=KafkaSource(
            topic=topic_name, schema="n INT, event_time LONG", required=["n"], max_offsets_per_trigger=PER_BATCH
        ),
        sinks=[ConsoleSink(type="console", rows=1)],
    )
    query_name = PipelineLayout(spec.name, settings.state).main_query
    seen: list[QueryMetrics] = []
    mid_run_lag: dict = {}

    def on_metrics(metrics: QueryMetrics) -> None:
        if metrics.query != query_name:
            return
        seen.append(metrics)
        if len(seen) == 1:
            mid_run_lag.update(consumer_group_lag(settings, query_name))

    listener = ProgressPublisher(settings.kafka, on_metrics=on_metrics)
    spark.streams.addListener(listener)
    try:
        query_start = time.time() * 1000
        await_queries(Pipeline(spec, settings).start(spark, once=True))
        query_end = time.time() * 1000
        deadline = time.monotonic() + 30
        while (not seen or seen[-1].lag) and time.monotonic() < deadline:
            time.sleep(0.5)  # the listener bus delivers the last events asynchronously
    finally:
        spark.streams.removeListener(listener)
        listener.close()

    data_batches = [m for m in seen if m.input_rows]
    assert sum(m.input_rows for m in data_batches) == EVENTS
    assert all(m.input_rows <= PER_BATCH for m in data_batches)  # Spark may round the split per partition
    assert len(data_batches) >= EVENTS // PER_BATCH
    assert sum(mid_run_lag.values()) == EVENTS - data_batches[0].input_rows
    assert consumer_group_lag(settings, query_name) == {(topic_name, 0): 0, (topic_name, 1): 0}

    for m in data_batches:
        assert set(m.latency_ms) == {"p50", "p95", "p99"}
        assert m.latency_ms["p50"] <= m.latency_ms["p95"] <= m.latency_ms["p99"]
        assert query_start - last_send <= m.latency_ms["p50"]
        assert m.latency_ms["p99"] <= query_end - first_send

    last = seen[-1]
    assert latest_metrics(settings.kafka)[query_name].batch_id == last.batch_id
    families = {f.name: f for f in text_string_to_metric_families(render([last]).decode())}
    for name in (
        "streamwise_query_input_rows_per_second",
        "streamwise_query_end_to_end_latency_seconds",
        "streamwise_query_consumer_lag",
        "streamwise_query_batch_duration_seconds",
    ):
        assert name in families, name
    lag_samples = {s.labels["partition"]: s.value for s in families["streamwise_query_consumer_lag"].samples}
    assert lag_samples == {"0": 0.0, "1": 0.0}
    batch = [s.value for s in families["streamwise_query_batch_id"].samples]
    assert batch == [float(last.batch_id)]
