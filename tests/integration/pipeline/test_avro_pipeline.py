"""Avro through the schema registry, end to end: the ingest producer registers its schema and frames
every record (Confluent wire format), v1 and v2 producers interleave on one topic, and a pipeline
with ``format: avro`` reads them all into the latest shape, with undecodable records in the DLQ."""

from __future__ import annotations

import subprocess
from collections import Counter
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from cli_process import child_env, run_streamwise
from pyspark.sql import functions as F

from streamwise.config import Settings
from streamwise.ingest.disorder import RateProfile
from streamwise.ingest.encoding import Encoder
from streamwise.ingest.producer import EventProducer
from streamwise.ingest.run import produce
from streamwise.ingest.scenario import EventBatch, create
from streamwise.ingest.truth import read_ground_truth
from streamwise.pipeline import await_queries
from streamwise.pipeline.plan import Pipeline
from streamwise.pipeline.spec import KafkaSource, PipelineSpec
from streamwise.platform.kafka import KafkaCluster
from streamwise.platform.ports import free_port
from streamwise.platform.topics import create_topic, end_offsets
from streamwise.schemas import RegistryClient, frame
from streamwise.sinks import DeltaSink
from streamwise.testing import produce_events, read_topic

AUTH_METHODS = ("chip", "contactless", "3ds")
COLUMNS = [
    "event_id",
    "card_id",
    "merchant_id",
    "category",
    "amount",
    "currency",
    "country",
    "channel",
    "auth_method",
    "event_time",
]


def payments_v2() -> dict[str, Any]:
    """The payments schema plus one field with a default: BACKWARD compatible with v1."""
    schema = create("payments").schema
    added = {"name": "auth_method", "type": "string", "default": "unknown", "doc": "added in v2"}
    return {**schema, "fields": [*schema["fields"], added]}


class RecordedPayments:
    """A payments source for the test that keeps every batch it hands out (the expected rows).

    Event ids start at ``id_base``, so producers never share one; with ``v2`` it writes the v2 schema
    and fills ``auth_method``.
    """

    key_field = "card_id"
    stamp_event_time = True

    def __init__(self, seed: int, id_base: int, *, v2: bool) -> None:
        self.inner = create("payments", seed=seed)
        self.schema = payments_v2() if v2 else self.inner.schema
        self.id_base, self.v2 = id_base, v2
        self.sent: list[pa.RecordBatch] = []

    def batch(self, n: int, now_ms: int) -> EventBatch:
        batch = self.inner.batch(n, now_ms)
        ids = batch.event_ids + self.id_base
        data = batch.data.set_column(batch.data.schema.get_field_index("event_id"), "event_id", pa.array(ids))
        if self.v2:
            data = data.append_column("auth_method", pa.array(np.array(AUTH_METHODS)[ids % 3]))
        self.sent.append(data)
        return replace(batch, data=data, event_ids=ids)

    def expected(self) -> pd.DataFrame:
        table = pa.Table.from_batches(self.sent)
        # Categorical (dictionary) columns come back from the sink as plain strings.
        plain = [
            pa.field(f.name, f.type.value_type if pa.types.is_dictionary(f.type) else f.type) for f in table.schema
        ]
        rows = table.cast(pa.schema(plain)).to_pandas()
        if not self.v2:
            rows["auth_method"] = "unknown"  # v2's default, which v1 rows must be read with
        return rows[COLUMNS]


def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return run_streamwise(child_env(settings), *args)


def corrupted(good: list[bytes], subject: str, v1_id: int) -> dict[bytes, str]:
    """Two of each corruption of framed v1 records, with the reason the DLQ must carry."""
    out = {}
    for i, value in enumerate(good[:8]):
        kind = i % 4
        if kind == 0:
            out[b"\x01" + value[1:]] = "wrong magic byte 0x01 (expected 0x00, Confluent wire format)"
        elif kind == 1:
            out[frame(999_999, value[5:])] = f"unknown schema id 999999 for subject {subject}"
        elif kind == 2:
            out[value[: 5 + (len(value) - 5) // 2]] = f"truncated or undecodable Avro body for schema id {v1_id}"
        else:
            out[value[:2] + bytes([i])] = "truncated: 3 bytes, shorter than the 5-byte Confluent header"
    return out


def test_v1_and_v2_producers_through_the_registry_into_one_avro_pipeline(
    spark, settings: Settings, schema_registry: str, topic_name: str
) -> None:
    """Setup: on a 2-partition topic, `streamwise produce payments --format avro` (300 events, v1),
    then the ingest API interleaving a v2 producer (one added field with a default), a v1 producer
    and the v2 producer again (300 each), then 8 corrupted framed records (wrong magic byte, unknown
    id, half a body, 3 bytes); a pipeline with `format: avro` runs to completion (availableNow).
    Invariant: the subject has exactly versions [1, 2]; every record carries its producer's id;
    the Delta sink holds exactly the 1,200 produced events in the v2 shape, v1 rows with the default;
    the DLQ holds exactly the 8 corrupted records, each with its reason."""
    subject = f"{topic_name}-value"
    first = cli(
        settings,
        "produce",
        "payments",
        "--format",
        "avro",
        "--count",
        "300",
        "--rate",
        "0",
        "--seed",
        "3",
        "--late-fraction",
        "0",
        "--partitions",
        "2",
        "--topic",
        topic_name,
        "--quiet",
    )
    assert first.returncode == 0, first.stdout + first.stderr
    sources = [
        RecordedPayments(4, 1_000_000, v2=True),
        RecordedPayments(5, 2_000_000, v2=False),
        RecordedPayments(6, 3_000_000, v2=True),
    ]
    for source in sources:
        report = produce(
            EventProducer(settings.kafka, topic_name),
            source,
            pace=RateProfile(0),
            fmt="avro",
            count=300,
            registry=schema_registry,
        )
        assert report.stats.delivered == 300
    with RegistryClient(schema_registry) as client:
        assert client.versions(subject) == [1, 2]
        v1_id, v2_id = client.version(subject, 1).id, client.version(subject, 2).id
    header = frame(v1_id, b"")
    good = Encoder(create("payments").schema, "avro", header=header).encode(create("payments", seed=8).batch(8, 1).data)
    bad = corrupted(good, subject, v1_id)
    assert produce_events(settings, topic_name, list(bad)) == 8

    raw = spark.read.format("kafka").options(**settings.kafka.spark_options()).option("subscribe", topic_name).load()
    framed = Counter(bytes(row.value[:5]) for row in raw.select("value").collect() if bytes(row.value) not in bad)
    assert framed == {header: 600, frame(v2_id, b""): 600}

    create_topic(settings.kafka, f"{topic_name}.dlq", partitions=1)
    spec = PipelineSpec(
        name=f"avro_{topic_name}",
        source=KafkaSource(topic=topic_name, format="avro"),
        sinks=[DeltaSink(type="delta", path=f"avro-tests/{topic_name}")],
    )
    assert spec.source.subject == subject
    plan = Pipeline(spec, settings)
    await_queries(plan.start(spark, once=True))

    table = spark.read.format("delta").load(str(plan.sink_path(spec.sinks[0])))
    assert table.columns[-len(COLUMNS) :] == COLUMNS  # the v2 shape, after the Kafka coordinates
    got = table.select(*COLUMNS[:-1], F.unix_millis("event_time").alias("event_time")).toPandas()
    assert len(got) == 1200 and got["event_id"].is_unique

    truth = read_ground_truth(settings.state, topic_name)  # what the CLI sent
    sent = pd.DataFrame(
        {
            "event_id": truth.column("event_id").to_numpy(),
            "card_id": truth.column("key").to_pylist(),
            "auth_method": "unknown",
            "event_time": truth.column("event_time").cast(pa.int64()).to_numpy(),
        }
    )
    from_cli = got[got["event_id"] < 1_000_000][list(sent.columns)]
    pd.testing.assert_frame_equal(
        from_cli.sort_values("event_id").reset_index(drop=True),
        sent.sort_values("event_id").reset_index(drop=True),
        check_dtype=False,
    )

    want = pd.concat([s.expected() for s in sources]).sort_values("event_id").reset_index(drop=True)
    from_api = got[got["event_id"] >= 1_000_000].sort_values("event_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(from_api, want, check_dtype=False)

    letters = read_topic(settings, plan.dlq_topic)
    assert {value: meta["dlq.reason"] for value, meta in letters} == bad and len(letters) == 8


def test_produce_avro_names_a_registry_that_does_not_answer(
    broker: KafkaCluster, settings: Settings, topic_name: str
) -> None:
    """Setup: `streamwise produce payments --format avro --registry URL` where nothing listens at URL.
    Invariant: exit 1, one line naming the URL and `streamwise registry start`; no record reached
    the topic (nothing is produced unframed)."""
    url = f"http://127.0.0.1:{free_port()}"
    result = cli(
        settings,
        "produce",
        "payments",
        "--format",
        "avro",
        "--count",
        "10",
        "--registry",
        url,
        "--topic",
        topic_name,
        "--quiet",
        "--no-ground-truth",
    )
    assert result.returncode == 1, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert f"the schema registry at {url}, which does not answer" in output
    assert "streamwise registry start" in output and "Traceback" not in output
    assert sum(end_offsets(settings.kafka, topic_name, [0, 1]).values()) == 0
