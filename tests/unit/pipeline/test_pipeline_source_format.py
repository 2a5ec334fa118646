"""A pipeline's Kafka source in JSON (a Spark DDL schema) or Avro (the registry's subject)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from streamwise.pipeline.exceptions import PipelineError
from streamwise.pipeline.loader import parse_pipeline
from streamwise.pipeline.spec import KafkaSource

AVRO_PIPELINE = """\
name: payments_avro
source:
  topic: payments
  format: avro
sinks:
  - type: console
"""


def test_avro_source_reads_the_topic_value_subject_by_default() -> None:
    """Setup: avro sources with and without a subject, from Python and from YAML. Invariant: the
    subject defaults to <topic>-value and no schema is needed; a named subject is kept."""
    assert KafkaSource(topic="payments", format="avro").subject == "payments-value"
    assert KafkaSource(topic="payments", format="avro", subject="cards").subject == "cards"
    spec = parse_pipeline(AVRO_PIPELINE)
    assert (spec.source.format, spec.source.subject, spec.source.schema_ddl) == ("avro", "payments-value", None)
    assert KafkaSource(topic="t", schema="a STRING").format == "json"  # JSON stays the default


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "a json source needs schema: the Spark DDL of its values"),
        ({"schema": "a STRING", "subject": "s"}, "subject applies to format: avro"),
        (
            {"format": "avro", "schema": "a STRING"},
            "an avro source reads its schema from the registry (subject t-value",
        ),
        ({"format": "protobuf"}, "Input should be 'json' or 'avro'"),
    ],
)
def test_a_source_that_does_not_fit_its_format_says_why(fields: dict[str, str], message: str) -> None:
    """Invariant: json needs a schema and takes no subject; avro takes no schema; other formats are refused."""
    with pytest.raises(ValidationError) as caught:
        KafkaSource(topic="t", **fields)
    assert message in str(caught.value)


def test_yaml_error_points_at_the_source() -> None:
    """Setup: a YAML pipeline whose json source has no schema. Invariant: SpecError at the source's line."""
    text = AVRO_PIPELINE.replace("  format: avro\n", "")
    with pytest.raises(PipelineError) as caught:
        parse_pipeline(text, source="p.yaml")
    assert "p.yaml:2: source: a json source needs schema" in str(caught.value)
