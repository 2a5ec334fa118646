"""Errors the sinks raise. A failed write fails the micro-batch, so Spark replays it on restart."""

from __future__ import annotations

from streamwise.errors import StreamwiseError


class SinkError(StreamwiseError):
    """A sink could not take a micro-batch."""


class SinkUnavailableError(SinkError):
    """The sink stayed unreachable through every retry; the batch is not committed anywhere."""


class SinkDataError(SinkError):
    """The batch does not fit the sink (a missing column, two rows for one key); retrying cannot help."""
