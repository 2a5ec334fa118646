"""Turns a :class:`PipelineSpec` into running Spark queries: one main query for every sink, and one
side query for dead letters and the late-data ledger.

The main query reads the topic once: decode → watermark → steps → one ``foreachBatch``
(:class:`FanOut`) that applies the per-batch steps, persists the batch when more than one sink reads
it, and hands it to every sink's writer in turn. Every sink therefore sees the same batches (an
alert in Kafka always has its row in Delta), and each writer is idempotent on (its id, batch id), so
a batch replayed after a crash fills in only the sinks it had not reached.

The side query reads the topic a second time, because what it needs never reaches the steps:
records that did not decode (to ``<topic>.dlq``) and, when a step drops late data, valid records
behind the watermark (the ledger). Names and checkpoint folders come from
:class:`~streamwise.pipeline.layout.PipelineLayout`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from confluent_kafka import KafkaException
from pyspark.sql import functions as F

from streamwise.config import Settings
from streamwise.monitor.metrics import LATENCY_METRIC
from streamwise.pipeline import steps
from streamwise.pipeline.exceptions import PipelineError
from streamwise.pipeline.layout import PipelineLayout
from streamwise.pipeline.ledger import LedgerWriter
from streamwise.pipeline.spec import PipelineSpec, interval_ms
from streamwise.platform.topics import create_topic, partition_count
from streamwise.sinks import DeltaSink, SinkWriter, sink_writer, warehouse_path

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery

    from streamwise.schemas.spark import SubjectSchemas

log = logging.getLogger(__name__)

# Dead letters and the ledger are not on the latency path: the side query's batches come at most this
# often, so its fixed cost per batch (a Kafka read, a decode, a job) is paid less often than the main
# query's and leaves the cores to it. Measured on 2 cores at 2,000 events/s: with the side query on the
# main query's 1 s trigger, its batches took 3.3 s and slowed the main query's.
SIDE_TRIGGER_MS = 10_000


@dataclass(frozen=True)
class Pipeline:
    """A validated spec bound to the settings it runs with."""

    spec: PipelineSpec
    settings: Settings

    @cached_property
    def layout(self) -> PipelineLayout:
        return PipelineLayout(self.spec.name, self.settings.state)

    @property
    def dlq_topic(self) -> str:
        return f"{self.spec.source.topic}.dlq"

    @property
    def keeps_ledger(self) -> bool:
        return self.spec.drops_late_data and self.spec.late_records.enabled

    def sink_path(self, sink: DeltaSink) -> Path:
        return warehouse_path(sink.path, self.settings.state)

    @property
    def late_records_path(self) -> Path:
        return warehouse_path(self.spec.late_records_path, self.settings.state)

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
        """Decoded records, watermarked on event time, through every streaming step in order."""
        df = steps.valid(self.parsed(spark, schemas))
        df = observe_latency(df).withWatermark("event_time", self.spec.event_time.watermark)
        for step in self.spec.streaming_steps:
            df = steps.apply(df, step, self.settings)
        return df

    def start(self, spark: SparkSession, *, once: bool = False) -> list[StreamingQuery]:
        """Start the main query and the side query; ``once`` = availableNow (stop when caught up)."""
        self.layout.check_layout()
        self.check_topics()
        trigger = {"availableNow": True} if once else {"processingTime": self.spec.trigger}
        schemas = self.subject_schemas()  # once: both queries of this start read with the same versions
        main = self.output(spark, schemas).writeStream.queryName(self.layout.main_query)
        main = main.outputMode(self.spec.output_mode).trigger(**trigger).foreachBatch(FanOut(self))
        queries = [main.option("checkpointLocation", str(self.layout.main_checkpoint)).start()]
        side = self.parsed(spark, schemas).writeStream.queryName(self.layout.side_query).foreachBatch(SideOutputs(self))
        side_trigger = trigger if once else {"processingTime": f"{max(SIDE_TRIGGER_MS, interval_ms(self.spec.trigger))} milliseconds"}
        queries.append(side.option("checkpointLocation", str(self.layout.side_checkpoint)).trigger(**side_trigger).start())
        return queries

    def check_topics(self) -> None:
        """The source topic must exist (Spark would wait on a missing one in silence); the dead-letter
        topic is created when missing (the broker creates no topics, and the first bad record would
        fail the side query)."""
        kafka, topic = self.settings.kafka, self.spec.source.topic
        try:
            missing = partition_count(kafka, topic) == 0
        except KafkaException as exc:
            raise PipelineError(f"cannot reach Kafka at {kafka.bootstrap_servers} to find topic {topic!r}: {exc.args[0].str()}",
                                hint="is the broker running? try `streamwise kafka status`") from None  # fmt: skip
        if missing:
            raise PipelineError(f"pipeline {self.spec.name} reads topic {topic!r}, which does not exist on {kafka.bootstrap_servers}",
                                hint=f"create it (`streamwise topics create {topic}`) or produce to it "
                                     f"(`streamwise produce SCENARIO --topic {topic}`)")  # fmt: skip
        create_topic(kafka, self.dlq_topic, partitions=1, exist_ok=True)

    def explain(self, spark: SparkSession) -> str:
        """Spark's extended plan of the main query's streaming part (what reaches the sinks)."""
        return self.output(spark)._jdf.queryExecution().toString()


class FanOut:
    """The main query's ``foreachBatch``: per-batch steps, then every sink, each idempotent on its own."""

    def __init__(self, plan: Pipeline) -> None:
        self.plan = plan
        self._writers: list[SinkWriter] | None = None

    def writers(self) -> list[SinkWriter]:
        """One writer per sink, created at the first batch: their ids need the checkpoint's query id,
        which Spark has written by then."""
        if self._writers is None:
            layout, settings = self.plan.layout, self.plan.settings
            self._writers = [sink_writer(sink, settings, layout.sink_writer_id(index, sink.type))
                             for index, sink in enumerate(self.plan.spec.sinks)]  # fmt: skip
        return self._writers

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
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


class SideOutputs:
    """The side query's ``foreachBatch``: dead letters to ``<topic>.dlq``; late rows to the ledger.

    One aggregation per batch counts the dead letters and the late rows and finds the newest event
    time; only what is there is written, so a batch with neither (the usual case) costs that one
    pass (into the cache) and no write. Dead letters go through Spark's Kafka writer, at least once:
    a replayed batch may repeat some (``verify`` counts each dead-lettered record once).
    """

    def __init__(self, plan: Pipeline) -> None:
        self.plan = plan
        self._ledger: LedgerWriter | None = None

    def ledger(self) -> LedgerWriter | None:
        """The ledger's writer, created at the first batch (its id needs the side checkpoint's query id)."""
        plan = self.plan
        if plan.keeps_ledger and self._ledger is None:
            delay = interval_ms(plan.spec.event_time.watermark)
            layout = plan.layout
            self._ledger = LedgerWriter(layout.side_checkpoint, plan.late_records_path, layout.ledger_writer_id(), delay)
        return self._ledger

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        ledger = self.ledger()
        watermark = ledger.log.watermark_for(batch_id) if ledger is not None else 0
        batch = batch.persist()  # a batch with dead letters or late rows is read again to write them
        try:
            dead, late, newest = side_counts(batch, watermark)
            if dead:
                out = steps.dead_letters(batch).write.format("kafka").options(**self.plan.settings.kafka.spark_options())
                out.option("topic", self.plan.dlq_topic).save()
            if ledger is not None:
                if late:
                    ledger.append(steps.valid(batch), batch_id, watermark)
                ledger.log.record(batch_id, watermark, newest)
        finally:
            batch.unpersist()


def side_counts(parsed: DataFrame, watermark_ms: int) -> tuple[int, int, int | None]:
    """In one pass over a decoded batch: its dead letters, its valid rows at or behind
    ``watermark_ms`` (none while it is 0), and the newest event time of its valid rows (epoch ms)."""
    valid = F.col("dead_letter_reason").isNull()
    row = parsed.agg(
        F.count_if(~valid).alias("dead"),
        F.count_if(valid & (F.lit(watermark_ms) > 0) & (F.unix_millis("event_time") <= watermark_ms)).alias("late"),
        F.max(F.when(valid, F.unix_millis("event_time"))).alias("newest"),
    ).first()
    return int(row["dead"]), int(row["late"]), row["newest"]


def observe_latency(df: DataFrame) -> DataFrame:
    """Attach per-batch percentiles of (batch time - Kafka timestamp) as an observed metric; the
    monitor's listener reads them from each progress event. Computed in the JVM, no UDF."""
    behind = F.unix_millis(F.current_timestamp()) - F.unix_millis(F.col("kafka_timestamp"))
    return df.observe(
        LATENCY_METRIC, F.percentile_approx(behind, [0.5, 0.95, 0.99]).alias("p"), F.count(F.lit(1)).alias("n")
    )
