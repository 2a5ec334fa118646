"""Errors raised while generating, encoding or producing events."""

from __future__ import annotations

from streamwise.errors import StreamwiseError


class IngestError(StreamwiseError):
    """Events could not be generated or delivered."""


class DeliveryError(IngestError):
    """Kafka refused or failed to acknowledge some records (they were counted, not dropped silently)."""


class IngestOptionError(IngestError):
    """An option of ``produce`` (or of the Python API behind it) has a value or combination we cannot use."""


class UnknownScenarioError(IngestOptionError):
    """No scenario is registered under the name asked for."""


class EventSchemaError(IngestError):
    """The schema of the events being produced: an Avro schema file that is malformed, or a column
    with a type that cannot be mapped to Avro. (The registry's own errors are
    :class:`streamwise.schemas.exceptions.SchemaError`.)"""


class RegistrationError(IngestError):
    """The schema registry did not answer, or refused the schema of Avro values (``--format avro``)."""


class ReplayError(IngestError):
    """A file given to ``--from-file`` cannot be read or lacks a column it was asked to use."""
