"""The clickstream generator: seeded, Zipf-shaped page popularity, user sessions, bounded lateness.

Lateness is injected by ``Disorder`` (shared by every scenario) rather than by the generator itself;
the JSON records keep the fields the clickstream pipeline reads.
"""

from __future__ import annotations

import json

import numpy as np

from streamwise.ingest.clickstream import ClickstreamGenerator, ClickstreamShape
from streamwise.ingest.disorder import Disorder
from streamwise.ingest.encoding import Encoder

NOW = 1_800_000_000_000


def test_same_seed_same_events() -> None:
    """Setup: three generators, seeds 3, 3 and 4, one batch each. Invariant: equal seeds, equal batches."""
    a = ClickstreamGenerator(seed=3).batch(1000, NOW)
    b = ClickstreamGenerator(seed=3).batch(1000, NOW)
    c = ClickstreamGenerator(seed=4).batch(1000, NOW)
    assert a.data.equals(b.data) and list(a.keys) == list(b.keys)
    assert not a.data.equals(c.data)


def test_page_popularity_follows_zipf() -> None:
    """Invariant: the log-log slope of frequency against rank estimates the configured exponent."""
    shape = ClickstreamShape(pages=100, zipf_exponent=1.2)
    views = ClickstreamGenerator(seed=1, shape=shape).batch(400_000, NOW)
    pages = views.data.column("page").indices.to_numpy()
    counts = np.sort(np.bincount(pages, minlength=shape.pages))[::-1]
    ranks = np.arange(1, 21)
    slope = np.polyfit(np.log(ranks), np.log(counts[:20]), 1)[0]
    assert abs(-slope - shape.zipf_exponent) < 0.05


def test_event_times_trail_now_and_late_fraction_holds() -> None:
    """Setup: 200k views, 5% made late by up to 10 s. Invariant: no event from the future, lateness
    bounded by 10 s plus the batch span, and the late share within binomial noise of 5%."""
    views = ClickstreamGenerator(seed=2).batch(200_000, NOW)
    late = Disorder(late_fraction=0.05, max_lateness_ms=10_000, seed=2).apply(views)
    delay = NOW - late.event_time_ms
    assert delay.min() >= 0
    assert delay.max() <= 10_000 + 100
    assert 0.045 < (delay >= 1_000).mean() < 0.055
    assert np.array_equal(late.flags["is_late"], delay >= 1_000)


def test_sessions_belong_to_one_user_and_last_the_mean_length() -> None:
    """Setup: 300 batches of 2,000 views from 1,000 concurrent sessions of mean 8 views.
    Invariant: a session has one user; new sessions appear at 1 per 8 views (within 3%)."""
    shape = ClickstreamShape(active_sessions=1_000, mean_session_views=8.0)
    generator = ClickstreamGenerator(seed=5, shape=shape)
    sessions, users = [], []
    for i in range(300):
        batch = generator.batch(2_000, NOW + i * 100)
        sessions.append(batch.data.column("session_id").to_numpy(zero_copy_only=False))
        users.append(batch.data.column("user_id").to_numpy(zero_copy_only=False))
    session, user = np.concatenate(sessions), np.concatenate(users)
    pairs = np.unique(np.stack([session, user], axis=1).astype(str), axis=0)
    assert len(pairs) == len(np.unique(session))
    started = len(np.unique(session)) - shape.active_sessions
    assert abs(started / len(session) - 1 / 8) < 0.03 / 8


def test_records_are_keyed_json_with_the_pipeline_fields() -> None:
    """Invariant: the key is the user; the JSON value has user_id, page and event_time (epoch ms)
    as the clickstream pipeline reads them, plus event_id and session_id."""
    generator = ClickstreamGenerator(seed=5)
    views = generator.batch(10, NOW)
    values = Encoder(generator.schema, "json").encode(views.data)
    for key, value, row in zip(views.keys, values, views.data.to_pylist(), strict=True):
        body = json.loads(value)
        assert key == row["user_id"].encode()
        assert body == row
        assert set(body) == {"event_id", "user_id", "session_id", "page", "event_time"}
        assert body["page"].startswith("/page/") and isinstance(body["event_time"], int)
