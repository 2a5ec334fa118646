"""Shared fixtures. Unit tests need no services; integration and e2e tests use the real broker and
SparkSession from streamwise.testing (started once per session on free ports) — the fixtures users
get too. The JVM jar cache is the project's (.streamwise/cache), resolved once by ./dev."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("STREAMWISE_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".streamwise" / "cache"))
pytest_plugins = ["streamwise.testing.fixtures"]
