"""R1 and R2 at CI size: a broker node, then the driver, killed while events flow.

Full size (3 minutes each, 20,000 events/s for R1): ``streamwise bench chaos``."""

from __future__ import annotations

from streamwise.bench.chaos import broker_kills, driver_kills
from streamwise.config import Settings
from streamwise.platform.kafka import KafkaCluster
from streamwise.platform.process import Service


def test_r1_broker_kills_lose_and_duplicate_nothing(kafka_cluster: KafkaCluster, cluster_settings: Settings) -> None:
    """Setup: the cluster profile (three nodes, replication 3, min.insync.replicas 2); clickstream
    events at 2,000/s for 45 s into a pass-through pipeline (Delta + transactional Kafka topic) run
    under the supervisor; a random node SIGKILLed every 15 s (twice) and restarted 3 s later.
    Invariant: the producer has every record acknowledged; after a drain, each sink holds every
    acknowledged record exactly once (verify: 0 lost, 0 duplicated); every node rejoined in sync."""
    result = broker_kills(cluster_settings, duration_s=45, rate=2_000, every_s=15, down_s=3, seed=1)
    assert result.faults == 2
    assert result.sent == result.acknowledged > 50_000
    assert result.consumed == {sink: result.acknowledged for sink in result.consumed} and len(result.consumed) == 2
    assert (result.lost, result.duplicated, result.dead_lettered) == (0, 0, 0)
    assert kafka_cluster.under_replicated() == []
    assert result.ok, result.row()


def test_r2_driver_kills_lose_and_duplicate_nothing(kafka_broker, streamwise_settings: Settings) -> None:
    """Setup: one broker; clickstream events at 2,000/s into the pass-through pipeline under the
    supervisor; the driver and its JVM SIGKILLed twice, each time 1-5 s after it (first started, or
    restarted) committed a batch; events flow until 5 s after the last restart committed one.
    Invariant: the supervisor restarted it each time (2 restarts recorded) and each restart
    committed a batch; after a drain every sink holds every acknowledged record exactly once."""
    result = driver_kills(streamwise_settings, rate=2_000, kills=2, within_s=5, seed=2)
    assert (result.faults, result.pipeline_restarts) == (2, 2)
    assert result.sent == result.acknowledged > 10_000
    assert result.consumed == {sink: result.acknowledged for sink in result.consumed} and len(result.consumed) == 2
    assert (result.lost, result.duplicated) == (0, 0)
    assert not Service("pipeline", streamwise_settings.state).status().running
    assert result.ok, result.row()
