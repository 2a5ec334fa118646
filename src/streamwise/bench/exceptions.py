"""Errors raised while running a benchmark."""

from __future__ import annotations

from streamwise.errors import StreamwiseError


class BenchError(StreamwiseError):
    """A benchmark could not run (or a baseline tool failed)."""
