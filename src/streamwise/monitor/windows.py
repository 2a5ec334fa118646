"""Reads the latest windowed results from a Delta table without a JVM (delta-rs), for status views."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def latest_windows(table: Path, *, windows: int = 3, per_window: int = 5) -> pd.DataFrame:
    """The top ``per_window`` rows (by views) of each of the ``windows`` most recent windows.

    Empty when the table does not exist yet (the pipeline has not closed a window).
    """
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        frame = DeltaTable(str(table)).to_pandas()
    except TableNotFoundError:
        return pd.DataFrame(columns=["window_start", "window_end", "page", "views"])
    if frame.empty:
        return frame
    recent = sorted(frame["window_start"].unique())[-windows:]
    frame = frame[frame["window_start"].isin(recent)]
    frame = frame.sort_values(["window_start", "views", "page"], ascending=[False, False, True])
    return frame.groupby("window_start", sort=False).head(per_window).reset_index(drop=True)


def delta_rows(table: Path) -> int:
    """Rows in a Delta table (0 while it does not exist), from the log's file statistics."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        return int(DeltaTable(str(table)).to_pyarrow_dataset().count_rows())
    except TableNotFoundError:
        return 0
