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


def confluent_header(registry: RegistryClient | str, topic: str, schema: dict[str, Any]) -> bytes:
    """Register ``schema`` under ``<topic>-value`` (an identical schema gets its existing id) and
    return the 5-byte header every value carries.

    ``registry`` is a client (``RegistryClient.from_settings``: the platform's registry with its
    credentials and CA) or a bare URL. RegistrationError when the registry does not answer or refuses
    the schema (incompatible with the subject's latest version under its compatibility level, or invalid).
    """
    subject = value_subject(topic)
    client = registry if isinstance(registry, RegistryClient) else RegistryClient(registry)
    try:
        schema_id = client.register(subject, json.dumps(schema))
    except RegistryUnavailableError:
        raise RegistrationError(
            f"--format avro registers the values' schema in the schema registry at {client.url}, which does not answer",
            hint="start it with `streamwise registry start` (or pass --registry URL, or produce --format json)",
        ) from None
    except RegistryError as exc:
        raise RegistrationError(
            f"the schema registry at {client.url} refused schema {schema.get('name')!r} for subject {subject} "
            f"(error {exc.code}): {exc.message}",
            hint=exc.hint
            or "make the schema compatible (see `streamwise schema check`), or produce to another --topic",
        ) from None
    finally:
        if client is not registry:
            client.close()
    return frame(schema_id, b"")
