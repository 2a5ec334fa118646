"""R4 at CI size: fuzzed records of every kind mixed into valid events.

Full size (10,000 bad records): ``streamwise bench chaos``."""

from __future__ import annotations

from streamwise.bench.chaos_input import KINDS, bad_input
from streamwise.config import Settings


def test_r4_bad_records_are_dead_lettered_and_stop_nothing(
    kafka_broker, postgres, streamwise_settings: Settings
) -> None:
    """Setup: one broker, PostgreSQL; clickstream events at 1,000/s for ~30 s into a pass-through
    pipeline (Delta, transactional Kafka topic, PostgreSQL keyed by event_id) under the supervisor;
    1,300 bad records (100 of each of 13 kinds: garbage, invalid UTF-8, truncated JSON, a mistyped
    and a missing field, empty value, tombstone, null key, negative / overflowing / far-future event
    time, over the topic's size limit, a NUL byte PostgreSQL refuses) sent among them.
    Invariant: every valid event is in every sink exactly once (and the NUL records in Delta and
    Kafka, not PostgreSQL); every bad record is in a dead-letter topic exactly once with its kind's
    reason (the pipeline's, the producer's for oversize, the PostgreSQL sink's for NUL); no query
    ever stopped (no restart); the watermark did not pass the newest valid event time minus the delay."""
    result = bad_input(streamwise_settings, bad=100 * len(KINDS), rate=1_000, seconds=30, seed=4)
    extra = result.extra
    assert (extra["bad_sent"], extra["bad_lettered_once"], result.dead_lettered) == (1_300, 1_300, 1_300)
    assert (extra["dead_letters_with_wrong_reason"], extra["wrong_sample"]) == (0, [])
    assert (result.lost, result.duplicated) == (0, 0)
    valid = extra["valid_sent"]
    assert valid > 10_000
    assert result.consumed == {"delta": valid + 100, "kafka": valid + 100, "postgres": valid}
    assert extra["never_stopped"] and result.pipeline_restarts == 0
    assert extra["watermark_unmoved_by_bad"]
    assert result.ok, result.row()
