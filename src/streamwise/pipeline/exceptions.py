"""Errors raised while building or running a pipeline."""

from __future__ import annotations

from streamwise.errors import StreamwiseError


class PipelineError(StreamwiseError):
    """A pipeline could not be built or a query failed."""


class ForgottenBatchError(PipelineError):
    """The checkpoint no longer holds a batch's offsets (Spark keeps the last 100 batches)."""
