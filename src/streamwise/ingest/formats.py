"""The record value formats (kept apart from the encoder so that the CLI can name them cheaply)."""

from __future__ import annotations

from enum import StrEnum


class Format(StrEnum):
    """How record values are written."""

    JSON = "json"
    AVRO = "avro"
