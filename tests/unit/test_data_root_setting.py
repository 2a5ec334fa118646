"""The data root setting (``STREAMWISE_DATA_ROOT``): where checkpoints and Delta tables live, a local
folder or a Hadoop URI; unset, the state folder as before. A malformed URI or a scheme streamwise
does not take fails with the field, the value and what to set."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamwise.config import load_settings, settings_env
from streamwise.errors import ConfigError


def test_unset_keeps_checkpoints_and_tables_in_the_state_folder(tmp_path: Path) -> None:
    """Invariant: with no data root, the data root is the state folder and no child is told one."""
    cfg = load_settings(state_dir=tmp_path)
    assert cfg.data_root is None
    assert cfg.data == tmp_path
    assert "STREAMWISE_DATA_ROOT" not in settings_env(cfg)


@pytest.mark.parametrize(
    ("value", "data"),
    [
        ("hdfs://namenode:8020/streamwise", "hdfs://namenode:8020/streamwise"),
        ("hdfs:///streamwise/", "hdfs:///streamwise"),
        ("s3a://bucket/streamwise", "s3a://bucket/streamwise"),
        ("abfss://data@acct.dfs.core.windows.net/sw", "abfss://data@acct.dfs.core.windows.net/sw"),
        ("gs://bucket", "gs://bucket"),
        ("HDFS://nn:9000/x", "hdfs://nn:9000/x"),
    ],
)
def test_hadoop_uris_are_taken_as_they_are(value: str, data: str) -> None:
    """Invariant: each supported scheme is accepted; the root is the URI without a trailing slash."""
    assert load_settings(data_root=value).data == data


def test_local_roots_are_absolute_folders(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Invariant: a relative folder is taken from the working folder, file:///x is the folder /x, and
    a child process is handed the absolute folder (it may start elsewhere)."""
    monkeypatch.chdir(tmp_path)
    relative = load_settings(data_root="shared/data")
    assert relative.data == tmp_path / "shared" / "data"
    assert settings_env(relative)["STREAMWISE_DATA_ROOT"] == str(tmp_path / "shared" / "data")
    assert load_settings(data_root=f"file://{tmp_path}/x").data == tmp_path / "x"


def test_the_environment_sets_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMWISE_DATA_ROOT", "s3a://lake/streamwise")
    cfg = load_settings()
    assert cfg.data == "s3a://lake/streamwise"
    assert settings_env(cfg)["STREAMWISE_DATA_ROOT"] == "s3a://lake/streamwise"


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("s3://bucket/x", "did you mean s3a://"),
        ("wasbs://c@acct.blob.core.windows.net/x", "did you mean abfss://"),
        ("ftp://host/x", "scheme 'ftp'"),
        ("s3a:///x", "names no bucket"),
        ("abfss://acct.dfs.core.windows.net/x", "names no container"),
        ("file://host/x", "file:///absolute/path"),
        ("hdfs://nn:port/x", "not a valid URI"),
        ("hdfs://nn:8020/x?replication=1", "query or fragment"),
        ("", "empty"),
        (" hdfs://nn/x", "spaces"),
    ],
)
def test_a_bad_root_names_the_field_the_value_and_the_fix(value: str, says: str) -> None:
    """Invariant: the error names the field, says what is wrong, and says what to set."""
    with pytest.raises(ConfigError) as err:
        load_settings(data_root=value)
    message = err.value.message
    assert "data_root" in message
    assert says in message
    assert "STREAMWISE_DATA_ROOT" in message
