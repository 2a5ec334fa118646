"""Secret files are born 0600 under a 0700 folder and refuse to be read once widened."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from streamwise.errors import ConfigError
from streamwise.secret_files import ensure_secret, read_secret, write_secret


def test_a_secret_is_created_private_and_read_back(tmp_path: Path) -> None:
    """Setup: a secret written into a folder that does not exist yet, under a permissive umask.
    Invariant: the file is 0600 and the folder 0700 whatever the umask, and it reads back."""
    old = os.umask(0o022)
    try:
        path = write_secret(tmp_path / "sec" / "pw", "hunter2\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert read_secret(path).get_secret_value() == "hunter2"
    assert [p.name for p in path.parent.iterdir()] == ["pw"]  # no temporary file left behind


def test_ensure_makes_one_random_secret_and_keeps_it(tmp_path: Path) -> None:
    """Invariant: the first call makes a random secret; the next returns the same one; two files differ."""
    first = ensure_secret(tmp_path / "a").get_secret_value()
    assert ensure_secret(tmp_path / "a").get_secret_value() == first
    assert ensure_secret(tmp_path / "b").get_secret_value() != first
    assert len(first) >= 32


def test_a_widened_or_missing_secret_is_refused(tmp_path: Path) -> None:
    """Invariant: a secret readable by others is refused as leaked; a missing one says how to make it."""
    path = write_secret(tmp_path / "pw", "x")
    path.chmod(0o644)
    with pytest.raises(ConfigError, match=r"readable by others \(mode 644\)"):
        read_secret(path)
    with pytest.raises(ConfigError, match="does not exist"):
        read_secret(tmp_path / "nope")
