"""The first pipeline: page views per page in tumbling event-time windows, into a Delta table.

Two queries read the topic: the counts into Delta, and records that do not decode into
``<topic>.dlq`` with the reason, so a bad record never stops the job and is never lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from streamwise.config import Settings
from streamwise.pipeline import steps

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery

PAGE_VIEW_SCHEMA = "user_id STRING, page STRING, event_time LONG"


@dataclass(frozen=True)
class ClickstreamPipeline:
    """Where the clickstream pipeline reads and writes, and its window and watermark."""

    settings: Settings
    topic: str = "clickstream"
    window: str = "10 seconds"
    watermark: str = "5 seconds"
    trigger_interval: str = "5 seconds"
    max_offsets_per_trigger: int | None = None
    name: str = "clickstream"

    @property
    def output_path(self) -> Path:
        return self.settings.state / "warehouse" / self.name / "page_view_counts"

    @property
    def checkpoint_root(self) -> Path:
        return self.settings.state / "checkpoints" / self.name

    @property
    def dlq_topic(self) -> str:
        return f"{self.topic}.dlq"

    def source(self, spark: SparkSession) -> DataFrame:
        reader = spark.readStream.format("kafka").options(**self.settings.kafka.spark_options())
        reader = reader.option("subscribe", self.topic).option("startingOffsets", "earliest")
        reader = reader.option("failOnDataLoss", "true")
        if self.max_offsets_per_trigger:
            reader = reader.option("maxOffsetsPerTrigger", str(self.max_offsets_per_trigger))
        return reader.load()

    def page_view_counts(self, parsed: DataFrame) -> DataFrame:
        return steps.tumbling_count(
            steps.valid(parsed), by=["page"], window=self.window, watermark=self.watermark, count_as="views"
        )

    def start(self, spark: SparkSession, *, once: bool = False) -> list[StreamingQuery]:
        """Start both queries; ``once`` processes what is in the topic now and stops (availableNow)."""
        parsed = steps.parse_json(self.source(spark), PAGE_VIEW_SCHEMA, required=["page"])
        trigger = {"availableNow": True} if once else {"processingTime": self.trigger_interval}
        counts = (
            self.page_view_counts(parsed)
            .writeStream.queryName(f"{self.name}_page_views")
            .format("delta")
            .outputMode("append")
            .option("checkpointLocation", str(self.checkpoint_root / "page_views"))
            .trigger(**trigger)
            .start(str(self.output_path))
        )
        dlq = (
            steps.dead_letters(parsed)
            .writeStream.queryName(f"{self.name}_dead_letters")
            .format("kafka")
            .options(**self.settings.kafka.spark_options())
            .option("topic", self.dlq_topic)
            .option("checkpointLocation", str(self.checkpoint_root / "dead_letters"))
            .trigger(**trigger)
            .start()
        )
        return [counts, dlq]
