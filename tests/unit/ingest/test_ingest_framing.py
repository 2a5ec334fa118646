"""Avro values framed through the registry (a real one, served in a thread): the producer's schema is
registered once under <topic>-value, every value carries its id, and a registry that refuses or does
not answer is named in one clear error."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from registry_server import Registry

from streamwise.config import KafkaSettings
from streamwise.ingest.disorder import RateProfile
from streamwise.ingest.encoding import Encoder
from streamwise.ingest.exceptions import RegistrationError
from streamwise.ingest.framing import confluent_header
from streamwise.ingest.producer import EventProducer
from streamwise.ingest.run import produce
from streamwise.ingest.scenario import create
from streamwise.platform.ports import free_port
from streamwise.schemas import AvroDeserializer, RegistryClient


@pytest.fixture
def registry() -> Iterator[Registry]:
    with Registry() as running:
        yield running


def test_schema_registered_once_and_framed_into_every_value(registry: Registry) -> None:
    """Setup: the payments schema framed twice for one topic, then 200 events encoded with the header.
    Invariant: one version under <topic>-value, the same id both times; every value decodes with the
    registry's schema to the generated record."""
    schema = create("payments").schema
    header = confluent_header(registry.url, "payments", schema)
    assert confluent_header(registry.url, "payments", schema) == header
    with RegistryClient(registry.url) as client:
        assert client.versions("payments-value") == [1]
        schema_id = client.version("payments-value", 1).id
        assert header == b"\x00" + schema_id.to_bytes(4, "big")
        batch = create("payments", seed=1).batch(200, 1_767_225_600_000).data
        decoded = [AvroDeserializer(client.schema)(v) for v in Encoder(schema, "avro", header=header).encode(batch)]
    # fastavro reads timestamp-millis as a datetime; the batch holds epoch millis.
    assert [{**r, "event_time": round(r["event_time"].timestamp() * 1000)} for r in decoded] == batch.to_pylist()


def test_a_refused_schema_names_the_subject_and_the_field(registry: Registry) -> None:
    """Setup: payments registered, then a schema adding a field without a default (BACKWARD).
    Invariant: RegistrationError naming the registry, the subject, the 409 and the field."""
    schema = create("payments").schema
    confluent_header(registry.url, "pay", schema)
    breaking = {**schema, "fields": [*schema["fields"], {"name": "pin", "type": "string"}]}
    with pytest.raises(RegistrationError) as caught:
        confluent_header(registry.url, "pay", breaking)
    message = str(caught.value)
    assert (
        f"the schema registry at {registry.url} refused schema 'Payment' for subject pay-value (error 409)" in message
    )
    assert "field 'pin' was added without a default" in message and "streamwise schema check" in message


def test_produce_names_a_registry_that_does_not_answer() -> None:
    """Setup: produce Avro with a registry URL where nothing listens (and no broker either).
    Invariant: RegistrationError naming the URL and `streamwise registry start`, before any record."""
    url = f"http://127.0.0.1:{free_port()}"
    producer = EventProducer(KafkaSettings(port=free_port()), "payments", **{"message.timeout.ms": 1000})
    with pytest.raises(RegistrationError) as caught:
        produce(producer, create("payments"), pace=RateProfile(0), fmt="avro", count=10, registry=url)
    assert f"the schema registry at {url}, which does not answer" in str(caught.value)
    assert "streamwise registry start" in str(caught.value)
    assert producer.stats.queued == 0
