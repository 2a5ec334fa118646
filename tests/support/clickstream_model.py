"""The clickstream pipeline's reference model: two phases of page views (out of order, and late), the
window counts Spark's append mode must emit for them (computed with pandas, independently of Spark),
and how a test produces the events and reads the Delta sink back. Shared by the default-profile and
the secure-profile tests, which must get the same rows."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pandas as pd

from streamwise.config import Settings
from streamwise.ingest.producer import EventProducer
from streamwise.pipeline import load_pipeline, resolve
from streamwise.pipeline.plan import Pipeline
from streamwise.pipeline.spec import PipelineSpec

T0 = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000)
WINDOW_MS = 10_000
WATERMARK_MS = 5_000

# (page, seconds after T0), in the order they are produced.
PHASE_1 = [("/a", 1), ("/a", 3), ("/b", 5), ("/a", 12), ("/a", 2), ("/b", 15), ("/b", 21), ("/a", 27)]
# After phase 1 the watermark is 27 - 5 = 22 s. Then: 24 s is out of order but within the watermark
# (counted); 8 s and 19 s are behind it (their windows have closed: dropped); 33 and 44 move it on.
PHASE_2 = [("/a", 24), ("/b", 8), ("/b", 33), ("/a", 19), ("/a", 44)]


def expected_windows(phases: list[list[tuple[str, int]]]) -> pd.DataFrame:
    """Independent model of Spark's append-mode semantics for a tumbling window with a watermark:
    a run drops events older than the watermark it starts with, and the windows emitted are those
    whose end is at or before the watermark after the run (max event time seen - delay)."""
    kept, max_seen = [], None
    for events in phases:
        watermark = (max_seen - WATERMARK_MS) if max_seen is not None else None
        for page, sec in events:
            t = T0 + sec * 1000
            if watermark is None or t >= watermark:
                kept.append((page, t))
        max_seen = max([max_seen or 0] + [T0 + s * 1000 for _, s in events])
    final_watermark = max_seen - WATERMARK_MS
    frame = pd.DataFrame(kept, columns=["page", "t"])
    frame["window_start"] = frame["t"] // WINDOW_MS * WINDOW_MS
    frame = frame[frame["window_start"] + WINDOW_MS <= final_watermark]
    counts = frame.groupby(["window_start", "page"]).size().rename("views").reset_index()
    return counts.sort_values(["window_start", "page"]).reset_index(drop=True)


def produce(settings: Settings, topic: str, events: list[tuple[str, int]], raw: list[bytes] = ()) -> None:
    """``events`` as user u1's page views (keyed, as the generator keys them), then ``raw`` values as they are."""
    producer = EventProducer(settings.kafka, topic)
    records = [
        (b"u1", json.dumps({"user_id": "u1", "page": p, "event_time": T0 + s * 1000}).encode(), None) for p, s in events
    ]
    records += [(b"bad", value, None) for value in raw]
    producer.send_many(records)
    producer.flush()


def delta_windows(spark, pipeline: Pipeline) -> pd.DataFrame:
    """The pipeline's Delta rows as (window_start in ms, page, views), sorted like :func:`expected_windows`."""
    frame = spark.read.format("delta").load(str(pipeline.sink_path(pipeline.spec.sinks[0]))).toPandas()
    frame["window_start"] = pd.to_datetime(frame["window_start"], utc=True).astype("int64") // 1_000_000
    return frame[["window_start", "page", "views"]].sort_values(["window_start", "page"]).reset_index(drop=True)


def clickstream_on(topic: str) -> PipelineSpec:
    """The shipped clickstream pipeline, named after ``topic``, reading it, writing its own Delta folder."""
    spec = load_pipeline(resolve("clickstream"))
    return spec.model_copy(
        update={
            "name": topic,
            "source": spec.source.model_copy(update={"topic": topic}),
            "sinks": [spec.sinks[0].model_copy(update={"path": f"{topic}/page_view_counts"})],
        }
    )
