"""Errors raised while building or running a pipeline."""

from __future__ import annotations

from streamwise.errors import StreamwiseError


class PipelineError(StreamwiseError):
    """A pipeline could not be built or a query failed."""
