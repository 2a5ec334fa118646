"""The Kubernetes image recipe (deploy/kubernetes/Dockerfile) stays in step with what streamwise pins:
no Docker engine runs here to build it, so its versions are checked against pyproject.toml."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "deploy" / "kubernetes" / "Dockerfile").read_text()
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_the_image_runs_the_spark_version_pyspark_is_pinned_to() -> None:
    pinned = next(d.split("==")[1] for d in PROJECT["dependencies"] if d.startswith("pyspark=="))
    assert re.search(r"^ARG SPARK_VERSION=(\S+)$", DOCKERFILE, re.M).group(1) == pinned  # type: ignore[union-attr]
    assert "FROM apache/spark:${SPARK_VERSION}-scala2.13-java17-ubuntu" in DOCKERFILE


def test_the_image_installs_the_wheel_the_documented_build_makes() -> None:
    """`pip wheel --no-deps -w dist .` names the wheel after the project's name and version."""
    wheel = f"{PROJECT['name']}-{PROJECT['version']}-py3-none-any.whl"
    copied = re.findall(r"^COPY dist/(\S+) /tmp/$", DOCKERFILE, re.M)
    assert copied == [wheel]
    assert f"pip install --no-cache-dir /tmp/{wheel}" in DOCKERFILE
    minimum = PROJECT["requires-python"].removeprefix(">=")
    assert f"python{minimum} -m venv /opt/streamwise" in DOCKERFILE  # the oldest Python streamwise takes
