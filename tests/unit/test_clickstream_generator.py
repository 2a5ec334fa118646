"""The clickstream generator: seeded, Zipf-shaped page popularity, bounded delays and lateness."""

from __future__ import annotations

import json

import numpy as np

from streamwise.ingest.clickstream import ClickstreamGenerator, ClickstreamShape

NOW = 1_800_000_000_000


def test_same_seed_same_events() -> None:
    a = ClickstreamGenerator(seed=3).batch(1000, NOW)
    b = ClickstreamGenerator(seed=3).batch(1000, NOW)
    c = ClickstreamGenerator(seed=4).batch(1000, NOW)
    assert a.records() == b.records()
    assert a.records() != c.records()


def test_page_popularity_follows_zipf() -> None:
    """Invariant: the log-log slope of frequency against rank estimates the configured exponent."""
    shape = ClickstreamShape(pages=100, zipf_exponent=1.2)
    views = ClickstreamGenerator(seed=1, shape=shape).batch(400_000, NOW)
    counts = np.sort(np.bincount(views.page_id, minlength=shape.pages))[::-1]
    ranks = np.arange(1, 21)
    slope = np.polyfit(np.log(ranks), np.log(counts[:20]), 1)[0]
    assert abs(-slope - shape.zipf_exponent) < 0.05


def test_event_times_trail_now_and_late_fraction_holds() -> None:
    shape = ClickstreamShape(late_fraction=0.05, max_lateness_ms=10_000, mean_delay_ms=100)
    views = ClickstreamGenerator(seed=2, shape=shape).batch(200_000, NOW)
    delay = NOW - views.event_time_ms
    assert delay.min() >= 0
    assert delay.max() < 10_000 + 100 * 30
    late = (delay >= 1_000).mean()
    assert 0.045 < late < 0.056  # 5% injected, plus the exponential tail's own ~0.005%


def test_records_are_keyed_json_with_event_time() -> None:
    views = ClickstreamGenerator(seed=5).batch(10, NOW)
    for (key, value, ts), user, page, t in zip(views.records(), views.user_id, views.page_id, views.event_time_ms):
        body = json.loads(value)
        assert key == f"u{user}".encode()
        assert body == {"user_id": f"u{user}", "page": f"/page/{page}", "event_time": int(t)}
        assert ts == t
