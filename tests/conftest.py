"""Shared fixtures. The real broker and Spark session start once per test session (see
tests/integration/conftest.py); unit tests need no services."""
