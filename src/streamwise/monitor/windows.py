"""Reads the latest windowed results from a Delta table without a JVM (delta-rs), for status views."""

from __future__ import annotations

import pandas as pd
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from streamwise.platform.storage import Location

WINDOW_COLUMNS = ("window_start", "window_end")


def measure_and_item(columns: pd.Index | list[str], dtypes: pd.Series) -> tuple[str | None, str | None]:
    """The column a results table ranks by (``views`` in clickstream; else its first numeric column
    that is not a rank) and the one naming what is ranked (``page``; else its first text column)."""
    names = [c for c in columns if c not in WINDOW_COLUMNS]
    numeric = [c for c in names if pd.api.types.is_numeric_dtype(dtypes[c]) and c != "rank"]
    text = [c for c in names if pd.api.types.is_string_dtype(dtypes[c]) or pd.api.types.is_object_dtype(dtypes[c])]
    measure = "views" if "views" in numeric else (numeric[0] if numeric else None)
    item = "page" if "page" in text else (text[0] if text else None)
    return measure, item


def rank_windows(frame: pd.DataFrame, *, windows: int = 3, per_window: int = 5) -> pd.DataFrame:
    """The ``per_window`` highest rows (by the table's measure) of each of the ``windows`` most recent
    windows, newest window first; a table without windows: its last ``windows * per_window`` rows."""
    if frame.empty:
        return frame
    if "window_start" not in frame.columns:
        return frame.tail(windows * per_window).iloc[::-1].reset_index(drop=True)
    measure, item = measure_and_item(frame.columns, frame.dtypes)
    recent = sorted(frame["window_start"].unique())[-windows:]
    frame = frame[frame["window_start"].isin(recent)]
    keys = ["window_start", *(c for c in (measure, item) if c)]
    frame = frame.sort_values(keys, ascending=[False, False, True][: len(keys)])
    return frame.groupby("window_start", sort=False).head(per_window).reset_index(drop=True)


def latest_windows(table: Location, *, windows: int = 3, per_window: int = 5) -> pd.DataFrame:
    """:func:`rank_windows` of the Delta table at ``table``.

    Empty when the table does not exist yet (the pipeline has not closed a window).
    """
    try:
        frame = DeltaTable(str(table)).to_pandas()
    except TableNotFoundError:
        return pd.DataFrame(columns=["window_start", "window_end", "page", "views"])
    return rank_windows(frame, windows=windows, per_window=per_window)


def delta_rows(table: Location) -> int:
    """Rows in a Delta table (0 while it does not exist), from the log's file statistics."""
    try:
        return int(DeltaTable(str(table)).to_pyarrow_dataset().count_rows())
    except TableNotFoundError:
        return 0
