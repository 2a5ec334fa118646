"""One streaming query's health, read off a Spark progress event (``StreamingQueryProgress.json``)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from streamwise.pipeline.layout import LATENCY_METRIC


@dataclass(frozen=True)
class PartitionLag:
    """How far a query's processed offset is behind the partition's latest offset."""

    topic: str
    partition: int
    processed: int
    latest: int

    @property
    def lag(self) -> int:
        return max(0, self.latest - self.processed)


@dataclass(frozen=True)
class QueryMetrics:
    """The numbers ``status``, ``/metrics`` and the dashboard show for one query after one batch."""

    query: str
    run_id: str
    batch_id: int
    timestamp_ms: int
    input_rows: int
    input_rows_per_s: float
    processed_rows_per_s: float
    batch_duration_ms: int
    watermark_delay_ms: int | None
    late_rows_dropped: int
    state_rows: int
    state_memory_bytes: int
    latency_ms: dict[str, float] = field(default_factory=dict)
    partitions: list[PartitionLag] = field(default_factory=list)

    @property
    def lag(self) -> int:
        return sum(p.lag for p in self.partitions)

    def to_json(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> QueryMetrics:
        data = json.loads(raw)
        data["partitions"] = [PartitionLag(**p) for p in data["partitions"]]
        return cls(**data)

    @classmethod
    def from_progress(cls, progress: dict[str, Any]) -> QueryMetrics:
        """Extract the metrics from a progress event's JSON (as a dict).

        End-to-end latency: the pipeline observes, per batch, percentiles of (batch start - Kafka
        timestamp) over its input rows; the batch's own duration is added, so the figure is the time
        from a record entering Kafka to the batch that carries it being committed to the sink.
        """
        timestamp_ms = _epoch_ms(progress["timestamp"])
        watermark = progress.get("eventTime", {}).get("watermark")
        watermark_ms = _epoch_ms(watermark) if watermark else None
        operators = progress.get("stateOperators", [])
        duration = int(progress.get("batchDuration") or progress.get("durationMs", {}).get("triggerExecution", 0))
        observed = progress.get("observedMetrics", {}).get(LATENCY_METRIC) or {}
        latency = {}
        if observed.get("n"):
            p50, p95, p99 = observed["p"]
            latency = {"p50": p50 + duration, "p95": p95 + duration, "p99": p99 + duration}
        return cls(
            query=progress.get("name") or progress["id"],
            run_id=progress["runId"],
            batch_id=int(progress["batchId"]),
            timestamp_ms=timestamp_ms,
            input_rows=int(progress.get("numInputRows", 0)),
            input_rows_per_s=float(progress.get("inputRowsPerSecond") or 0.0),
            processed_rows_per_s=float(progress.get("processedRowsPerSecond") or 0.0),
            batch_duration_ms=duration,
            watermark_delay_ms=(timestamp_ms - watermark_ms) if watermark_ms and watermark_ms > 0 else None,
            late_rows_dropped=sum(int(op.get("numRowsDroppedByWatermark", 0)) for op in operators),
            state_rows=sum(int(op.get("numRowsTotal", 0)) for op in operators),
            state_memory_bytes=sum(int(op.get("memoryUsedBytes", 0)) for op in operators),
            latency_ms=latency,
            partitions=_partitions(progress.get("sources", [])),
        )


def _partitions(sources: list[dict[str, Any]]) -> list[PartitionLag]:
    lags = []
    for source in sources:
        end, latest = _offsets(source.get("endOffset")), _offsets(source.get("latestOffset"))
        for topic, parts in end.items():
            for partition, processed in parts.items():
                newest = latest.get(topic, {}).get(partition, processed)
                lags.append(PartitionLag(topic, int(partition), int(processed), int(newest)))
    return sorted(lags, key=lambda p: (p.topic, p.partition))


def _offsets(value: Any) -> dict[str, dict[str, int]]:
    """Kafka source offsets come as a JSON string or a dict; other sources have other shapes (ignored)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    if not isinstance(value, dict):
        return {}
    return {t: p for t, p in value.items() if isinstance(p, dict)}


def _epoch_ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)
