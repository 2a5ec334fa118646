"""Disorder on purpose: late events, out-of-order sends, duplicates, and a rate profile with spikes.

All of it is drawn from a seeded RNG, so a run is reproducible, and every event that was made late,
moved or duplicated carries a ground-truth flag (``is_late``, ``is_out_of_order``, ``is_duplicate``).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from streamwise.ingest.exceptions import IngestOptionError
from streamwise.ingest.scenario import EventBatch

DISORDER_FLAGS = ("is_late", "is_out_of_order", "is_duplicate")
_MIN_LATENESS_MS = 1_000  # a late event is at least this late (or half the maximum, if that is smaller)


@dataclass
class Disorder:
    """How much disorder to inject into each batch.

    - ``late_fraction`` of events get an event time ``U(min(1 s, max/2), max_lateness_ms)`` earlier
      than it would be (they arrive late, e.g. from a phone that was offline);
    - ``out_of_order`` is the fraction of events whose send positions are shuffled among themselves
      (event times stay; the send order no longer follows them);
    - ``duplicates`` is the fraction of events sent a second time, later in the same batch, with the
      same key, event id and payload (as an at-least-once upstream would).
    """

    late_fraction: float = 0.0
    max_lateness_ms: int = 15_000
    out_of_order: float = 0.0
    duplicates: float = 0.0
    seed: int = 7
    _rng: np.random.Generator = field(init=False, repr=False, compare=False)  # the state across batches

    def __post_init__(self) -> None:
        for name in ("late_fraction", "out_of_order", "duplicates"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                option = "--" + name.replace("_", "-")
                raise IngestOptionError(f"{option} must be a fraction between 0 and 1 (got {value:g})")
        if self.max_lateness_ms <= 0:
            raise IngestOptionError(f"--max-lateness must be above 0 (got {self.max_lateness_ms / 1000:g}s)")
        # A separate stream from the scenario's, so switching disorder on keeps the events the same.
        self._rng = np.random.default_rng([self.seed, 0xD15])

    @property
    def active(self) -> bool:
        return bool(self.late_fraction or self.out_of_order or self.duplicates)

    def apply(self, batch: EventBatch) -> EventBatch:
        """The batch in its send order, with late event times, moved rows and duplicates flagged."""
        n, rng = len(batch), self._rng
        late = np.zeros(n, dtype=bool)
        moved = np.zeros(n, dtype=bool)
        if not self.active or n == 0:
            return batch.with_flags(is_late=late, is_out_of_order=moved, is_duplicate=np.zeros(n, dtype=bool))
        if self.late_fraction:
            late = rng.random(n) < self.late_fraction
            low = min(_MIN_LATENESS_MS, self.max_lateness_ms // 2)
            event_time_ms = batch.event_time_ms
            if event_time_ms is None:
                raise IngestOptionError("--late-fraction makes events late, so it needs events with an event time")
            times = event_time_ms.copy()
            times[late] -= rng.integers(low, self.max_lateness_ms, int(late.sum()), endpoint=True)
            batch = batch.with_event_time(times)
        order = np.arange(n)
        if self.out_of_order:
            chosen = np.flatnonzero(rng.random(n) < self.out_of_order)
            order[chosen] = chosen[rng.permutation(len(chosen))]
            moved = order != np.arange(n)  # by send position; as rows: order[moved] are the moved ones
            moved_rows = np.zeros(n, dtype=bool)
            moved_rows[order[moved]] = True
            moved = moved_rows
        batch = batch.with_flags(is_late=late, is_out_of_order=moved, is_duplicate=np.zeros(n, dtype=bool))
        if not self.duplicates:
            return batch.take(order) if self.out_of_order else batch
        # A copy of the event at send position p goes to a random later position of the batch.
        copied = np.flatnonzero(rng.random(n) < self.duplicates)
        positions = np.concatenate(
            [np.arange(n, dtype=np.float64), copied + 0.5 + rng.random(len(copied)) * (n - 1 - copied)]
        )
        rows = np.concatenate([order, order[copied]])
        is_copy = np.concatenate([np.zeros(n, dtype=bool), np.ones(len(copied), dtype=bool)])
        send = np.argsort(positions, kind="stable")
        return batch.take(rows[send]).with_flags(is_duplicate=is_copy[send])


@dataclass(frozen=True)
class Spike:
    """The rate multiplied by ``factor`` from ``start_s`` for ``duration_s`` seconds (``10x@30s+5s``)."""

    factor: float
    start_s: float
    duration_s: float = 5.0

    _PATTERN: ClassVar[re.Pattern[str]] = re.compile(
        r"^\s*(\d+(?:\.\d+)?)x@(\d+(?:\.\d+)?)(ms|s|m)?(?:\+(\d+(?:\.\d+)?)(ms|s|m)?)?\s*$"
    )
    _UNITS: ClassVar[dict[str | None, float]] = {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}

    @classmethod
    def parse(cls, text: str) -> Spike:
        """``FACTORx@START[+DURATION]`` with times in s (default), ms or m: ``10x@30s``, ``3x@1m+20s``."""
        match = cls._PATTERN.match(text)
        if not match:
            raise IngestOptionError(
                f"--spike {text!r} is not FACTORx@START[+DURATION]",
                hint="for example --spike 10x@30s (10 times the rate from 30 s for 5 s) or --spike 3x@1m+20s",
            )
        factor, start, start_unit, duration, duration_unit = match.groups()
        spike = cls(
            float(factor),
            float(start) * cls._UNITS[start_unit],
            float(duration) * cls._UNITS[duration_unit] if duration else 5.0,
        )
        if spike.factor <= 0 or spike.duration_s <= 0:
            raise IngestOptionError(f"--spike {text!r}: the factor and the duration must be above 0")
        return spike


@dataclass(frozen=True)
class RateProfile:
    """Events per second over time: a base rate, multiplied during spikes. ``rate == 0``: unlimited."""

    rate: float
    spikes: tuple[Spike, ...] = ()

    def __post_init__(self) -> None:
        if self.rate < 0:
            raise IngestOptionError(f"--rate must be 0 (as fast as possible) or more (got {self.rate:g})")
        if self.spikes and self.rate == 0:
            raise IngestOptionError("--spike multiplies the rate, so it needs --rate above 0")

    @property
    def unlimited(self) -> bool:
        return self.rate == 0

    def rate_at(self, t: float) -> float:
        factor = 1.0
        for s in self.spikes:
            if s.start_s <= t < s.start_s + s.duration_s:
                factor *= s.factor
        return self.rate * factor

    def due(self, t: float) -> float:
        """Events due from 0 to ``t`` seconds: the integral of the rate."""
        if self.unlimited:
            return float("inf")
        edges = self._edges(t)
        return sum(self.rate_at(a) * (b - a) for a, b in itertools.pairwise(edges))

    def time_of(self, count: float) -> float:
        """The time at which ``count`` events are due (the inverse of :meth:`due`)."""
        if self.unlimited or count <= 0:
            return 0.0
        done, edges = 0.0, sorted({0.0, *(e for s in self.spikes for e in (s.start_s, s.start_s + s.duration_s))})
        for a, b in itertools.pairwise(edges):
            step = self.rate_at(a) * (b - a)
            if done + step >= count:
                return a + (count - done) / self.rate_at(a)
            done += step
        return edges[-1] + (count - done) / self.rate_at(edges[-1])

    def _edges(self, t: float) -> list[float]:
        inner = {e for s in self.spikes for e in (s.start_s, s.start_s + s.duration_s) if 0 < e < t}
        return [0.0, *sorted(inner), max(t, 0.0)]
