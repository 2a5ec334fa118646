"""One partition's throughput measured on the real broker, as ``topics plan`` measures it."""

from __future__ import annotations

from streamwise.config import Settings
from streamwise.ingest.producer import PRODUCER_DEFAULTS
from streamwise.platform.partitions import measure_partition_throughput
from streamwise.platform.topics import list_topics


def test_measurement_reads_back_every_record_and_leaves_no_topic(settings: Settings, broker) -> None:
    """Setup: a short measurement (0.3 s of producing 64-byte records with the project's producer
    settings) on the session's broker.
    Invariant: it sent whole chunks of 10,000 records, read every one back (it raises otherwise),
    reports both rates, and deletes its topic."""
    measured = measure_partition_throughput(settings.kafka, dict(PRODUCER_DEFAULTS), record_bytes=64, seconds=0.3)
    assert measured.records >= 10_000 and measured.records % 10_000 == 0
    assert measured.produce_events_per_s > 0 and measured.consume_events_per_s > 0
    assert measured.record_bytes == 64 and measured.bootstrap_servers == settings.kafka.bootstrap
    assert not [t for t in list_topics(settings.kafka) if t.startswith("streamwise.partition-plan.")]
