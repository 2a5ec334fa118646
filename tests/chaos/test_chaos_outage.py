"""R3 at test size: PostgreSQL, then Redis, stopped while events flow.

Full size (30 s down each, 500 events/s by default): ``streamwise.bench.chaos_outage.sink_outage``."""

from __future__ import annotations

import pytest

from streamwise.bench.chaos_outage import sink_outage
from streamwise.config import Settings
from streamwise.platform.services import PostgresServer, RedisServer


@pytest.mark.slow
def test_r3_sink_outages_are_waited_out_exactly(
    kafka_broker, postgres: PostgresServer, redis_server: RedisServer, streamwise_settings: Settings
) -> None:
    """Setup: one broker; clickstream events at 300/s into a pass-through pipeline under the
    supervisor with three sinks: PostgreSQL keyed by event_id, Redis hashes per event_id, Delta.
    5 s after the first batch, once the pipeline has caught up, PostgreSQL is stopped for 10 s and
    started; 5 s after the pipeline committed again and once it has caught up, Redis the same way;
    events flow 5 s more; the pipeline catches up and is stopped.
    Invariant: both stores' outages reached their sinks (failed attempts logged for each), and the
    sinks' default retries outlast them, so the driver never failed (0 restarts); each store's
    restart was followed by a committed batch and a catch-up; every sink holds every acknowledged
    event exactly once (0 lost, 0 duplicated, 0 dead-lettered); both stores run at the end."""
    result = sink_outage(streamwise_settings, down_s=10, rate=300, warmup_s=5, gap_s=5, after_s=5)
    assert (result.faults, len(result.recovery_s), len(result.extra["store_catch_up_s"])) == (2, 2, 2)
    assert result.extra["postgres_retries"] > 0 and result.extra["redis_retries"] > 0
    assert result.pipeline_restarts == 0
    assert result.sent == result.acknowledged > 35 * 300
    assert result.consumed == {sink: result.acknowledged for sink in result.consumed} and len(result.consumed) == 3
    assert (result.lost, result.duplicated, result.dead_lettered) == (0, 0, 0)
    assert postgres.answers() and redis_server.answers()
