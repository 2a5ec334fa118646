"""Turns a :class:`PipelineSpec` into running Spark queries: one per sink, plus the dead-letter query.

Each query has its own checkpoint under ``STATE/checkpoints/<pipeline>/<query>``, so several pipelines
(or sinks) read the same topic independently, each with its own offsets and progress.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from streamwise.config import Settings
from streamwise.monitor.metrics import LATENCY_METRIC
from streamwise.pipeline import steps
from streamwise.pipeline.ledger import LedgerWriter
from streamwise.sinks import KafkaAlertsSink, PostgresSink, RedisSink, WebhookSink, foreach_batch_writer
from streamwise.sinks.delta_compaction import DeltaCompactor
from streamwise.pipeline.spec import (
    ConsoleSink,
    DeltaSink,
    KafkaSink,
    PipelineSpec,
    Sink,
    checkpoint_root,
    interval_ms,
    warehouse_path,
)

# Sinks written from the driver per micro-batch, each idempotent on (query, batch id) by itself.
FOREACH_BATCH_SINKS = (PostgresSink, RedisSink, KafkaAlertsSink, WebhookSink)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import DataStreamWriter, StreamingQuery

    from streamwise.schemas.spark import SubjectSchemas


@dataclass(frozen=True)
class Pipeline:
    """A validated spec bound to the settings it runs with."""

    spec: PipelineSpec
    settings: Settings

    @property
    def checkpoint_root(self) -> Path:
        return checkpoint_root(self.spec.name, self.settings.state)

    @property
    def dlq_topic(self) -> str:
        return f"{self.spec.source.topic}.dlq"

    def sink_path(self, sink: DeltaSink) -> Path:
        return warehouse_path(sink.path, self.settings.state)

    def source(self, spark: SparkSession) -> DataFrame:
        """The topic as Spark's Kafka source reads it (key, value, topic, partition, offset, timestamp ...)."""
        src = self.spec.source
        reader = spark.readStream.format("kafka").options(**self.settings.kafka.spark_options())
        reader = reader.option("subscribe", src.topic).option("startingOffsets", src.starting_offsets)
        reader = reader.option("failOnDataLoss", "true")
        if src.max_offsets_per_trigger:
            reader = reader.option("maxOffsetsPerTrigger", str(src.max_offsets_per_trigger))
        return reader.load()

    def subject_schemas(self) -> SubjectSchemas | None:
        """For an Avro source, every registered version of its subject, fetched now; None for JSON."""
        src = self.spec.source
        if src.format != "avro":
            return None
        from streamwise.schemas.spark import SubjectSchemas

        return SubjectSchemas.from_registry(self.settings.registry.url, src.subject or f"{src.topic}-value")

    def parsed(self, spark: SparkSession, schemas: SubjectSchemas | None = None) -> DataFrame:
        """Decoded records with ``dead_letter_reason``: JSON with the spec's schema, or Confluent-framed
        Avro with every version in ``schemas`` (fetched here when not given), read into the latest:
        writer versions registered later are dead letters until a restart."""
        src = self.spec.source
        if src.format == "avro":
            from streamwise.schemas.spark import decode_avro

            schemas = schemas or self.subject_schemas()
            return decode_avro(self.source(spark), schemas, required=src.required, time_field=self.spec.event_time.field)
        assert src.schema_ddl is not None  # the spec's validator requires it for json
        return steps.parse_json(self.source(spark), src.schema_ddl, required=src.required,
                                time_field=self.spec.event_time.field)  # fmt: skip

    def output(self, spark: SparkSession, schemas: SubjectSchemas | None = None) -> DataFrame:
        """Decoded records, watermarked on event time, through every step in order."""
        df = steps.valid(self.parsed(spark, schemas))
        df = observe_latency(df).withWatermark("event_time", self.spec.event_time.watermark)
        for step in self.spec.streaming_steps:
            df = steps.apply(df, step, self.settings)
        return df

    def start(self, spark: SparkSession, *, once: bool = False) -> list[StreamingQuery]:
        """Start one query per sink and the dead-letter query; ``once`` = availableNow (stop when caught up)."""
        trigger = {"availableNow": True} if once else {"processingTime": self.spec.trigger}
        schemas = self.subject_schemas()  # once: every query of this start reads with the same versions
        queries = []
        for index, sink in enumerate(self.spec.sinks):
            name = f"{self.spec.name}_{sink.type}_{index}"
            df = self.output(spark, schemas)
            compacted = isinstance(sink, DeltaSink) and sink.compact_every is not None
            if self.spec.batch_steps or isinstance(sink, FOREACH_BATCH_SINKS) or compacted:
                writer = df.writeStream.foreachBatch(BatchWriter(self, sink, name))
            else:
                writer = self._writer(kafka_payload(df, sink.key) if isinstance(sink, KafkaSink) else df, sink)
            writer = writer.queryName(name).outputMode(self.spec.output_mode).trigger(**trigger)
            writer = writer.option("checkpointLocation", str(self.checkpoint_root / f"{sink.type}_{index}"))
            native_delta = isinstance(sink, DeltaSink) and not self.spec.batch_steps and not compacted
            queries.append(writer.start(str(self.sink_path(sink))) if native_delta else writer.start())
        if self.spec.drops_late_data and self.spec.late_records.enabled:
            queries.append(self._start_ledger(spark, trigger, schemas))
        dead = steps.dead_letters(self.parsed(spark, schemas)).writeStream.queryName(f"{self.spec.name}_dead_letters")
        dead = dead.format("kafka").options(**self.settings.kafka.spark_options()).option("topic", self.dlq_topic)
        dead = dead.option("checkpointLocation", str(self.checkpoint_root / "dead_letters")).trigger(**trigger)
        queries.append(dead.start())
        return queries

    @property
    def late_records_path(self) -> Path:
        return warehouse_path(self.spec.late_records_path, self.settings.state)

    def _start_ledger(
        self, spark: SparkSession, trigger: dict[str, object], schemas: SubjectSchemas | None
    ) -> StreamingQuery:
        name = f"{self.spec.name}_late_records"
        checkpoint = self.checkpoint_root / "late_records"
        ledger = LedgerWriter(checkpoint, self.late_records_path, name, interval_ms(self.spec.event_time.watermark))
        writer = steps.valid(self.parsed(spark, schemas)).writeStream.queryName(name)
        writer = writer.option("checkpointLocation", str(checkpoint)).foreachBatch(ledger)
        return writer.trigger(**trigger).start()

    def _writer(self, df: DataFrame, sink: Sink) -> DataStreamWriter:
        writer = df.writeStream
        if isinstance(sink, DeltaSink):
            writer = writer.format("delta")
            return writer.partitionBy(*sink.partition_by) if sink.partition_by else writer
        if isinstance(sink, KafkaSink):
            return writer.format("kafka").options(**self.settings.kafka.spark_options()).option("topic", sink.topic)
        if isinstance(sink, ConsoleSink):
            return writer.format("console").option("numRows", sink.rows).option("truncate", "false")
        raise TypeError(f"no writer for sink {sink!r}")

    def explain(self, spark: SparkSession) -> str:
        """Spark's extended plan of the pipeline's output (what each sink's query will run)."""
        return self.output(spark)._jdf.queryExecution().toString()


class BatchWriter:
    """``foreachBatch`` function for pipelines with per-batch steps (top_n): applies them to the
    micro-batch, then writes it to the sink idempotently on (query, batch id)."""

    def __init__(self, plan: Pipeline, sink: Sink, query_name: str) -> None:
        self.plan = plan
        self.sink = sink
        self.query_name = query_name
        self.sink_writer = (
            foreach_batch_writer(sink, plan.settings, query_name) if isinstance(sink, FOREACH_BATCH_SINKS) else None
        )
        compact = isinstance(sink, DeltaSink) and sink.compact_every
        self.compactor = DeltaCompactor(plan.sink_path(sink), query_name, sink.compact_every) if compact else None

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        for step in self.plan.spec.batch_steps:
            batch = steps.apply(batch, step, self.plan.settings)
        if self.sink_writer is not None:
            self.sink_writer(batch, batch_id)
            return
        sink = self.sink
        if isinstance(sink, DeltaSink):
            writer = batch.write.format("delta").mode("append")
            writer = writer.option("txnAppId", self.query_name).option("txnVersion", batch_id)
            writer = writer.partitionBy(*sink.partition_by) if sink.partition_by else writer
            writer.save(str(self.plan.sink_path(sink)))
            if self.compactor is not None:
                self.compactor(batch.sparkSession, batch_id)
        elif isinstance(sink, KafkaSink):
            payload = kafka_payload(batch, sink.key).write.format("kafka")
            payload.options(**self.plan.settings.kafka.spark_options()).option("topic", sink.topic).save()
        elif isinstance(sink, ConsoleSink):
            batch.show(sink.rows, truncate=False)


def observe_latency(df: DataFrame) -> DataFrame:
    """Attach per-batch percentiles of (batch time - Kafka timestamp) as an observed metric; the
    monitor's listener reads them from each progress event. Computed in the JVM, no UDF."""
    behind = F.unix_millis(F.current_timestamp()) - F.unix_millis(F.col("kafka_timestamp"))
    return df.observe(
        LATENCY_METRIC, F.percentile_approx(behind, [0.5, 0.95, 0.99]).alias("p"), F.count(F.lit(1)).alias("n")
    )


def kafka_payload(df: DataFrame, key: str | None) -> DataFrame:
    """Rows as Kafka records: JSON value of all columns, optional key column."""
    value = F.to_json(F.struct(*df.columns)).alias("value")
    return df.select(F.col(key).cast("string").alias("key"), value) if key else df.select(value)
