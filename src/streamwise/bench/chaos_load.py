"""Chaos drills under load: R7, a spike of the offered rate, and R6, a long soak.

Both run the flow of :mod:`streamwise.bench.chaos` (clickstream events with their ground truth into
a supervised pass-through pipeline, Delta and a transactional Kafka topic as sinks), with the
source bounded per micro-batch (``max_offsets_per_trigger``), and end, as every drill, once the
pipeline has caught up, with an exact count per sink.

- **R7 spike**: the offered rate times ``factor`` for ``spike_s`` seconds. A batch never reads more
  than the bound, so the backlog drains in bounded batches; the lag (records in Kafka the
  pipeline has not committed) climbs and comes back. Recovery = the spike's end until the lag is
  back at or below the highest lag seen before the spike.
- **R6 soak**: a steady rate for ``minutes``; every ``every_s`` seconds the resident memory of the
  driver (the supervisor's child and its JVM) and of the broker, the checkpoint's size on disk and
  the lag are sampled; growth is last sample minus first.

The lag is read from the sources themselves, not from the monitor: the topic's end offsets (Kafka)
minus the end offsets of the main query's last committed batch (its checkpoint); the batches'
sizes likewise, from the offsets each batch read (``offsets/N`` against ``offsets/N-1``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from streamwise.bench.chaos import SAFETY_S, DrillResult, Flow, flowing
from streamwise.bench.exceptions import BenchError
from streamwise.config import Settings
from streamwise.ingest.disorder import RateProfile, Spike
from streamwise.pipeline.batches import batch_range
from streamwise.pipeline.exceptions import PipelineError
from streamwise.platform.kafka import KafkaCluster
from streamwise.platform.storage import Location

log = logging.getLogger(__name__)

MB = 1024 * 1024
# The default bound per batch, in seconds of the offered rate: a spike's backlog is read in batches
# of this size. Far above a 1 s trigger's share, so a steady flow never meets it, yet well below a
# ×10 spike of 30 s. A batch costs a fixed ~1-3 s (the Delta commit, the Kafka transaction) besides
# its rows, so a bound of a few seconds' worth would drain no faster than events arrive on a loaded
# machine (measured: 5 s of 500/s drained ~450/s there).
BOUND_S = 20


class Backlog:
    """What the flow's topic holds that its pipeline has not committed, and the size of each batch."""

    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        self.sizes: dict[int, int] = {}  # batch id -> records it read

    def lag(self) -> tuple[int, int]:
        """(records in the topic, of them not committed by the pipeline): committed first, so the
        lag is never negative."""
        done = self.flow.committed()
        total = self.flow.produced()
        return total, max(0, total - done)

    def read_batch_sizes(self) -> None:
        """Learn the size of every batch planned since the last call (Spark keeps the last 100)."""
        folder = self.flow.checkpoint / "offsets"
        ids = sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit()) if folder.is_dir() else []
        for batch in ids:
            if batch in self.sizes:
                continue
            try:
                read = batch_range(self.flow.checkpoint, batch, self.flow.topic)
            except (PipelineError, ValueError):  # rotated out, or being written: skipped or read next time
                continue
            ends, starts = read.end.get(self.flow.topic, {}), read.start.get(self.flow.topic, {})
            self.sizes[batch] = sum(end - max(0, starts.get(p, 0)) for p, end in ends.items())

    @property
    def max_batch(self) -> int:
        return max(self.sizes.values(), default=0)


@dataclass
class LagSeries:
    """Lag samples, seconds since the flow started."""

    t: list[float] = field(default_factory=list)
    produced: list[int] = field(default_factory=list)
    lag: list[int] = field(default_factory=list)

    def add(self, t: float, produced: int, lag: int) -> None:
        self.t.append(round(t, 2))
        self.produced.append(produced)
        self.lag.append(lag)

    def between(self, start: float, end: float) -> list[int]:
        return [lag for t, lag in zip(self.t, self.lag, strict=True) if start <= t < end]


def spike(
    settings: Settings,
    *,
    base_rate: float,
    factor: float = 10,
    spike_s: float = 30,
    warmup_s: float = 30,
    after_s: float = 30,
    max_offsets_per_trigger: int | None = None,
    sample_s: float = 1.0,
) -> DrillResult:
    """R7: ``base_rate`` events/s; ``warmup_s`` s in, ``factor`` times that for ``spike_s`` s; then
    the base rate until the lag is back to its pre-spike level and ``after_s`` s more. The source
    reads at most ``max_offsets_per_trigger`` records per batch (default: :data:`BOUND_S` s of the
    base rate).

    ``recovery_s`` holds one figure: the spike's end until the lag is back at or below the highest
    lag sampled before it. Extra fields: the bound and the largest batch read (``max_batch_rows``,
    ``batches_bounded``), lag before (highest), at its peak and after (highest over ``after_s``),
    and the rate the generator actually offered during the spike."""
    bound = max_offsets_per_trigger or max(1, int(base_rate * BOUND_S))
    pace = RateProfile(base_rate, (Spike(factor, warmup_s, spike_s),))
    started = time.monotonic()
    with flowing(settings, "r7_spike", rate=pace, source={"max_offsets_per_trigger": bound}) as flow:
        begin = time.monotonic()  # the generator's clock starts about now: the spike is at begin + warmup_s
        backlog, series = Backlog(flow), LagSeries()
        spike_from, spike_to = warmup_s, warmup_s + spike_s

        def sample() -> int:
            produced, lag = backlog.lag()
            series.add(time.monotonic() - begin, produced, lag)
            backlog.read_batch_sizes()
            return lag

        def sample_until(t_end: float) -> None:
            while time.monotonic() - begin < t_end:
                sample()
                time.sleep(max(0.0, min(sample_s, t_end - (time.monotonic() - begin))))

        sample_until(spike_to)
        # Before the spike, its first third left out: the generator's and the pipeline's start.
        before = series.between(spike_from / 3, spike_from)
        if not before:
            raise BenchError(f"chaos R7: no lag sampled in the {warmup_s:.0f}s before the spike; lengthen warmup_s")
        level = max(before)
        while True:
            now = time.monotonic() - begin
            if sample() <= level:
                recovery = now - spike_to
                break
            if now - spike_to > SAFETY_S:
                raise BenchError(f"chaos R7: the lag is not back to {level} records {SAFETY_S:.0f}s after the spike")
            time.sleep(sample_s)
        recovered_at = time.monotonic() - begin
        sample_until(recovered_at + after_s)
        result = flow.finish("R7 spike", faults=1, recovery_s=[recovery], started=started)
    in_spike = [(t, p) for t, p in zip(series.t, series.produced, strict=True) if spike_from <= t <= spike_to]
    offered = (in_spike[-1][1] - in_spike[0][1]) / (in_spike[-1][0] - in_spike[0][0]) if len(in_spike) > 1 else None
    result.extra.update(
        base_rate=base_rate,
        factor=factor,
        spike_s=spike_s,
        offered_spike_rate=round(offered) if offered is not None else None,
        max_offsets_per_trigger=bound,
        max_batch_rows=backlog.max_batch,
        batches_bounded=backlog.max_batch <= bound,
        batches=len(backlog.sizes),
        lag_before=level,
        lag_peak=max(series.between(spike_from, recovered_at), default=0),
        lag_after=max(series.between(recovered_at, recovered_at + after_s), default=0),
    )
    result.checks["every batch within the bound per trigger"] = backlog.max_batch <= bound
    log.info("chaos R7: %s", result.row())
    return result


@dataclass
class SoakSample:
    """One sample of R6 (MB, bytes, records)."""

    t_s: float
    driver_rss_mb: float | None  # the driver and its JVM; None while the supervisor restarts it
    broker_rss_mb: float
    checkpoint_bytes: int
    lag: int
    batches: int


def soak(
    settings: Settings,
    *,
    minutes: float = 30,
    rate: float = 20_000,
    every_s: float = 60,
    warmup_s: float = 60,
    max_offsets_per_trigger: int | None = None,
) -> DrillResult:
    """R6: ``rate`` events/s; ``warmup_s`` s after the first committed batch (the JVMs' heaps grow to
    their working size first), a sample, then one every ``every_s`` s for ``minutes``, the last at
    the end (see :class:`SoakSample`). Extra fields: the samples, and the growth from the first
    sample to the last of driver RSS, broker RSS (MB), checkpoint size (bytes) and lag."""
    bound = max_offsets_per_trigger or max(1, int(rate * BOUND_S))
    cluster = KafkaCluster(settings)
    started = time.monotonic()
    samples: list[SoakSample] = []
    with flowing(settings, "r6_soak", rate=rate, source={"max_offsets_per_trigger": bound}) as flow:
        begin = time.monotonic()
        backlog = Backlog(flow)
        while flow.committed_batches() < 1:
            if time.monotonic() - begin > SAFETY_S:
                raise BenchError("chaos R6: no batch committed")
            time.sleep(0.5)
        time.sleep(warmup_s)  # the JVMs size their heaps in the first minute: that is not growth
        first_at = time.monotonic()
        for n in range(int(minutes * 60 // every_s) + 1):  # the first now, then every every_s
            time.sleep(max(0.0, first_at + n * every_s - time.monotonic()))
            _, lag = backlog.lag()
            samples.append(
                SoakSample(
                    t_s=round(time.monotonic() - begin, 1),
                    driver_rss_mb=_rss_mb(flow.driver(), family=True),
                    broker_rss_mb=sum(_rss_mb(n.service.process()) or 0.0 for n in cluster.nodes),
                    checkpoint_bytes=_folder_bytes(flow.checkpoint),
                    lag=lag,
                    batches=flow.committed_batches(),
                )
            )
            log.info("chaos R6: %s", samples[-1])
        time.sleep(max(0.0, first_at + minutes * 60 - time.monotonic()))
        result = flow.finish("R6 soak", faults=0, recovery_s=[], started=started)
    first, last = samples[0], samples[-1]
    drivers = [s.driver_rss_mb for s in samples if s.driver_rss_mb is not None]
    result.extra.update(
        rate=rate,
        minutes=minutes,
        samples=[vars(s) for s in samples],
        driver_rss_growth_mb=round(drivers[-1] - drivers[0], 1) if drivers else None,
        broker_rss_growth_mb=round(last.broker_rss_mb - first.broker_rss_mb, 1),
        checkpoint_growth_bytes=last.checkpoint_bytes - first.checkpoint_bytes,
        lag_first=first.lag,
        lag_last=last.lag,
        lag_max=max(s.lag for s in samples),
    )
    log.info("chaos R6: %s", {k: v for k, v in result.row().items() if k != "samples"})
    return result


def _rss_mb(proc: psutil.Process | None, *, family: bool = False) -> float | None:
    """Resident memory of ``proc`` (and, with ``family``, every process under it), in MB."""
    if proc is None:
        return None
    try:
        members = [proc, *proc.children(recursive=True)] if family else [proc]
        total = 0
        for member in members:
            try:
                total += member.memory_info().rss
            except psutil.Error:
                pass
        return round(total / MB, 1)
    except psutil.Error:
        return None


def _folder_bytes(folder: Location) -> int:
    if not isinstance(folder, Path):
        return 0  # measured on a local data root only: walking a remote one file by file costs more than it tells
    total = 0
    for path in folder.rglob("*"):
        try:
            if path.is_file():
                total += path.stat().st_size
        except OSError:  # rotated away meanwhile
            pass
    return total
