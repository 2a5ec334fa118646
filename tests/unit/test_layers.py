"""The import-layer contract in pyproject.toml ([tool.importlinter]) holds, and it can fail: the same
check over a copy of the package with one import against the flow must report that import."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from cli_process import REPO, child_env

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` over the package under ``root``/src, with ``root``'s pyproject.toml."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env=child_env(PYTHONPATH=str(root / "src")),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_package_keeps_its_layers() -> None:
    """Setup: the contract over this checkout. Invariant: kept, no import goes up the layers."""
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "streamwise layers follow the event's path KEPT" in result.stdout


def test_an_import_against_the_flow_breaks_the_contract(tmp_path: Path) -> None:
    """Setup: a copy of the package where config (the lowest layer but one) imports the pipeline
    inside a function, where a cycle would once have been hidden. Invariant: the contract is broken
    and the report names exactly that import."""
    shutil.copytree(
        REPO / "src" / "streamwise", tmp_path / "src" / "streamwise", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    config = tmp_path / "src" / "streamwise" / "config.py"
    config.write_text(
        config.read_text() + "\n\ndef _planted() -> None:\n    from streamwise.pipeline import spec  # noqa: F401\n"
    )

    result = lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "streamwise layers follow the event's path BROKEN" in result.stdout
    assert "streamwise.config -> streamwise.pipeline.spec" in result.stdout
