"""The SparkSession every streamwise pipeline runs in: local[*] by default, any cluster by config.

The jars the pyspark wheel lacks (Kafka source/sink, Avro, Delta, JDBC) come from the Maven cache,
not from Ivy at start-up, so a session starts offline once ``streamwise jars`` has run. On a cluster
(``spark.master`` not ``local``) nothing is copied by hand: the jars go by ``spark.jars`` (executors
fetch them from the driver), and streamwise's own code, which executors' Python runs for pandas
steps (``anomaly``), by a zip of the installed package added with ``addPyFile``.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from streamwise.config import Settings
from streamwise.platform import jars
from streamwise.platform.java import require_java
from streamwise.platform.ports import check_bind

if TYPE_CHECKING:
    from pyspark.sql import SparkSession  # pyspark loads once the driver Python is set, and only when a session starts


# The environment a JVM that runs Spark needs so that nothing of it listens beyond this machine.
LOOPBACK_ENV = {"SPARK_LOCAL_IP": "127.0.0.1"}

STATE_STORES = {
    "rocksdb": "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider",
    "hdfs": "org.apache.spark.sql.execution.streaming.state.HDFSBackedStateStoreProvider",
}

# streamwise's own package: what executors' Python imports to run a pandas step.
PACKAGE = Path(__file__).resolve().parents[1]


def spark_conf(settings: Settings, app_name: str) -> dict[str, str]:
    """Every Spark setting streamwise applies, as ``spark-submit --conf`` would take them.

    Every path is absolute (the state folder is resolved): executors run in working folders of
    their own, and must find the same warehouse and checkpoints."""
    spark = settings.spark
    conf = {
        "spark.app.name": app_name,
        "spark.master": spark.master,
        # Local paths: the driver serves them, and a cluster's executors fetch them from it.
        "spark.jars": ",".join(str(j.resolve()) for j in jars.cached_jars(settings.cache, "spark")),
        "spark.driver.memory": spark.driver_memory,
        "spark.executor.cores": str(spark.executor_cores),
        "spark.executor.memory": spark.executor_memory,
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.shuffle.partitions": str(spark.shuffle_partitions),
        # Delta rebuilds table state with 50 tasks by default: pure overhead on a small local table.
        "spark.databricks.delta.snapshotPartitions": str(spark.shuffle_partitions),
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.enabled": str(spark.ui).lower(),
        "spark.ui.port": str(spark.ui_port),
        "spark.ui.showConsoleProgress": "false",
        # The driver's RPC and block manager listen here (executors of local[*] live in the same JVM);
        # a cluster's executors connect to driver_host.
        "spark.driver.bindAddress": spark.driver_bind_address,
        "spark.driver.host": spark.driver_host,
        "spark.local.dir": str(settings.state / "spark" / "tmp"),
        "spark.sql.warehouse.dir": str(settings.state / "spark" / "warehouse"),
        "spark.sql.streaming.stateStore.providerClass": STATE_STORES[spark.state_store],
    }
    if spark.cores_max is not None:
        conf["spark.cores.max"] = str(spark.cores_max)
    return conf | spark.conf  # the user's own settings last: they may override any of the above


def spark_session(settings: Settings, app_name: str = "streamwise") -> SparkSession:
    """Create (or return the running) SparkSession configured for streamwise."""
    conf = spark_conf(settings, app_name)
    check_bind(
        conf["spark.driver.bindAddress"],  # spark.conf may set it too
        "the Spark driver (RPC, block manager)",
        settings,
        setting="spark.driver_bind_address",
        profile_protects=False,
    )
    java = require_java()
    os.environ.setdefault("JAVA_HOME", str(java.resolve().parent.parent))
    # Executors' Python must be this interpreter, with streamwise importable (or the one named).
    if settings.spark.executor_python:
        os.environ["PYSPARK_PYTHON"] = settings.spark.executor_python
    else:
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    # Spark's web UI binds SPARK_LOCAL_IP, else every interface (WebUI.initServer: 0.0.0.0 or [::]);
    # spark.driver.bindAddress covers only the driver's RPC and block manager. The JVM pyspark launches
    # inherits this environment, so the UI listens on loopback even when the caller's variable said
    # otherwise: a job's UI shows its SQL, configs and environment, and can kill its jobs.
    os.environ.update(LOOPBACK_ENV)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    builder = SparkSession.builder
    for key, value in conf.items():
        builder = builder.config(key, value)
    (settings.state / "spark" / "tmp").mkdir(parents=True, exist_ok=True)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel(settings.spark.log_level)
    if not settings.spark.local:
        ship_package(session, settings)
    return session


def ship_package(session: SparkSession, settings: Settings) -> Path:
    """Add streamwise's code to every executor's Python path (once per session); return the zip."""
    archive = package_zip(settings.state / "spark" / "pyfiles")
    context = session.sparkContext
    if archive.name not in getattr(context, "_python_includes", []):
        context.addPyFile(str(archive))
    return archive


def package_zip(folder: Path, package: Path = PACKAGE) -> Path:
    """``folder/<name>-<digest>.zip`` holding ``package`` (its sources and data files, no caches),
    made unless a zip of exactly these files is there. The digest names the content, so a session
    never ships a stale copy, and a running one keeps the zip it added."""
    files = sorted(p for p in package.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    target = folder / f"{package.name}-{digest.hexdigest()[:16]}.zip"
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    # Written beside and renamed into place: two drivers starting at once never read half a zip.
    fd, partial = tempfile.mkstemp(dir=folder, suffix=".partial")
    os.close(fd)
    try:
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in files:
                archive.write(path, f"{package.name}/{path.relative_to(package).as_posix()}")
        os.replace(partial, target)
    finally:
        Path(partial).unlink(missing_ok=True)
    return target
