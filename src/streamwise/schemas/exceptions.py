"""Errors raised by the schema registry, its clients, the compatibility rules and the wire format."""

from __future__ import annotations

from streamwise.errors import StreamwiseError


class SchemaError(StreamwiseError):
    """Something about a schema or the registry is not as it must be."""


class InvalidSchemaError(SchemaError):
    """A schema cannot be parsed (not JSON, not valid Avro, a default of the wrong type...)."""


class WireFormatError(SchemaError):
    """Bytes are not a Confluent wire-format record (magic byte 0, 4-byte schema id, body)."""


class RegistryError(SchemaError):
    """An error with a Confluent error code (40401, 42201, 409...), raised by the store or a client.

    ``status`` is the HTTP status: the first three digits of ``code``, as Confluent does.
    """

    def __init__(self, code: int, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.code = code

    @property
    def status(self) -> int:
        return int(str(self.code)[:3])


class RegistryUnavailableError(RegistryError):
    """The registry (or the Kafka topic behind it) could not be reached."""
