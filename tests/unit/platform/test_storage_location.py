"""Locations on the data root: a local root stays a pathlib.Path (the behaviour of every release
before), a Hadoop URI a HadoopPath whose names join like a path's; tables and checkpoints are laid
out under the root; a remote location read without a Spark driver fails with what to do."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark import SparkContext

from streamwise.config import load_settings
from streamwise.pipeline.batches import last_committed
from streamwise.pipeline.layout import PipelineLayout
from streamwise.platform.exceptions import StorageError
from streamwise.platform.storage import HadoopPath, data_root, location, write_atomic
from streamwise.sinks import warehouse_path


def test_a_local_root_is_a_path_and_a_uri_a_hadoop_path(tmp_path: Path) -> None:
    assert data_root(load_settings(state_dir=tmp_path)) == tmp_path
    assert data_root(load_settings(data_root=str(tmp_path / "d"))) == tmp_path / "d"
    assert data_root(load_settings(data_root="hdfs://nn:8020/sw/")) == HadoopPath("hdfs://nn:8020/sw")
    assert location("relative") == Path("relative").resolve()


def test_tables_and_checkpoints_are_laid_out_under_the_root(tmp_path: Path) -> None:
    """Invariant: the same relative layout under a local and a remote root; absolute paths and URIs
    in a spec are taken as they are."""
    remote = HadoopPath("s3a://lake/sw")
    assert warehouse_path("clicks/counts", tmp_path) == tmp_path / "warehouse" / "clicks" / "counts"
    assert str(warehouse_path("clicks/counts", remote)) == "s3a://lake/sw/warehouse/clicks/counts"
    assert warehouse_path("/abs/t", remote) == Path("/abs/t")
    assert warehouse_path("gs://other/t", remote) == HadoopPath("gs://other/t")
    layout = PipelineLayout("clickstream", remote)
    assert str(layout.main_checkpoint) == "s3a://lake/sw/checkpoints/clickstream/main"
    assert str(layout.settled_marker) == "s3a://lake/sw/checkpoints/clickstream/settled.json"
    assert PipelineLayout("clickstream", tmp_path).main_checkpoint == tmp_path / "checkpoints" / "clickstream" / "main"


def test_hadoop_path_names_join_like_pathlib() -> None:
    marker = HadoopPath("hdfs://nn:8020/sw") / "checkpoints" / "p" / "settled.json"
    assert marker.uri == "hdfs://nn:8020/sw/checkpoints/p/settled.json"
    assert marker.name == "settled.json"
    assert marker.parent == HadoopPath("hdfs://nn:8020/sw/checkpoints/p")
    assert marker.with_suffix(".tmp") == HadoopPath("hdfs://nn:8020/sw/checkpoints/p/settled.tmp")
    assert sorted([HadoopPath("hdfs://a/2"), HadoopPath("hdfs://a/10")], key=str)[0].name == "10"


def test_write_atomic_replaces_a_local_file_whole(tmp_path: Path) -> None:
    marker = tmp_path / "settled.json"
    marker.write_text('{"batch": 1}')
    write_atomic(marker, '{"batch": 2}')
    assert marker.read_text() == '{"batch": 2}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["settled.json"]


def test_local_checkpoint_reads_are_unchanged(tmp_path: Path) -> None:
    """Invariant: a local checkpoint's newest commit is read with pathlib, as before."""
    assert last_committed(tmp_path) is None
    (tmp_path / "commits").mkdir()
    for name in ("0", "1", "7", ".7.crc"):
        (tmp_path / "commits" / name).write_text("v1\n{}")
    assert last_committed(tmp_path) == 7


def test_reading_a_remote_location_without_a_spark_driver_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    """Setup: no SparkContext in this process (as in `status` or the dashboard)."""
    monkeypatch.setattr(SparkContext, "_active_spark_context", None)
    with pytest.raises(StorageError) as err:
        (HadoopPath("hdfs://nn:8020/sw") / "checkpoints").is_dir()
    assert "hdfs://nn:8020/sw/checkpoints" in err.value.message
    assert "no Spark driver" in err.value.message
    assert "STREAMWISE_DATA_ROOT" in (err.value.hint or "")
