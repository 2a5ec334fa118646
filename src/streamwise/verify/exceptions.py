"""Errors ``verify`` raises."""

from __future__ import annotations

from streamwise.errors import StreamwiseError


class VerifyError(StreamwiseError):
    """The audit cannot be made: no ground truth, a pipeline whose output the truth cannot predict,
    or a sink that cannot be read."""
