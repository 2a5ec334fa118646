"""``streamwise.testing.run_batch``: a pipeline's steps over rows given in Python, on the real Spark
session and no broker."""

from __future__ import annotations

import time

import pandas as pd
import pytest

from streamwise.pipeline import load_pipeline, resolve
from streamwise.pipeline.exceptions import PipelineError
from streamwise.testing import run_batch

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z, a window boundary


def test_the_shipped_clickstream_steps_over_python_rows(spark) -> None:
    """Setup: 30 page views over two 10 s windows, one view without its required page, and one a day
    after now. Invariants: the window counts equal pandas' over the good rows exactly; the two bad
    rows come back as dead letters with the stream's reasons."""
    good = [
        {"user_id": f"u{i % 4}", "page": ["/home", "/cart", "/help"][i % 3], "event_time": T0 + i * 650}
        for i in range(30)
    ]
    bad = [
        {"user_id": "u9", "page": None, "event_time": T0},
        {"user_id": "u9", "page": "/home", "event_time": int(time.time() * 1000) + 86_400_000},
    ]
    out = run_batch(spark, load_pipeline(resolve("clickstream")), [*good, *bad])

    frame = pd.DataFrame(good)
    expected = frame.groupby([frame["event_time"] // 10_000 * 10_000, "page"]).size().to_dict()
    got = {(int(r.window_start.timestamp() * 1000), r.page): int(r.views) for r in out.rows.itertuples()}
    assert got == expected
    assert sorted(out.dead["dead_letter_reason"].str.split(" ").str[0]) == ["event", "missing"]
    assert "missing or mistyped field 'page'" in set(out.dead["dead_letter_reason"])


def test_an_anomaly_pipeline_is_sent_to_run_phases(spark) -> None:
    with pytest.raises(PipelineError, match="anomaly step, which keeps state") as info:
        run_batch(spark, load_pipeline(resolve("iot_anomalies")), [])
    assert "run_phases" in (info.value.hint or "")
