"""Chaos drills (streamwise.bench.chaos) at CI size: each on a platform of its own, so a killed node
or driver never disturbs another test."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/chaos" in str(item.fspath):
            item.add_marker(pytest.mark.chaos)
