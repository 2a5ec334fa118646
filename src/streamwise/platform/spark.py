"""The SparkSession every streamwise pipeline runs in: local[*] by default, spark://... by config.

The jars the pyspark wheel lacks (Kafka source/sink, Avro, Delta, JDBC) come from the Maven cache,
not from Ivy at start-up, so a session starts offline once ``streamwise jars`` has run.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from streamwise.config import Settings
from streamwise.platform import jars
from streamwise.platform.java import require_java

if TYPE_CHECKING:
    from pyspark.sql import SparkSession  # pyspark loads once the driver Python is set, and only when a session starts


# The environment a JVM that runs Spark needs so that nothing of it listens beyond this machine.
LOOPBACK_ENV = {"SPARK_LOCAL_IP": "127.0.0.1"}

STATE_STORES = {
    "rocksdb": "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider",
    "hdfs": "org.apache.spark.sql.execution.streaming.state.HDFSBackedStateStoreProvider",
}


def spark_conf(settings: Settings, app_name: str) -> dict[str, str]:
    """Every Spark setting streamwise applies, as ``spark-submit --conf`` would take them."""
    spark = settings.spark
    return {
        "spark.app.name": app_name,
        "spark.master": spark.master,
        "spark.jars": ",".join(str(j) for j in jars.cached_jars(settings.cache, "spark")),
        "spark.driver.memory": spark.driver_memory,
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.shuffle.partitions": str(spark.shuffle_partitions),
        # Delta rebuilds table state with 50 tasks by default: pure overhead on a small local table.
        "spark.databricks.delta.snapshotPartitions": str(spark.shuffle_partitions),
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.enabled": str(spark.ui).lower(),
        "spark.ui.port": str(spark.ui_port),
        "spark.ui.showConsoleProgress": "false",
        # The driver's RPC and block manager listen here (executors of local[*] live in the same JVM).
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.driver.host": "127.0.0.1",
        "spark.local.dir": str(settings.state / "spark" / "tmp"),
        "spark.sql.warehouse.dir": str(settings.state / "spark" / "warehouse"),
        "spark.sql.streaming.stateStore.providerClass": STATE_STORES[spark.state_store],
    }


def spark_session(settings: Settings, app_name: str = "streamwise") -> SparkSession:
    """Create (or return the running) SparkSession configured for streamwise."""
    java = require_java()
    os.environ.setdefault("JAVA_HOME", str(java.resolve().parent.parent))
    # Executors' Python must be this interpreter, with streamwise importable.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    # Spark's web UI binds SPARK_LOCAL_IP, else every interface (WebUI.initServer: 0.0.0.0 or [::]);
    # spark.driver.bindAddress covers only the driver's RPC and block manager. The JVM pyspark launches
    # inherits this environment, so the UI listens on loopback even when the caller's variable said
    # otherwise: a job's UI shows its SQL, configs and environment, and can kill its jobs.
    os.environ.update(LOOPBACK_ENV)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    builder = SparkSession.builder
    for key, value in spark_conf(settings, app_name).items():
        builder = builder.config(key, value)
    (settings.state / "spark" / "tmp").mkdir(parents=True, exist_ok=True)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel(settings.spark.log_level)
    return session
