"""Schemas: a Confluent-compatible registry, Avro compatibility rules and the wire format.

- :func:`start_registry` / :func:`stop_registry` run the registry (``streamwise registry start``);
  :func:`create_app` and :class:`SchemaStore` are its REST API and state. Hardened by default (JSON
  bodies only, a size limit, a Host allow-list, no cross-site writes); with ``RegistrySettings``'
  TLS files it serves HTTPS, with ``users_dir`` writes need basic auth (:func:`password_file`).
- :class:`RegistryClient` (``RegistryClient.from_settings``) calls it with the credentials and CA of
  ``RegistrySettings.client_config``, which confluent-kafka's ``SchemaRegistryClient`` takes as is.
- :func:`check_compatibility` and :func:`incompatibilities` apply Avro's reader/writer rules.
- :class:`AvroSerializer` / :class:`AvroDeserializer` frame records as magic byte + id + body.

Owns the registry and the wire format; decoding records in Spark is the pipeline's
(:mod:`streamwise.pipeline.avro`). May import platform (to run the registry as a service) and
config; ``ingest`` and everything above it import schemas.
"""

from streamwise.schemas.access import password_file
from streamwise.schemas.app import create_app
from streamwise.schemas.avro import AvroSchema, parse_avro
from streamwise.schemas.client import CheckResult, RegistryClient
from streamwise.schemas.compat import (
    Compatibility,
    CompatibilityResult,
    FieldChange,
    Incompatibility,
    can_read,
    check_compatibility,
    diff_fields,
    incompatibilities,
)
from streamwise.schemas.exceptions import (
    InvalidSchemaError,
    RegistryError,
    RegistryUnavailableError,
    SchemaError,
    WireFormatError,
)
from streamwise.schemas.service import RegistryStatus, registry_status, start_registry, stop_registry
from streamwise.schemas.store import MemoryLog, RegisteredSchema, SchemaStore
from streamwise.schemas.wire import AvroDeserializer, AvroSerializer, frame, unframe

__all__ = [
    "AvroDeserializer",
    "AvroSchema",
    "AvroSerializer",
    "CheckResult",
    "Compatibility",
    "CompatibilityResult",
    "FieldChange",
    "Incompatibility",
    "InvalidSchemaError",
    "MemoryLog",
    "RegisteredSchema",
    "RegistryClient",
    "RegistryError",
    "RegistryStatus",
    "RegistryUnavailableError",
    "SchemaError",
    "SchemaStore",
    "WireFormatError",
    "can_read",
    "check_compatibility",
    "create_app",
    "diff_fields",
    "frame",
    "incompatibilities",
    "parse_avro",
    "password_file",
    "registry_status",
    "start_registry",
    "stop_registry",
    "unframe",
]
