"""Errors the dashboard raises on purpose (each a StreamwiseError: one red line in the CLI)."""

from __future__ import annotations

from streamwise.errors import StreamwiseError


class DashboardError(StreamwiseError):
    """The dashboard cannot serve: its page is missing, or its settings cannot be used."""
