"""JVM artefacts (Kafka broker, Spark's Kafka/Avro connectors, Delta, JDBC) resolved by the machine's
``mvn`` from ``jvm/pom.xml`` into a cache folder, one sub-folder per pom profile. The tests' HDFS
(profile ``hdfs``) has a pom of its own, ``jvm/hdfs/pom.xml``, resolved only when a test asks for it.

The cache is keyed by a hash of the pom: an edited pom re-resolves, an unchanged one is reused
without starting Maven. Maven's own repository also lives in the cache, so that nothing is written
outside the project's folders.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import subprocess
from pathlib import Path

from streamwise.platform.exceptions import MavenError

log = logging.getLogger(__name__)

PROFILES = ("broker", "spark")
# Profiles outside jvm/pom.xml, by the pom (under jvm/) that holds them: each stamp is the hash of its
# own pom, so adding one here leaves every cached jar set of the others valid.
OTHER_POMS = {"hdfs": "hdfs/pom.xml"}
_STAMP = ".pom-sha256"
_VERSION_SUFFIX = re.compile(r"-\d[\w.\-]*\.jar$")


def pom_path(profile: str = "spark") -> Path:
    """The pom that pins ``profile``'s JVM artefacts (``jvm/pom.xml`` at the root of the source tree,
    or one of :data:`OTHER_POMS`)."""
    pom = Path(__file__).resolve().parents[3] / "jvm" / OTHER_POMS.get(profile, "pom.xml")
    if not pom.is_file():
        raise MavenError(f"{pom} is missing", hint="run streamwise from its source tree (pip install -e .)")
    return pom


def jar_dir(cache: Path, profile: str) -> Path:
    return cache / "jars" / profile


def cached_jars(cache: Path, profile: str) -> list[Path]:
    """The jars of ``profile`` in the cache, resolving them first if the cache is missing or stale."""
    target = jar_dir(cache, profile)
    digest = hashlib.sha256(pom_path(profile).read_bytes()).hexdigest()
    stamp = target / _STAMP
    if not (stamp.is_file() and stamp.read_text() == digest and any(target.glob("*.jar"))):
        _resolve(cache, profile, target)
        stamp.write_text(digest)
    return sorted(target.glob("*.jar"))


def ensure_all(cache: Path) -> dict[str, list[Path]]:
    """Resolve every profile (``streamwise jars``); returns the jars per profile."""
    return {profile: cached_jars(cache, profile) for profile in PROFILES}


def _resolve(cache: Path, profile: str, target: Path) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise MavenError(
            "Maven (`mvn`) is not on PATH; it fetches the Kafka, Spark-connector, Delta and JDBC jars",
            hint="install it (Debian: apt-get install maven) and run `streamwise jars` again",
        )
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    cmd = [
        mvn,
        "-B",
        "-q",
        "-f",
        str(pom_path(profile)),
        "-P",
        profile,
        f"-Dmaven.repo.local={cache / 'm2'}",
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={staging}",
    ]
    log.info("resolving %s jars with Maven (first run only)", profile)
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        errors = [line for line in (result.stdout + result.stderr).splitlines() if "ERROR" in line][:6]
        raise MavenError(
            f"mvn could not resolve the '{profile}' jars from {pom_path(profile)}:\n  "
            + "\n  ".join(errors or ["(no output)"]),
            hint="check that Maven Central is reachable (proxy in ~/.m2/settings.xml), then run `streamwise jars`",
        )
    if profile == "spark":
        _drop_what_pyspark_ships(staging)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)


def _drop_what_pyspark_ships(folder: Path) -> None:
    """Remove jars the pyspark wheel already has (hadoop, jackson, scala ...), whatever their version.

    Transitive dependencies of the connectors would otherwise put a second, older copy of Spark's
    own libraries on the driver's classpath.
    """
    import pyspark  # pyspark loads only to find its version: `streamwise jars` and the CLI start without it

    shipped = {_artifact(j) for j in (Path(pyspark.__file__).parent / "jars").glob("*.jar")}
    for jar in folder.glob("*.jar"):
        if _artifact(jar) in shipped:
            jar.unlink()


def _artifact(jar: Path) -> str:
    return _VERSION_SUFFIX.sub("", jar.name)
