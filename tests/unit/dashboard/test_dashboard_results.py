"""Which Delta table the dashboard shows: the running pipeline's, as ``up`` sets it."""

from __future__ import annotations

from pathlib import Path

from streamwise.app.local import dashboard_for
from streamwise.config import Settings
from streamwise.pipeline import load_pipeline, resolve


def test_up_points_the_dashboard_at_the_running_pipelines_table(tmp_path: Path) -> None:
    """Setup: settings with nothing set, then with an explicit results table; the clickstream_trending
    example (its Delta sink: clickstream/trending_pages) and clickstream.
    Invariant: the dashboard's results table is each pipeline's own Delta table under the state
    folder's warehouse; an explicitly set table is kept."""
    settings = Settings(state_dir=tmp_path)
    warehouse = settings.state / "warehouse"
    trending, clicks = (load_pipeline(resolve(name)) for name in ("clickstream_trending", "clickstream"))
    assert dashboard_for(trending, settings).results_table == warehouse / trending.sinks[0].path
    assert dashboard_for(clicks, settings).results_table == warehouse / "clickstream/page_view_counts"
    assert trending.sinks[0].path != "clickstream/page_view_counts"

    chosen = settings.model_copy(
        update={"dashboard": settings.dashboard.model_copy(update={"results_table": tmp_path / "mine"})}
    )
    assert dashboard_for(trending, chosen).results_table == tmp_path / "mine"


def test_windows_of_any_results_table_are_ranked_by_its_measure() -> None:
    """Setup: clickstream's shape (page, views), the IoT shape (sensor_id, a mean, a count) over three
    windows, and a table without windows.
    Invariant: the two newest windows first, each's rows by the measure (views; else the first numeric
    column), ties by the item; without windows, the newest rows last-first."""
    import pandas as pd

    from streamwise.monitor.windows import measure_and_item, rank_windows

    clicks = pd.DataFrame(
        {"window_start": [1, 1, 2, 2, 3], "page": ["/b", "/a", "/a", "/c", "/z"], "views": [5, 5, 1, 7, 2]}
    )
    ranked = rank_windows(clicks, windows=2, per_window=1)
    assert ranked[["window_start", "page", "views"]].values.tolist() == [[3, "/z", 2], [2, "/c", 7]]
    assert rank_windows(clicks, windows=1, per_window=5)["page"].tolist() == ["/z"]
    assert rank_windows(clicks[clicks.window_start == 1], windows=1, per_window=2)["page"].tolist() == ["/a", "/b"]

    iot = pd.DataFrame(
        {"window_start": [1, 1], "window_end": [2, 2], "sensor_id": ["s1", "s2"], "mean": [0.5, 9.5], "n": [3, 4]}
    )
    assert measure_and_item(iot.columns, iot.dtypes) == ("mean", "sensor_id")
    assert rank_windows(iot)["sensor_id"].tolist() == ["s2", "s1"]

    plain = pd.DataFrame({"payment_id": [1, 2, 3], "score": [0.1, 0.9, 0.5]})
    assert rank_windows(plain, windows=1, per_window=2)["payment_id"].tolist() == [3, 2]
