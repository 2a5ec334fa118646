"""Web clickstream: page views by users, generated a batch at a time with numpy.

Page popularity follows a Zipf law; event times trail the wall clock by a small random delay, and a
seeded fraction arrives late by several seconds, so that watermarks have real work to do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TOPIC = "clickstream"


@dataclass(frozen=True)
class ClickstreamShape:
    """Knobs of the generated traffic."""

    users: int = 5_000
    pages: int = 200
    zipf_exponent: float = 1.2
    mean_delay_ms: float = 200.0
    late_fraction: float = 0.01
    max_lateness_ms: int = 15_000


@dataclass(frozen=True)
class PageViews:
    """A batch of page views as columns (one numpy array per field)."""

    user_id: np.ndarray
    page_id: np.ndarray
    event_time_ms: np.ndarray

    def __len__(self) -> int:
        return len(self.user_id)

    def records(self) -> list[tuple[bytes, bytes, int]]:
        """(key, JSON value, timestamp) per view; keyed by user so a user's views stay in order."""
        return [
            (b"u%d" % u, b'{"user_id":"u%d","page":"/page/%d","event_time":%d}' % (u, p, t), t)
            for u, p, t in zip(self.user_id.tolist(), self.page_id.tolist(), self.event_time_ms.tolist(), strict=True)
        ]


class ClickstreamGenerator:
    """Seeded source of page views; the same seed gives the same users, pages and delays."""

    def __init__(self, seed: int = 7, shape: ClickstreamShape | None = None) -> None:
        self.shape = shape or ClickstreamShape()
        self._rng = np.random.default_rng(seed)
        ranks = np.arange(1, self.shape.pages + 1, dtype=np.float64)
        weights = ranks ** -self.shape.zipf_exponent
        self._page_cdf = np.cumsum(weights / weights.sum())

    def batch(self, n: int, now_ms: int) -> PageViews:
        """``n`` page views that happened up to ``now_ms``."""
        rng, shape = self._rng, self.shape
        pages = np.searchsorted(self._page_cdf, rng.random(n), side="right").astype(np.int64)
        users = rng.integers(0, shape.users, n, dtype=np.int64)
        delay = rng.exponential(shape.mean_delay_ms, n).astype(np.int64)
        late = rng.random(n) < shape.late_fraction
        delay[late] += rng.integers(1_000, shape.max_lateness_ms, int(late.sum()), dtype=np.int64)
        return PageViews(users, np.minimum(pages, shape.pages - 1), now_ms - delay)
