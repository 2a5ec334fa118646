"""Finds pipeline files: a path, or the name of an example shipped in ``streamwise.examples`` (the
source tree's ``pipelines/`` links there)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from streamwise.pipeline.loader import SpecError

# Installed packages are folders on disk (never zipped here), so the examples are plain paths.
EXAMPLES = Path(str(resources.files("streamwise.examples")))


def example_names() -> list[str]:
    return sorted(p.stem for p in EXAMPLES.glob("*.yaml"))


def resolve(pipeline: str) -> Path:
    """``pipeline`` as a file path if it is one, else the example ``<pipeline>.yaml``."""
    path = Path(pipeline)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    example = EXAMPLES / f"{pipeline}.yaml"
    if example.is_file():
        return example
    raise SpecError(
        f"no pipeline file {pipeline!r} and no example of that name",
        hint=f"pass a .yaml path, or one of: {', '.join(example_names())}",
    )
