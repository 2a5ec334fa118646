"""Records a pipeline cannot use for what the Kafka record holds rather than how its value is
encoded: tombstones (null value), empty values (0 bytes) and, with ``require_key``, records without a
key. Each goes to the dead-letter topic with its own reason, the rest come through, and the query
never fails on them; a backlog is read in bounded batches by default."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
from pyspark.sql import functions as F

from streamwise.config import Settings
from streamwise.ingest.encoding import Encoder
from streamwise.ingest.framing import confluent_header
from streamwise.ingest.producer import EventProducer
from streamwise.pipeline import await_queries
from streamwise.pipeline.plan import Pipeline
from streamwise.pipeline.spec import KafkaSource, PipelineSpec
from streamwise.platform.topics import create_topic
from streamwise.sinks import DeltaSink
from streamwise.testing import read_topic

T0 = 1_767_225_600_000
TOMBSTONE = "tombstone: null value (a delete marker; this pipeline reads events)"
NULL_KEY = (
    "null key: the source has require_key: true and this record has none; "
    "produce it with a key (the entity it is about), or set require_key: false"
)
SCHEMA = {
    "type": "record",
    "name": "Reading",
    "fields": [{"name": "n", "type": "long"}, {"name": "event_time", "type": "long"}],
}


def send(settings: Settings, topic: str, records: list[tuple[bytes | None, bytes | None]]) -> None:
    """Produce (key, value) records in order to a new one-partition ``topic``, values None as
    tombstones; all must be acknowledged."""
    create_topic(settings.kafka, topic, partitions=1)
    producer = EventProducer(settings.kafka, topic)
    producer.send([value for _, value in records], [key for key, _ in records])  # type: ignore[misc]
    assert producer.flush().delivered == len(records)


def run(spark: Any, settings: Settings, name: str, source: KafkaSource) -> tuple[list[tuple[int, int]], Pipeline]:
    """Run a pass-through pipeline on ``source`` to Delta until caught up; its rows as (n, event time ms)."""
    spec = PipelineSpec(name=name, source=source, sinks=[DeltaSink(type="delta", path=f"record-dead-letters/{name}")])
    plan = Pipeline(spec, settings)
    await_queries(plan.start(spark, once=True))
    table = spark.read.format("delta").load(str(plan.sink_path(spec.sinks[0])))
    rows = table.select("n", F.unix_millis("event_time").alias("t")).collect()
    return sorted((row.n, row.t) for row in rows), plan


def event(n: int) -> bytes:
    """A valid JSON event: number ``n`` at ``n`` seconds after T0."""
    return json.dumps({"n": n, "event_time": T0 + n * 1000}).encode()


def letters(settings: Settings, plan: Pipeline) -> list[tuple[bytes, str, str]]:
    """The dead-letter topic's records as (value, reason, source topic), in offset order."""
    return [
        (value, meta["dlq.reason"], meta["dlq.source.topic"]) for value, meta in read_topic(settings, plan.dlq_topic)
    ]


def test_json_tombstones_empty_values_and_null_keys_are_dead_letters(spark, settings, topic_name) -> None:
    """Setup: a JSON topic holding, in this order: 2 valid keyed events, a keyed tombstone, a keyed
    empty value, 1 valid event without a key, a tombstone without a key, 1 more valid keyed event.
    A pass-through pipeline with require_key: true runs to completion (availableNow, the default
    bound of 100,000 per batch), then one with the default require_key (false) on the same topic.
    Invariant: the first pipeline's Delta table holds exactly the 3 valid keyed events; its
    dead-letter topic exactly the 4 others, in order, each with its reason (tombstone, empty value,
    null key, and tombstone before null key for the keyless tombstone). The second pipeline also
    keeps the keyless valid event (4 rows) and adds exactly the 3 tombstones and empty values to the
    dead-letter topic. The streaming reader is bounded at 100,000 records per trigger."""
    send(
        settings,
        topic_name,
        [
            (b"a", event(1)),
            (b"b", event(2)),
            (b"a", None),
            (b"b", b""),
            (None, event(3)),
            (None, None),
            (b"c", event(4)),
        ],
    )
    create_topic(settings.kafka, f"{topic_name}.dlq", partitions=1)
    schema = "n LONG, event_time LONG"
    keyed, plan = run(
        spark, settings, f"keyed_{topic_name}", KafkaSource(topic=topic_name, schema=schema, require_key=True)
    )
    assert keyed == [(1, T0 + 1000), (2, T0 + 2000), (4, T0 + 4000)]
    empty = "empty value: 0 bytes where a JSON event was expected"
    first = [(b"", TOMBSTONE), (b"", empty), (event(3), NULL_KEY), (b"", TOMBSTONE)]
    assert letters(settings, plan) == [(value, why, topic_name) for value, why in first]

    keyless, plan = run(spark, settings, f"keyless_{topic_name}", KafkaSource(topic=topic_name, schema=schema))
    assert keyless == [(1, T0 + 1000), (2, T0 + 2000), (3, T0 + 3000), (4, T0 + 4000)]
    second = [(b"", TOMBSTONE), (b"", empty), (b"", TOMBSTONE)]
    assert letters(settings, plan) == [(value, why, topic_name) for value, why in [*first, *second]]

    # The options Spark's Kafka source is given (its StreamingRelationV2 in the analyzed plan).
    reader = plan.source(spark)._jdf.queryExecution().analyzed().collectLeaves().head()
    assert reader.extraOptions().get("maxOffsetsPerTrigger") == "100000"


def test_avro_tombstones_empty_values_and_null_keys_are_dead_letters(
    spark, settings, topic_name, schema_registry
) -> None:
    """Setup: an Avro topic (Confluent wire format, schema registered by the producer's framing)
    holding, in this order: a valid keyed event, a keyed tombstone, a keyed empty value, a valid
    event without a key, another valid keyed event; a pass-through pipeline with format: avro and
    require_key: true runs to completion. Invariant: Delta holds exactly the 2 valid keyed events;
    the dead-letter topic exactly the 3 others, in order, with the reasons tombstone, empty value
    (naming the Confluent framing it expected), null key."""
    header = confluent_header(schema_registry, topic_name, SCHEMA)
    encoder = Encoder(SCHEMA, "avro", header=header)
    one, two, three = encoder.encode(
        pa.RecordBatch.from_pydict({"n": [1, 2, 3], "event_time": [T0 + 1000, T0 + 2000, T0 + 3000]})
    )
    send(settings, topic_name, [(b"a", one), (b"a", None), (b"b", b""), (None, two), (b"c", three)])
    create_topic(settings.kafka, f"{topic_name}.dlq", partitions=1)
    source = KafkaSource(topic=topic_name, format="avro", require_key=True)
    rows, plan = run(spark, settings, f"avro_{topic_name}", source)
    assert rows == [(1, T0 + 1000), (3, T0 + 3000)]
    empty = "empty value: 0 bytes where a Confluent-framed Avro event was expected"
    assert letters(settings, plan) == [
        (b"", TOMBSTONE, topic_name),
        (b"", empty, topic_name),
        (two, NULL_KEY, topic_name),
    ]
