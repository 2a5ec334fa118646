"""Errors raised while producing events."""

from __future__ import annotations

from streamwise.errors import StreamwiseError


class IngestError(StreamwiseError):
    """Events could not be generated or delivered."""


class DeliveryError(IngestError):
    """Kafka refused or failed to acknowledge some records (they were counted, not dropped silently)."""
