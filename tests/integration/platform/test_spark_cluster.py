"""The same pipeline on ``local[2]`` and on a Spark standalone cluster of two workers (``cluster up
--workers 2``, the ``spark_cluster`` fixture), both reading the three-node Kafka of the cluster profile
(``kafka_cluster``): the same Delta rows, also when a worker is SIGKILLed in the middle of a run. That is
the whole distributed deployment, on one machine.

A process holds one SparkContext, and the test session's own (``spark``) is local: every run on the
cluster is a child process, ``streamwise run FILE --once`` with the cluster's master in its
environment, as a user runs it. The worker-kill drills are ``streamwise bench cluster``'s own."""

from __future__ import annotations

from pathlib import Path

import httpx
import pandas as pd
import pytest
import yaml
from cli_process import child_env, run_streamwise
from clickstream_model import PHASE_1, PHASE_2, clickstream_on, delta_windows, expected_windows, produce

from streamwise.bench.cluster import DRILLS, run_drill
from streamwise.config import Settings
from streamwise.pipeline import await_queries, resolve
from streamwise.pipeline.plan import Pipeline
from streamwise.pipeline.spec import PipelineSpec
from streamwise.platform.cluster import SparkCluster
from streamwise.platform.topics import create_topic, describe_topic

RUN_TIMEOUT_S = 300  # a bound for one run --once on a busy machine, never expected to be reached


@pytest.fixture(scope="session")
def distributed(spark_cluster_settings: Settings, cluster_settings: Settings, kafka_cluster) -> Settings:
    """The Spark cluster's settings on the three-node Kafka (replication 3, min.insync.replicas 2):
    drivers started with them run on the Spark cluster and read and write the three brokers."""
    assert len(cluster_settings.kafka.bootstrap.split(",")) == 3
    return spark_cluster_settings.model_copy(update={"kafka": cluster_settings.kafka})


def test_cluster_up_serves_two_workers_on_loopback(spark_cluster: SparkCluster, spark_cluster_settings) -> None:
    """Setup: the session's cluster (a master and two workers of 1 core, 1 GiB).
    Invariants: the master's JSON status lists exactly the two workers, ALIVE, on the loopback
    ports the settings give worker 1 and 2, each offering 1 core and 1024 MiB; status() agrees and
    numbers them 1 and 2; the REST submission server (which runs any jar unauthenticated) is off;
    `streamwise cluster status` shows both and exits 0."""
    spark = spark_cluster.spark
    status = spark_cluster.status()
    assert status.alive and status.serving
    assert sorted((w.address, w.state, w.cores, w.memory_mb) for w in status.alive_workers) == [
        (f"127.0.0.1:{spark.worker_port}", "ALIVE", 1, 1024),
        (f"127.0.0.1:{spark.worker_port + 1}", "ALIVE", 1, 1024),
    ]
    assert sorted(status.number(w) for w in status.alive_workers) == [1, 2]
    assert [w.running for w in status.workers] == [True, True]
    body = spark_cluster.master_json()
    assert body is not None and body["url"] == f"spark://127.0.0.1:{spark.master_port}"
    assert "Started REST server" not in spark_cluster.master.log_file.read_text()
    shown = run_streamwise(child_env(spark_cluster_settings), "cluster", "status")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    for number, port in ((1, spark.worker_port), (2, spark.worker_port + 1)):
        assert f"│ {number}      │ 127.0.0.1:{port} │ ALIVE │" in shown.stdout


def test_clickstream_on_the_cluster_writes_exactly_the_rows_of_local(
    spark, distributed: Settings, spark_cluster: SparkCluster, topic_name: str, tmp_path
) -> None:
    """Setup: the clickstream model's two phases (out of order, then late) produced into one
    partition of a topic replicated on the three Kafka nodes, each phase followed by one run of the
    shipped clickstream pipeline on the session's local[2] Spark and one `streamwise run FILE --once`
    with STREAMWISE_SPARK_MASTER set to the cluster's master and the three brokers as bootstrap
    servers (the second phase starts behind the first one's watermark); each pipeline with its own
    name, checkpoint and Delta table.
    Invariants: the topic has three in-sync replicas; after each phase both tables hold exactly the
    windows the pandas model computes, so exactly the same rows; each cluster run was an application
    of the master's, and both workers ran an executor of it (its work folder for the application)."""
    settings = distributed
    create_topic(settings.kafka, topic_name, partitions=1)
    assert [sorted(p.isr) for p in describe_topic(settings.kafka, topic_name).partitions] == [[1, 2, 3]]
    create_topic(settings.kafka, f"{topic_name}.dlq", partitions=1)
    local = Pipeline(clickstream_on(topic_name), settings)
    name = f"{topic_name}_cluster"
    on_cluster = Pipeline(_renamed(clickstream_on(topic_name), name), settings)
    path = tmp_path / "clickstream.yaml"
    raw = yaml.safe_load(resolve("clickstream").read_text())  # the example file, as shipped but for its names
    raw["name"], raw["source"]["topic"], raw["sinks"][0]["path"] = name, topic_name, f"{name}/page_view_counts"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))

    phases: list[list[tuple[str, int]]] = []
    for phase in (PHASE_1, PHASE_2):
        produce(settings, topic_name, phase)
        phases.append(phase)
        await_queries(local.start(spark, once=True))
        run = run_streamwise(child_env(settings), "run", str(path), "--once", timeout=RUN_TIMEOUT_S)
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
        expected = expected_windows(phases)
        pd.testing.assert_frame_equal(delta_windows(spark, local), expected, check_dtype=False)
        pd.testing.assert_frame_equal(delta_windows(spark, on_cluster), expected, check_dtype=False)

    apps = httpx.get(f"{spark_cluster.ui_url}/json/", timeout=10).json()["completedapps"]
    ran = [a["id"] for a in apps if a["name"] == f"streamwise-{name}"]
    assert len(ran) == 2, apps
    assert [(spark_cluster.worker_home(i) / "work" / app).is_dir() for app in ran for i in (1, 2)] == [True] * 4


@pytest.mark.slow
@pytest.mark.parametrize("drill", ["clickstream", "iot_anomalies"])
def test_a_worker_killed_mid_run_leaves_exactly_the_rows_of_local(
    spark_cluster: SparkCluster,
    distributed: Settings,
    topic_name: str,
    tmp_path: Path,
    drill: str,
) -> None:
    """Setup: ``bench cluster``'s drill, on the three Kafka nodes: the example pipeline (clickstream: 20,000 events, 2,000 a
    batch; iot_anomalies: 6,000 readings of 60 sensors, 600 a batch, every reading emitted with its
    baseline from per-sensor state) run with `run FILE --once` on local[2], then on the cluster, where
    worker 1 is SIGKILLed with its executor once 2 batches have committed; the worker is started again
    afterwards. Invariants: the cluster run exits 0 and commits batches after the kill; the driver's
    REST API shows the killed worker's executor lost; its Delta rows equal local[2]'s exactly."""
    result = run_drill(distributed, spark_cluster, DRILLS[drill], topic=topic_name, folder=tmp_path)
    print(f"worker-kill drill {drill}: {result.row()}")
    assert result.killed_after is not None and result.batches > result.killed_after, result.row()
    assert any(not e["active"] for e in result.executors), result.executors
    assert result.reference_rows > 0 and result.same_rows, result.row()
    assert result.ok
    assert spark_cluster.status().serving


def _renamed(spec: PipelineSpec, name: str) -> PipelineSpec:
    """``spec`` named ``name``, writing its Delta table under that name (its own checkpoint too)."""
    return spec.model_copy(
        update={"name": name, "sinks": [spec.sinks[0].model_copy(update={"path": f"{name}/page_view_counts"})]}
    )
