"""What a source bounds and requires by default: records per micro-batch, and keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from streamwise.config import load_settings
from streamwise.pipeline import example_names, load_pipeline, parse_pipeline, resolve
from streamwise.pipeline.plan import Pipeline
from streamwise.pipeline.spec import KafkaSource, PipelineSpec
from streamwise.sinks.config import KafkaSink

SOURCE = "source: {topic: clicks, schema: 'page STRING, event_time LONG'%s}"


def bound(tmp_path: Path, source: str, mode: str = "microbatch") -> int | None:
    """The maxOffsetsPerTrigger the plan gives Spark's Kafka reader for a pipeline with ``source``."""
    spec = parse_pipeline(f"name: p\nmode: {mode}\n{SOURCE % source}\nsinks: [{{type: kafka, topic: out}}]\n")
    return Pipeline(spec, load_settings(state_dir=tmp_path)).max_offsets_per_trigger


def test_the_reader_is_bounded_by_default(tmp_path: Path) -> None:
    """Setup: a source with no max_offsets_per_trigger, one with 5,000, one 'unbounded', and the
    default in mode: realtime. Invariant: the reader option is 100,000, 5,000, absent (None), and
    absent in real-time mode (Spark refuses it there)."""
    assert KafkaSource(topic="t", schema="a INT").max_offsets_per_trigger == 100_000
    assert bound(tmp_path, "") == 100_000
    assert bound(tmp_path, ", max_offsets_per_trigger: 5000") == 5_000
    assert bound(tmp_path, ", max_offsets_per_trigger: unbounded") is None
    assert bound(tmp_path, "", mode="realtime") is None


@pytest.mark.parametrize("value", [0, -1, "all", "100k"])
def test_a_bound_is_a_positive_count_or_unbounded(value: object) -> None:
    """Invariant: anything but a count ≥ 1 or 'unbounded' is refused when the spec is built."""
    with pytest.raises(ValidationError):
        KafkaSource(topic="t", schema="a INT", max_offsets_per_trigger=value)  # type: ignore[arg-type]


def test_keys_are_optional_by_default_and_required_by_every_example() -> None:
    """Invariant: a source accepts keyless records unless it says require_key; every bundled
    example says it (each generator keys every record)."""
    spec = PipelineSpec(
        name="p", source=KafkaSource(topic="t", schema="a INT"), sinks=[KafkaSink(type="kafka", topic="o")]
    )
    assert spec.source.require_key is False
    assert {name: load_pipeline(resolve(name)).source.require_key for name in example_names()} == dict.fromkeys(
        example_names(), True
    )
