"""The root of every error streamwise raises on purpose.

Each package derives its own types from :class:`StreamwiseError`; the CLI prints any of them as one
red line (what happened, where, what to do) and exits non-zero, without a traceback.

The lowest layer: it imports nothing of streamwise.
"""

from __future__ import annotations


class StreamwiseError(Exception):
    """An expected failure with a message a user can act on.

    ``hint`` says what to do about it; it is printed after the message.
    """

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}; {self.hint}" if self.hint else self.message


class ConfigError(StreamwiseError):
    """A setting or option has a value streamwise cannot use."""
