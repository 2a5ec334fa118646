"""Avro values in the Confluent wire format: the producer's schema is registered once per run under
``<topic>-value`` and its id framed into every record (magic byte 0, 4-byte id, body).

The registry and the wire format belong to :mod:`streamwise.schemas`; this module only asks the
registry for an id and turns registry failures into errors that name the produce options.
"""

from __future__ import annotations

import json
from typing import Any

from streamwise.ingest.exceptions import RegistrationError
from streamwise.schemas.client import RegistryClient
from streamwise.schemas.exceptions import RegistryError, RegistryUnavailableError
from streamwise.schemas.wire import frame


def value_subject(topic: str) -> str:
    """The subject of ``topic``'s values under Confluent's default TopicNameStrategy."""
    return f"{topic}-value"


def confluent_header(registry_url: str, topic: str, schema: dict[str, Any]) -> bytes:
    """Register ``schema`` under ``<topic>-value`` (an identical schema gets its existing id) and
    return the 5-byte header every value carries.

    RegistrationError when the registry does not answer or refuses the schema (incompatible with
    the subject's latest version under its compatibility level, or invalid).
    """
    subject = value_subject(topic)
    try:
        with RegistryClient(registry_url) as client:
            schema_id = client.register(subject, json.dumps(schema))
    except RegistryUnavailableError:
        raise RegistrationError(
            f"--format avro registers the values' schema in the schema registry at {registry_url}, which does not answer",
            hint="start it with `streamwise registry start` (or pass --registry URL, or produce --format json)",
        ) from None
    except RegistryError as exc:
        raise RegistrationError(
            f"the schema registry at {registry_url} refused schema {schema.get('name')!r} for subject {subject} "
            f"(error {exc.code}): {exc.message}",
            hint="make the schema compatible (see `streamwise schema check`), or produce to another --topic",
        ) from None
    return frame(schema_id, b"")
