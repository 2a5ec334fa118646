"""Finds pipeline files: a path, or the name of an example in the repository's ``pipelines/`` folder."""

from __future__ import annotations

from pathlib import Path

from streamwise.pipeline.loader import SpecError

EXAMPLES = Path(__file__).resolve().parents[3] / "pipelines"


def example_names() -> list[str]:
    return sorted(p.stem for p in EXAMPLES.glob("*.yaml"))


def resolve(pipeline: str) -> Path:
    """``pipeline`` as a file path if it is one, else ``pipelines/<pipeline>.yaml``."""
    path = Path(pipeline)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    example = EXAMPLES / f"{pipeline}.yaml"
    if example.is_file():
        return example
    raise SpecError(f"no pipeline file {pipeline!r} and no example of that name",
                    hint=f"pass a .yaml path, or one of: {', '.join(example_names())}")  # fmt: skip
