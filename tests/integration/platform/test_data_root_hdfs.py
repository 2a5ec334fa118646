"""The shipped clickstream pipeline with its data root on a real HDFS (``hdfs`` fixture: a NameNode
and a DataNode of Hadoop 3.5.0 on loopback): checkpoints, the Delta table and the late-data ledger
live there, and a second run resumes from the checkpoint there.

HDFS is listed and read in this test through Hadoop's own FileSystem client in the driver's JVM and
through delta-rs, not through streamwise's HadoopPath, which is what is under test."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from clickstream_model import PHASE_1, PHASE_2, T0, clickstream_on, delta_windows, expected_windows, produce
from deltalake import DeltaTable

from streamwise.config import Settings
from streamwise.pipeline import await_queries
from streamwise.pipeline.batches import batch_range, last_committed
from streamwise.pipeline.plan import Pipeline
from streamwise.platform.hdfs import MiniHdfs
from streamwise.platform.storage import HadoopPath
from streamwise.platform.topics import create_topic


def test_clickstream_keeps_checkpoint_table_and_ledger_on_hdfs_and_resumes_there(
    spark, settings: Settings, hdfs: MiniHdfs, topic_name: str, tmp_path: Path
) -> None:
    """Setup: the clickstream model's two phases (out of order, then late) produced into one
    partition, each followed by one `--once` run of the shipped clickstream pipeline with
    ``data_root`` = hdfs://127.0.0.1:PORT/streamwise and a state folder of its own.
    Invariants: after each run the Delta table holds exactly the windows the pandas model computes
    (read by Spark and by delta-rs); the checkpoint, the Delta log and the settle marker are files on
    HDFS at ROOT/checkpoints/<name>/main, ROOT/warehouse/<name>/page_view_counts/_delta_log and
    ROOT/checkpoints/<name>/settled.json; the second run resumed the first's checkpoint (same query
    id, its commits numbered after the first run's, and phase 2's late events dropped, which a fresh
    checkpoint would have counted); the marker names that query and the last committed batch, which
    streamwise reads from HDFS as Hadoop lists it, and its temporary file was renamed over it; batch
    0's offset range read from HDFS is exactly phase 1's records; the ledger on HDFS holds exactly the two late events;
    nothing was written to the local state folder's checkpoints/ or warehouse/."""
    root = f"{hdfs.uri}/streamwise"
    state = tmp_path / "state"
    remote = settings.model_copy(update={"state_dir": state, "data_root": root})
    create_topic(settings.kafka, topic_name, partitions=1)
    create_topic(settings.kafka, f"{topic_name}.dlq", partitions=1)
    pipeline = Pipeline(clickstream_on(topic_name), remote)
    checkpoint = f"{root}/checkpoints/{topic_name}/main"
    table = f"{root}/warehouse/{topic_name}/page_view_counts"
    assert str(pipeline.layout.main_checkpoint) == checkpoint
    assert str(pipeline.sink_path(pipeline.spec.sinks[0])) == table

    phases: list[list[tuple[str, int]]] = []
    commits: list[list[int]] = []
    query_ids: list[str] = []
    for phase in (PHASE_1, PHASE_2):
        produce(settings, topic_name, phase)
        phases.append(phase)
        await_queries(pipeline.start(spark, once=True))
        expected = expected_windows(phases)
        pd.testing.assert_frame_equal(delta_windows(spark, pipeline), expected, check_dtype=False)
        rows = DeltaTable(table).to_pandas()
        rows["window_start"] = _epoch_ms(rows["window_start"])
        by_rust = rows[["window_start", "page", "views"]].sort_values(["window_start", "page"]).reset_index(drop=True)
        pd.testing.assert_frame_equal(by_rust, expected, check_dtype=False)

        listed = sorted(int(name) for name in _list(spark, f"{checkpoint}/commits") if name.isdigit())
        assert listed, f"no commits listed in {checkpoint}/commits"
        commits.append(listed)
        assert last_committed(pipeline.layout.main_checkpoint) == listed[-1]
        query_ids.append(json.loads(_read(spark, f"{checkpoint}/metadata"))["id"])
        assert pipeline.layout.query_id(pipeline.layout.main_checkpoint) == query_ids[-1]
        marker = json.loads(_read(spark, f"{root}/checkpoints/{topic_name}/settled.json"))
        assert marker == {"query": query_ids[-1], "batch": listed[-1]}
        assert sorted(_list(spark, f"{root}/checkpoints/{topic_name}")) == ["main", "settled.json"]  # renamed over
        assert "00000000000000000000.json" in _list(spark, f"{table}/_delta_log")

    assert query_ids[0] == query_ids[1]
    # Batch 0 from its start offsets (the Kafka source's file, found by a glob on HDFS) to its end:
    # the whole of phase 1, as produced into the one partition.
    assert batch_range(pipeline.layout.main_checkpoint, 0, topic_name).start == {topic_name: {"0": 0}}
    assert batch_range(pipeline.layout.main_checkpoint, 0, topic_name).end == {topic_name: {"0": len(PHASE_1)}}
    assert min(set(commits[1]) - set(commits[0])) > commits[0][-1]
    ledger = DeltaTable(f"{root}/warehouse/{topic_name}/late_records").to_pandas()
    late = sorted(_epoch_ms(ledger["event_time"]))
    assert late == [T0 + 8_000, T0 + 19_000]
    assert not (state / "checkpoints").exists()
    assert not (state / "warehouse").exists()
    assert isinstance(pipeline.layout.main_checkpoint, HadoopPath)


def _epoch_ms(column: pd.Series) -> pd.Series:
    """Timestamps as epoch milliseconds, whatever unit delta-rs hands them in."""
    return (pd.to_datetime(column, utc=True) - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(1, "ms")


def _file_system(spark, uri: str):
    jvm = spark._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)
    return path, path.getFileSystem(spark._jsc.hadoopConfiguration())


def _list(spark, uri: str) -> list[str]:
    """The names in the folder ``uri``, as HDFS lists them."""
    path, fs = _file_system(spark, uri)
    return [str(status.getPath().getName()) for status in fs.listStatus(path)]


def _read(spark, uri: str) -> str:
    """The text of the file ``uri``, as HDFS returns it."""
    path, fs = _file_system(spark, uri)
    stream = fs.open(path)
    try:
        return bytes(spark._jvm.org.apache.commons.io.IOUtils.toByteArray(stream)).decode()
    finally:
        stream.close()
