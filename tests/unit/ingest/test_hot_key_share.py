"""The clickstream generator's hot key: ``hot_key_share`` of the views by user u0, nothing else changed."""

from __future__ import annotations

import numpy as np
import pytest

from streamwise.ingest import IngestOptionError, ProduceOptions, create, plan

NOW_MS = 1_800_000_000_000


def test_hot_key_share_sends_that_share_to_one_key() -> None:
    """Setup: 200,000 views with hot_key_share 0.5, and the default generator with the same seed.
    Invariant: u0's share is 0.5 within 4 standard deviations, every u0 view is keyed b'u0' and in
    session s-1; a share of 0 gives exactly the default events."""
    batch = create("clickstream", seed=3, hot_key_share=0.5).batch(200_000, NOW_MS)
    users = np.array(batch.data.column("user_id").to_pylist())
    hot = users == "u0"
    assert abs(hot.mean() - 0.5) < 4 * np.sqrt(0.25 / len(users))
    assert set(batch.keys[hot]) == {b"u0"}
    assert set(np.array(batch.data.column("session_id").to_pylist())[hot]) <= {"s-1", *{f"s{i}" for i in range(10**6)}}
    assert (np.array(batch.data.column("session_id").to_pylist())[hot] == "s-1").mean() > 0.99
    plain = create("clickstream", seed=3).batch(1000, NOW_MS)
    assert create("clickstream", seed=3, hot_key_share=0.0).batch(1000, NOW_MS).data.equals(plain.data)


def test_hot_key_share_option_is_checked() -> None:
    assert plan(ProduceOptions(scenario="clickstream", hot_key_share=0.5)).source.shape.hot_key_share == 0.5
    with pytest.raises(IngestOptionError, match="applies to the clickstream scenario, not payments"):
        plan(ProduceOptions(scenario="payments", hot_key_share=0.5))
    with pytest.raises(IngestOptionError, match="from 0 to 1"):
        plan(ProduceOptions(scenario="clickstream", hot_key_share=1.5))
