"""Produce a scenario's events at a steady rate for a duration (or until stopped)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from streamwise.config import KafkaSettings
from streamwise.ingest.clickstream import ClickstreamGenerator
from streamwise.ingest.producer import DeliveryStats, EventProducer

TICK_S = 0.1


@dataclass(frozen=True)
class ProduceReport:
    """What a produce run achieved."""

    sent: int
    seconds: float
    stats: DeliveryStats

    @property
    def events_per_s(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0


def produce_clickstream(
    kafka: KafkaSettings,
    *,
    topic: str,
    rate: float,
    duration_s: float | None,
    seed: int = 7,
    on_tick: Callable[[int], None] | None = None,
) -> ProduceReport:
    """Send page views at ``rate`` per second (``0`` = as fast as possible) for ``duration_s`` (None = forever).

    Each tick generates the events due since the start, so the rate holds on average even when a
    tick runs long. Ctrl-C stops the loop; the producer is flushed either way.
    """
    generator = ClickstreamGenerator(seed)
    producer = EventProducer(kafka, topic)
    start = time.monotonic()
    sent = 0
    try:
        while duration_s is None or time.monotonic() - start < duration_s:
            elapsed = time.monotonic() - start
            due = 50_000 if rate <= 0 else int(rate * (elapsed + TICK_S)) - sent
            if duration_s is not None and rate > 0:
                due = min(due, int(rate * duration_s) - sent)
            if due > 0:
                batch = generator.batch(due, int(time.time() * 1000))
                sent += producer.send_many(batch.records())
                if on_tick:
                    on_tick(sent)
            if rate > 0:
                time.sleep(max(0.0, start + (sent / rate) - time.monotonic()))
    except KeyboardInterrupt:
        pass
    finally:
        seconds = time.monotonic() - start
        stats = producer.flush()
    return ProduceReport(sent, seconds, stats)
