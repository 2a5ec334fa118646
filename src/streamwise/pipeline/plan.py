"""Turns a :class:`PipelineSpec` into one running Spark query per pipeline.

The query reads the topic once: decode → watermark → steps → one ``foreachBatch`` (:class:`FanOut`)
that applies the per-batch steps, persists the batch when more than one sink reads it, and hands it
to every sink's writer in turn. Every sink therefore sees the same batches (an alert in Kafka always
has its row in Delta), and each writer is idempotent on (its id, batch id), so a batch replayed
after a crash fills in only the sinks it had not reached.

What never reaches the steps (records that did not decode, rows a stateful step dropped behind the
watermark) is settled after each batch from the batch's own offsets and watermark, only when the
batch's progress says there is any (:mod:`streamwise.pipeline.settle`). Names and checkpoint folders
come from :class:`~streamwise.pipeline.layout.PipelineLayout`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from confluent_kafka import KafkaException
from pyspark.sql import functions as F

from streamwise.config import Settings
from streamwise.pipeline import decode, steps
from streamwise.pipeline.avro import SubjectSchemas, decode_avro
from streamwise.pipeline.batches import spark_offsets
from streamwise.pipeline.exceptions import PipelineError
from streamwise.pipeline.layout import LATENCY_METRIC, PipelineLayout
from streamwise.pipeline.realtime import start_realtime
from streamwise.pipeline.runner import on_finish
from streamwise.pipeline.settle import Settlement
from streamwise.pipeline.spec import PipelineSpec, interval_ms
from streamwise.platform.dead_letters import dlq_topic
from streamwise.platform.storage import Location, data_root
from streamwise.platform.topics import create_topic, partition_count
from streamwise.schemas.client import RegistryClient
from streamwise.sinks import DeltaSink, SinkWriter, sink_writer, warehouse_path

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery

    from streamwise.pipeline.batches import BatchRange

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pipeline:
    """A validated spec bound to the settings it runs with."""

    spec: PipelineSpec
    settings: Settings

    @cached_property
    def layout(self) -> PipelineLayout:
        return PipelineLayout(self.spec.name, data_root(self.settings))

    @property
    def dlq_topic(self) -> str:
        return dlq_topic(self.spec.source.topic)

    @property
    def keeps_ledger(self) -> bool:
        return self.spec.drops_late_data and self.spec.late_records.enabled

    def sink_path(self, sink: DeltaSink) -> Location:
        return warehouse_path(sink.path, data_root(self.settings))

    @property
    def late_records_path(self) -> Location:
        return warehouse_path(self.spec.late_records_path, data_root(self.settings))

    def source(self, spark: SparkSession, batch: BatchRange | None = None) -> DataFrame:
        """The topic as Spark's Kafka source reads it (key, value, topic, partition, offset, timestamp ...):
        as a stream, or with ``batch`` exactly the offsets one of the query's batches read."""
        src = self.spec.source
        reader = (spark.read if batch is not None else spark.readStream).format("kafka")
        reader = (
            reader.options(**self.settings.kafka.spark_options())
            .option("subscribe", src.topic)
            .option("failOnDataLoss", "true")
        )
        if batch is not None:
            return (
                reader.option("startingOffsets", spark_offsets(batch.start))
                .option("endingOffsets", spark_offsets(batch.end))
                .load()
            )
        reader = reader.option("startingOffsets", src.starting_offsets)
        bound = self.max_offsets_per_trigger
        if bound is not None:
            reader = reader.option("maxOffsetsPerTrigger", str(bound))
        if src.min_partitions is not None and self.spec.mode != "realtime":
            reader = reader.option("minPartitions", str(src.min_partitions))
        return reader.load()

    @property
    def max_offsets_per_trigger(self) -> int | None:
        """Records per micro-batch at most (the spec's bound, default 100,000), or None: unbounded, or a
        real-time pipeline, whose Kafka source Spark refuses to bound ("maxOffsetsPerTrigger is not
        compatible with real time mode")."""
        bound = self.spec.source.max_offsets_per_trigger
        return None if bound == "unbounded" or self.spec.mode == "realtime" else bound

    def subject_schemas(self) -> SubjectSchemas | None:
        """For an Avro source, every registered version of its subject, fetched now; None for JSON."""
        src = self.spec.source
        if src.format != "avro":
            return None

        with RegistryClient.from_settings(self.settings.registry) as client:
            return SubjectSchemas.from_registry(client, src.subject or f"{src.topic}-value")

    def parsed(
        self, spark: SparkSession, schemas: SubjectSchemas | None = None, *, batch: BatchRange | None = None
    ) -> DataFrame:
        """Decoded records with ``dead_letter_reason``: JSON with the spec's schema, or Confluent-framed
        Avro with every version in ``schemas`` (fetched here when not given), read into the latest:
        writer versions registered later are dead letters until a restart."""
        src = self.spec.source
        if src.format == "avro":
            schemas = schemas or self.subject_schemas()
            if schemas is None:  # subject_schemas fetches them for every avro source
                raise PipelineError(f"no schemas to decode the avro source {src.topic} with")
            decoded = decode_avro(
                self.source(spark, batch),
                schemas,
                required=src.required,
                time_field=self.spec.event_time.field,
                require_key=src.require_key,
            )
        else:
            assert src.schema_ddl is not None  # the spec's validator requires it for json
            decoded = decode.parse_json(
                self.source(spark, batch),
                src.schema_ddl,
                required=src.required,
                time_field=self.spec.event_time.field,
                require_key=src.require_key,
            )
        return decode.check_event_time(decoded, interval_ms(self.spec.event_time.max_future))

    def output(self, spark: SparkSession, schemas: SubjectSchemas | None = None) -> DataFrame:
        """Decoded records, watermarked on event time, through every streaming step in order."""
        df = decode.valid(observe_batch(self.parsed(spark, schemas)))
        df = df.withWatermark("event_time", self.spec.event_time.watermark)
        for step in self.spec.streaming_steps:
            df = steps.apply(df, step, self.settings)
        return df

    def start(self, spark: SparkSession, *, once: bool = False) -> list[StreamingQuery]:
        """Start the pipeline's query; ``once`` = availableNow (stop when caught up). The batches it
        leaves unsettled are settled when :func:`~streamwise.pipeline.await_queries` sees it end."""
        self.layout.check_layout()
        self.check_topics()
        if self.spec.mode == "realtime" and not once:
            return [start_realtime(self, spark)]
        trigger = {"availableNow": True} if once else {"processingTime": self.spec.trigger}
        schemas = self.subject_schemas()  # the query and the settling re-reads decode with the same versions
        settlement = Settlement(self, schemas, spark)  # before the start: it looks at the checkpoint as it was
        query = self.output(spark, schemas).writeStream.queryName(self.layout.main_query)
        query = query.outputMode(self.spec.output_mode).trigger(**trigger).foreachBatch(FanOut(self, settlement))
        started = query.option("checkpointLocation", str(self.layout.main_checkpoint)).start()
        on_finish(started, lambda: settlement.finish(spark, started._jsq.recentProgress()))
        return [started]

    def check_topics(self) -> None:
        """The source topic must exist (Spark would wait on a missing one in silence); the dead-letter
        topic is created when missing (the broker creates no topics, and the first bad record would
        fail the query)."""
        kafka, topic = self.settings.kafka, self.spec.source.topic
        try:
            missing = partition_count(kafka, topic) == 0
        except KafkaException as exc:
            raise PipelineError(
                f"cannot reach Kafka at {kafka.bootstrap} to find topic {topic!r}: {exc.args[0].str()}",
                hint="is the broker running? try `streamwise kafka status`",
            ) from None
        if missing:
            raise PipelineError(
                f"pipeline {self.spec.name} reads topic {topic!r}, which does not exist on {kafka.bootstrap}",
                hint=f"create it (`streamwise topics create {topic}`) or produce to it "
                f"(`streamwise produce SCENARIO --topic {topic}`)",
            )
        create_topic(kafka, self.dlq_topic, partitions=1, exist_ok=True)

    def explain(self, spark: SparkSession) -> str:
        """Spark's extended plan of the main query's streaming part (what reaches the sinks)."""
        return self.output(spark)._jdf.queryExecution().toString()


class FanOut:
    """The main query's ``foreachBatch``: per-batch steps, then every sink, each idempotent on its own."""

    def __init__(self, plan: Pipeline, settlement: Settlement | None = None) -> None:
        self.plan = plan
        self.settlement = settlement
        self._writers: list[SinkWriter] | None = None

    def writers(self) -> list[SinkWriter]:
        """One writer per sink, created at the first batch: their ids need the checkpoint's query id,
        which Spark has written by then."""
        if self._writers is None:
            layout, settings = self.plan.layout, self.plan.settings
            self._writers = [
                sink_writer(sink, settings, layout.sink_writer_id(index, sink.type))
                for index, sink in enumerate(self.plan.spec.sinks)
            ]
        return self._writers

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        self.write_sinks(batch, batch_id)
        if self.settlement is not None:  # after the sinks: the earlier batches' dead letters and ledger
            self.settlement.after_batch(batch.sparkSession, batch_id)

    def write_sinks(self, batch: DataFrame, batch_id: int) -> None:
        """The per-batch steps, then every sink."""
        writers = self.writers()
        for step in self.plan.spec.batch_steps:
            batch = steps.apply(batch, step, self.plan.settings)
        if len(writers) == 1 and not self.plan.spec.drops_late_data:
            # One sink of a stateless pipeline: one action, and Spark runs a stateless batch only when
            # records arrived; a cached copy would cost more than it saves.
            writers[0](batch, batch_id)
            return
        # Computed once into the cache: each writer then reads it without recomputing the decoding and
        # the stateful steps, and a batch with no rows (a windowed pipeline between two window ends:
        # most batches on a short trigger) skips the sinks, above all Delta's ~1 s commit.
        batch = batch.persist()
        try:
            if batch.count() == 0:
                log.debug("pipeline %s, batch %d: no rows for the sinks", self.plan.spec.name, batch_id)
                return
            for writer in writers:
                writer(batch, batch_id)
        finally:
            batch.unpersist()


def observe_batch(parsed: DataFrame) -> DataFrame:
    """Attach the batch's figures as an observed metric, read from each progress event by the
    monitor's listener and by the settling of batches: percentiles of (batch time - Kafka timestamp)
    and the count of the decoded records, and the count of dead letters. Computed in the JVM."""
    valid = F.col("dead_letter_reason").isNull()
    behind = F.unix_millis(F.current_timestamp()) - F.unix_millis(F.col("kafka_timestamp"))
    return parsed.observe(
        LATENCY_METRIC,
        F.percentile_approx(F.when(valid, behind), [0.5, 0.95, 0.99]).alias("p"),
        F.count_if(valid).alias("n"),
        F.count_if(~valid).alias("dead"),
    )
