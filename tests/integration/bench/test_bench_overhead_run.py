"""``bench overhead`` and ``bench process`` on the real broker and Spark: the clickstream pipeline and the hand-written
PySpark query write exactly the window counts an independent pandas model of the topic predicts, and
the report holds every case's timings and ratios."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from streamwise.bench import BenchContext, get
from streamwise.config import Settings

EVENTS = 3_000
EVENT_RATE = 100.0  # 30 s of event time: two or three 10 s windows close behind the 5 s watermark
WINDOW_MS, WATERMARK_MS = 10_000, 5_000


def expected_windows(spark, settings: Settings, topic: str) -> pd.DataFrame:
    """Views per (10 s window, page) of every record in the topic, for the windows the watermark has
    passed after one batch of everything: end ≤ max event time - 5 s (no record is late in one batch)."""
    raw = spark.read.format("kafka").options(**settings.kafka.spark_options()).option("subscribe", topic).load()
    events = pd.DataFrame([json.loads(v) for v in raw.selectExpr("CAST(value AS STRING) AS v").toPandas()["v"]])
    events["window_start"] = events["event_time"] // WINDOW_MS * WINDOW_MS
    closed = events[events["window_start"] + WINDOW_MS <= events["event_time"].max() - WATERMARK_MS]
    counts = closed.groupby(["window_start", "page"]).size().rename("views").reset_index()
    return counts.sort_values(["window_start", "page"]).reset_index(drop=True)


def delta_windows(spark, path: Path) -> pd.DataFrame:
    frame = spark.read.format("delta").load(str(path)).toPandas()
    frame["window_start"] = pd.to_datetime(frame["window_start"], utc=True).astype("int64") // 1_000_000
    frame["views"] = frame["views"].astype("int64")
    return frame[["window_start", "page", "views"]].sort_values(["window_start", "page"]).reset_index(drop=True)


def test_bench_overhead_outputs_agree_exactly_and_report_every_case(
    spark, settings: Settings, broker, tmp_path: Path
) -> None:
    """Setup: the ``overhead`` benchmark on the session's broker and Spark: 3,000 clickstream events
    stamped at 100 events/s over 2 partitions, one repeat, tables kept; no warm-up (it runs the
    same two queries untimed, doubling the test's time).
    Invariant: streamwise's (with and without its ledger) and the hand-written query's Delta tables are all exactly the pandas
    window counts of the topic's records (and not empty); the report's check agrees; the report has
    the four cases (streamwise, without its ledger, hand-written, floor), each with positive seconds and events/s, ratios consistent with the seconds,
    the floor having counted every record (else the benchmark raises); its JSON is written with results, goals and checks."""
    options = {
        "events": EVENTS,
        "event_rate": EVENT_RATE,
        "partitions": 2,
        "repeat": 1,
        "warmup": False,
        "keep_tables": True,
        "spark": spark,
    }
    report = get("overhead").run(BenchContext(settings, options))

    folder = Path(report.config["tables"])
    expected = expected_windows(spark, settings, report.config["topic"])
    assert len(expected) >= 2 * 20  # at least two closed windows, each with many pages
    for case in ("streamwise_0", "no_ledger_0", "hand_written_0"):
        pd.testing.assert_frame_equal(delta_windows(spark, folder / case / "table"), expected)

    check = report.checks["same window counts"]
    assert check["passed"] is True
    (repeat,) = check["repeats"]
    assert (
        repeat["streamwise"] == repeat["hand_written"] == {"rows": len(expected), "views": int(expected["views"].sum())}
    )
    assert (repeat["only_in_streamwise"], repeat["only_in_hand_written"], repeat["no_ledger_same"]) == (0, 0, True)

    rows = {r["case"]: r for r in report.rows}
    assert list(rows) == ["streamwise", "no ledger", "hand-written", "floor"]
    for row in rows.values():
        assert row["runs"] == 1 and row["median_s"] > 0 and row["events_per_s"] > 0
        assert row["events_per_s"] == pytest.approx(EVENTS / row["median_s"], rel=1e-2)  # seconds are rounded to 0.01
    ours_s, bare_s, hand_s, floor_s = (
        rows[case]["median_s"] for case in ("streamwise", "no ledger", "hand-written", "floor")
    )
    assert rows["streamwise"]["ratio_to_no_ledger"] == pytest.approx(bare_s / ours_s, rel=1e-2)
    assert rows["streamwise"]["ratio_to_hand_written"] == pytest.approx(hand_s / ours_s, rel=1e-2)
    assert rows["streamwise"]["ratio_to_floor"] == pytest.approx(floor_s / ours_s, rel=1e-2)
    assert rows["streamwise"]["windows"] == rows["hand-written"]["windows"] == len(expected)
    assert report.config["events"] == EVENTS and set(report.goals) == {
        "streamwise ÷ Spark's Kafka read (events/s)",
        "streamwise ÷ hand-written PySpark (events/s)",
    }

    written = json.loads(report.write(tmp_path).read_text())
    assert written["benchmark"] == "overhead"
    assert written["checks"]["same window counts"]["passed"] is True
    assert [r["case"] for r in written["results"]] == ["streamwise", "no ledger", "hand-written", "floor"]


def test_bench_process_counts_every_record_and_writes_the_pandas_windows(
    spark, settings: Settings, broker, tmp_path: Path
) -> None:
    """Setup: the ``process`` benchmark on the session's broker and Spark, 3,000 clickstream events
    at 100 events/s of event time over 2 partitions, no warm-up.
    Invariant: two cases, streamwise then the floor (whose count equals what was produced, else
    the benchmark raises); streamwise wrote exactly as many windows as pandas counts closed over
    the topic's records; the ratio agrees with the seconds; the JSON is written."""
    report = get("process").run(
        BenchContext(
            settings, {"events": EVENTS, "event_rate": EVENT_RATE, "partitions": 2, "warmup": False, "spark": spark}
        )
    )
    rows = {r["case"]: r for r in report.rows}
    assert list(rows) == ["streamwise", "floor"]
    assert rows["streamwise"]["windows"] == len(expected_windows(spark, settings, report.config["topic"]))
    assert rows["streamwise"]["ratio_to_floor"] == pytest.approx(
        rows["floor"]["median_s"] / rows["streamwise"]["median_s"], rel=1e-2
    )
    assert report.config["events"] == EVENTS and set(report.goals) == {"streamwise ÷ Spark's Kafka read (events/s)"}
    assert json.loads(report.write(tmp_path).read_text())["benchmark"] == "process"
