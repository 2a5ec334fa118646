"""Finds the Java runtime the broker and Spark need (17 or newer)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

from streamwise.platform.exceptions import JavaNotFoundError

MIN_JAVA = 17
_INSTALL_HINT = "install a JDK 17+ (Debian: apt-get install openjdk-17-jre-headless) or set JAVA_HOME to one"


def find_java() -> Path:
    """The ``java`` executable: ``$JAVA_HOME/bin/java`` if set, else the one on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home:
        candidate = Path(home) / "bin" / "java"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
        raise JavaNotFoundError(f"JAVA_HOME is {home}, but {candidate} is not an executable", hint=_INSTALL_HINT)
    found = shutil.which("java")
    if not found:
        raise JavaNotFoundError("Java was not found: no JAVA_HOME and no `java` on PATH", hint=_INSTALL_HINT)
    return Path(found)


@lru_cache(maxsize=4)
def java_major_version(java: Path) -> int:
    """The major version ``java -version`` reports (17 for '17.0.15', 8 for '1.8.0_402')."""
    out = subprocess.run([str(java), "-version"], capture_output=True, text=True, check=False)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        raise JavaNotFoundError(f"could not read the version of {java}: {out.stderr.strip()[:200]}", hint=_INSTALL_HINT)
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def require_java() -> Path:
    """The java executable, checked to be new enough for Kafka 4 and Spark 4."""
    java = find_java()
    major = java_major_version(java)
    if major < MIN_JAVA:
        raise JavaNotFoundError(
            f"{java} is Java {major}; Kafka 4 and Spark 4 need Java {MIN_JAVA}+", hint=_INSTALL_HINT
        )
    return java
