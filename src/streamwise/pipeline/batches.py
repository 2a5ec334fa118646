"""A query's micro-batches as its checkpoint records them: which Kafka offsets each batch read and
which watermark its stateful operators dropped late rows against.

Spark writes ``offsets/N`` (the batch's end offsets and its ``batchWatermarkMs``) before it runs
batch N, and ``commits/N`` once the batch's sink has finished. The Kafka source keeps the offsets
the query started from in ``sources/0/0``. From these files alone a batch can be read again exactly
as the query read it (``startingOffsets`` = the previous batch's end, ``endingOffsets`` = its own).

The late-row watermark is Spark's: with multiple stateful operators allowed (the default since
3.4), ``IncrementalExecution`` filters late input of batch N against the watermark propagated for
batch N - 1 (``PropagateWatermarkSimulator.getInputWatermarkForLateEvents``), i.e. the
``batchWatermarkMs`` of ``offsets/N-1``, and 0 for batch 0. The eviction (emit) watermark is
batch N's own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from streamwise.pipeline.exceptions import ForgottenBatchError, PipelineError
from streamwise.platform.storage import Location

Offsets = dict[str, dict[str, int]]  # topic -> partition (as text, like Spark's JSON) -> offset
EARLIEST = -2  # Spark's Kafka reader: -2 in an offsets JSON means the partition's earliest offset


@dataclass(frozen=True)
class BatchRange:
    """What batch ``batch_id`` read and the watermark its late rows were judged against."""

    batch_id: int
    start: Offsets
    end: Offsets
    late_watermark_ms: int

    @property
    def empty(self) -> bool:
        """True for a batch that read no record (a no-data batch that only moved the watermark)."""
        return all(self.start.get(t, {}).get(p) == o for t, parts in self.end.items() for p, o in parts.items())


def _json_lines(path: Location) -> list[dict]:
    """The JSON objects of a Spark metadata-log file (a version line, then one object per line)."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        raise ForgottenBatchError(
            f"{path} is missing: the checkpoint no longer holds that batch",
            hint="Spark keeps the last 100 batches (spark.sql.streaming.minBatchesToRetain)",
        ) from None
    return [json.loads(line[line.index("{") :]) for line in text.splitlines() if "{" in line]


def _of_topic(sources: list[Offsets], topic: str, where: Location) -> Offsets:
    """The entry of ``topic`` among a log line's sources (a stream-stream join reads two topics)."""
    for source in sources:
        if topic in source:
            return {topic: source[topic]}
    raise PipelineError(
        f"{where} holds no offsets of topic {topic!r}: the checkpoint belongs to another source",
        hint="point the pipeline at its own checkpoint, or move this one away to start afresh",
    )


def _offsets_entry(checkpoint: Location, batch_id: int, topic: str) -> tuple[dict, Offsets]:
    path = checkpoint / "offsets" / str(batch_id)
    metadata, *sources = _json_lines(path)
    return metadata, _of_topic(sources, topic, path)


def batch_range(checkpoint: Location, batch_id: int, topic: str) -> BatchRange:
    """Batch ``batch_id`` of ``topic`` in the query checkpointed at ``checkpoint`` (see the module
    docstring). A partition the previous batch did not know yet starts at its beginning, as Spark reads it."""
    _, end = _offsets_entry(checkpoint, batch_id, topic)
    if batch_id == 0:
        firsts: list[Location] = sorted((checkpoint / "sources").glob("*/0"), key=str)
        initial = [_json_lines(p)[0] for p in firsts]
        start, late = _of_topic(initial, topic, checkpoint / "sources"), 0
    else:
        previous, start = _offsets_entry(checkpoint, batch_id - 1, topic)
        late = int(previous.get("batchWatermarkMs") or 0)
    known = start.get(topic, {})
    start = {topic: {p: known.get(p, EARLIEST) for p in end[topic]}}
    return BatchRange(batch_id, start, end, late)


def last_committed(checkpoint: Location) -> int | None:
    """The newest batch whose sink finished (``commits/N``), or None before the first."""
    commits = checkpoint / "commits"
    ids = [int(p.name) for p in commits.iterdir() if p.name.isdigit()] if commits.is_dir() else []
    return max(ids) if ids else None


def spark_offsets(offsets: Offsets) -> str:
    """Offsets as the JSON Spark's Kafka reader takes for ``startingOffsets``/``endingOffsets``."""
    return json.dumps(offsets, separators=(",", ":"))
