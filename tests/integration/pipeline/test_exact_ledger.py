"""The late-data ledger is exact: over several micro-batches and a restart, every valid record is
counted by the windows or held by the ledger, never both, never neither."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest

from streamwise.config import Settings
from streamwise.ingest.producer import EventProducer
from streamwise.pipeline import await_queries
from streamwise.pipeline.plan import Pipeline
from streamwise.pipeline.spec import DeduplicateStep, EventTime, KafkaSource, PipelineSpec, WindowStep
from streamwise.platform.topics import create_topic
from streamwise.testing import run_phases
from streamwise.verify import readers
from streamwise.verify.rules import to_epoch_ms

T0_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
EVENTS = 1_200
PER_BATCH = 150  # one partition: each batch is exactly the next 150 offsets
FIRST_RUN = 600  # records present for the first run; the rest arrive before the second
DURATION_MS, SLIDE_MS, DELAY_MS = 5_000, 2_500, 2_000


def disordered_events(seed: int = 7) -> pd.DataFrame:
    """Events 100 ms apart in arrival order; one in eight carries an event time 3-30 s earlier."""
    rng = np.random.default_rng(seed)
    times = T0_MS + np.arange(EVENTS) * 100
    delayed = rng.random(EVENTS) < 0.125
    times = np.where(delayed, times - rng.integers(3_000, 30_000, EVENTS), times)
    return pd.DataFrame({"event_id": np.arange(EVENTS), "event_time": times})


def run_in_two_parts(spark, plan: Pipeline, producer: EventProducer, events: pd.DataFrame) -> None:
    """Produce the first FIRST_RUN events and run the pipeline to completion; then the rest, and again."""
    for part in (events.iloc[:FIRST_RUN], events.iloc[FIRST_RUN:]):
        producer.send_many(
            [
                (
                    None,
                    json.dumps(
                        {"event_id": int(r.event_id), "user": int(r.event_id) % 3, "event_time": int(r.event_time)}
                    ).encode(),
                    None,
                )
                for r in part.itertuples()
            ]
        )
        producer.flush()
        await_queries(plan.start(spark, once=True))


def batch_watermarks(events: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per event, in pandas, as Spark runs the two runs: its batch id; and per batch, its watermark
    (the one it evicts state with). Each run reads its records 150 at a time, then runs one no-data
    batch that only moves the watermark. Batch N's watermark is the newest event time of the
    batches before N minus the delay (never lower than before, 0 at first)."""
    batch_of, n = np.empty(len(events), dtype=int), 0
    for run in (range(FIRST_RUN), range(FIRST_RUN, len(events))):
        for first in range(run.start, run.stop, PER_BATCH):
            batch_of[first : first + PER_BATCH] = n
            n += 1
        n += 1  # the run's closing no-data batch
    newest = events.assign(batch=batch_of).groupby("batch")["event_time"].max().reindex(range(n)).ffill().cummax()
    return batch_of, np.maximum.accumulate([0] + [max(0, int(newest[b - 1]) - DELAY_MS) for b in range(1, n)])


def batches_and_watermarks(events: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per event: its batch id, and the late-row watermark its batch drops rows against, which
    is the watermark of the batch before (see :func:`batch_watermarks`)."""
    batch_of, watermark = batch_watermarks(events)
    return batch_of, np.array([0, *watermark[:-1]])[batch_of]


def spark_sessions(events: pd.DataFrame, gap_ms: int) -> list[tuple[int, int, int, int]]:
    """The sessions per user Spark emits in append mode, simulated batch by batch: a batch drops
    rows whose own session [t, t + gap) ends at or before the late-row watermark, merges the rest
    with the user's open sessions (a row starting before a session ends joins it), then emits and
    forgets the sessions ending at or before its own watermark. Returns (user, start, end, count)."""
    batch_of, watermark = batch_watermarks(events)
    open_sessions: dict[int, list[list[int]]] = {}
    emitted = []
    for b, w in enumerate(watermark):
        late = watermark[b - 1] if b else 0
        rows = events[(batch_of == b) & (events["event_time"] + gap_ms > late)]
        for user in set(open_sessions) | set(rows["user"]):
            spans = open_sessions.get(user, []) + [
                [t, t + gap_ms, 1] for t in rows.loc[rows["user"] == user, "event_time"]
            ]
            merged: list[list[int]] = []
            for start, end, n in sorted(spans):
                if merged and start < merged[-1][1]:
                    merged[-1][1], merged[-1][2] = max(merged[-1][1], end), merged[-1][2] + n
                else:
                    merged.append([start, end, n])
            emitted += [(user, *m) for m in merged if m[1] <= w]
            open_sessions[user] = [m for m in merged if m[1] > w]
    return sorted(emitted)


def spark_rule(events: pd.DataFrame, slide_ms: int | None) -> tuple[pd.Series, set[tuple[int, int]]]:
    """Windows under Spark's rule (see :func:`batches_and_watermarks`): a (row, window) pair is
    dropped when the window's end is at or before the row's batch's late-row watermark. Returns the
    count per window start among the windows the final watermark closed, and the dropped
    (event id, window start) pairs."""
    _batch_of, late = batches_and_watermarks(events)
    events = events.assign(late=late)
    final = max(int(late.max()), int(events["event_time"].max()) - DELAY_MS)  # the last no-data batch's
    slide = slide_ms or DURATION_MS
    pairs = pd.concat(
        [
            events.assign(start=events["event_time"] - events["event_time"] % slide - k * slide)
            for k in range(DURATION_MS // slide)
        ]
    )
    pairs = pairs[pairs["event_time"] < pairs["start"] + DURATION_MS]
    dropped = pairs["start"] + DURATION_MS <= pairs["late"]
    counted = pairs[~dropped]
    closed = counted[counted["start"] + DURATION_MS <= final]
    return closed.groupby("start").size(), set(zip(pairs[dropped]["event_id"], pairs[dropped]["start"], strict=True))


@pytest.mark.parametrize("kind", ["tumbling", "sliding"])
def test_windows_and_ledger_split_every_record_exactly(spark, settings: Settings, topic_name: str, kind: str) -> None:
    """Setup: 1,200 events on one partition, 100 ms apart in arrival order, one in eight carrying an
    event time 3-30 s earlier (seeded); 5 s windows (sliding: every 2.5 s) with a 2 s watermark,
    150 offsets per batch. The first 600 are produced and the pipeline runs to completion
    (availableNow); the other 600 are produced and it runs again from its checkpoint.
    Invariants: the windows' counts equal the pandas simulation of Spark's rule exactly (per
    window); the ledger holds exactly the simulated dropped (event, window) pairs, each once, with
    the watermark it missed and a positive lateness; so each pair is counted or ledgered, never
    both, never neither."""
    create_topic(settings.kafka, topic_name, partitions=1)
    events = disordered_events()
    producer = EventProducer(settings.kafka, topic_name)
    name = f"ledger_{kind}_{topic_name}"
    slide = f"{SLIDE_MS} milliseconds" if kind == "sliding" else None
    spec = PipelineSpec(
        name=name,
        source=KafkaSource(
            topic=topic_name, schema="event_id LONG, event_time LONG", max_offsets_per_trigger=PER_BATCH
        ),
        event_time=EventTime(watermark=f"{DELAY_MS} milliseconds"),
        steps=[
            WindowStep(
                type="window",
                kind=kind,
                duration=f"{DURATION_MS} milliseconds",
                slide=slide,
                aggregates={"n": "count(*)"},
            )
        ],
        sinks=[{"type": "delta", "path": f"{name}/windows"}],
    )
    plan = Pipeline(spec, settings)
    run_in_two_parts(spark, plan, producer, events)

    expected_counts, expected_dropped = spark_rule(events, SLIDE_MS if kind == "sliding" else None)
    assert expected_dropped, "the input must make Spark drop some rows, or the test proves nothing"

    windows = readers.delta_rows(plan.sink_path(spec.sinks[0]), ["window_start", "n"])
    counts = windows.groupby(to_epoch_ms(windows["window_start"]))["n"].sum().sort_index()
    assert counts.to_dict() == expected_counts.sort_index().to_dict()

    ledger = readers.delta_rows(
        plan.late_records_path, ["event_id", "window_start", "event_time", "watermark", "lateness_ms"]
    )
    entries = list(zip(ledger["event_id"].astype(int), to_epoch_ms(ledger["window_start"]), strict=True))
    assert len(entries) == len(set(entries))  # each dropped pair once, across the restart
    assert set(entries) == expected_dropped
    assert (ledger["lateness_ms"] >= 0).all()
    assert (to_epoch_ms(ledger["event_time"]) + ledger["lateness_ms"] == to_epoch_ms(ledger["watermark"])).all()


@pytest.mark.parametrize("step", ["deduplicate", "session"])
def test_rows_behind_the_watermark_are_ledgered_for_other_stateful_steps(
    spark, settings: Settings, topic_name: str, step: str
) -> None:
    """Setup: the same 1,200 disordered events (unique ids) in the same two runs, through a
    ``deduplicate`` on event_id, or session windows with a 1 s gap per user (event_id % 3).
    Invariants: the ledger holds exactly the rows Spark's rule drops: deduplicate, a row whose event
    time is at or before its batch's late-row watermark; session windows, a row whose own session
    [t, t + gap) ends at or before it (Spark filters the per-row sessions before merging them). For
    deduplicate, whose output is one row per kept record, the sink holds exactly the other rows;
    for session windows, the sink holds exactly the sessions of a batch-by-batch simulation
    (:func:`spark_sessions`), across the restart."""
    create_topic(settings.kafka, topic_name, partitions=1)
    events = disordered_events()
    producer = EventProducer(settings.kafka, topic_name)
    name = f"ledger_{step}_{topic_name}"
    gap_ms = 1_000
    stateful = (
        DeduplicateStep(type="deduplicate", keys=["event_id"])
        if step == "deduplicate"
        else WindowStep(
            type="window", kind="session", gap=f"{gap_ms} milliseconds", by=["user"], aggregates={"n": "count(*)"}
        )
    )
    spec = PipelineSpec(
        name=name,
        source=KafkaSource(
            topic=topic_name, schema="event_id LONG, user LONG, event_time LONG", max_offsets_per_trigger=PER_BATCH
        ),
        event_time=EventTime(watermark=f"{DELAY_MS} milliseconds"),
        steps=[stateful],
        sinks=[{"type": "delta", "path": f"{name}/out"}],
    )
    plan = Pipeline(spec, settings)
    run_in_two_parts(spark, plan, producer, events)

    events = events.assign(user=events["event_id"] % 3)
    _, late = batches_and_watermarks(events)
    reach = events["event_time"] + (gap_ms if step == "session" else 0)
    dropped = set(events["event_id"][reach.to_numpy() <= late])
    assert dropped, "the input must make Spark drop some rows, or the test proves nothing"
    ledger = readers.delta_rows(plan.late_records_path, ["event_id"])
    assert sorted(ledger["event_id"].astype(int)) == sorted(dropped)
    if step == "deduplicate":
        kept = readers.delta_rows(plan.sink_path(spec.sinks[0]), ["event_id"])
        assert sorted(kept["event_id"].astype(int)) == sorted(set(events["event_id"]) - dropped)
    else:
        sessions = readers.delta_rows(plan.sink_path(spec.sinks[0]), ["user", "window_start", "window_end", "n"])
        got = sorted(
            zip(
                sessions["user"].astype(int),
                to_epoch_ms(sessions["window_start"]),
                to_epoch_ms(sessions["window_end"]),
                sessions["n"].astype(int),
                strict=True,
            )
        )
        assert got == spark_sessions(events, gap_ms)


def test_settling_resumes_from_its_marker_and_adopts_an_older_checkpoint(
    spark, settings: Settings, topic_name: str
) -> None:
    """Setup: 300 events on one partition (seeded disorder as above) and 2 records that are not JSON,
    100 offsets per batch, 5 s windows, 2 s watermark; run to completion. Then the settled marker is
    set back to batch 0, as if the driver died after batches 1.. committed but before they were
    settled, and the pipeline runs again with nothing new. Then the marker is deleted, as in a
    checkpoint written before settling existed, 1 more bad record is produced, and it runs again.
    Invariants: the first run ledgers some rows and dead-letters the 2 records; the second reads the
    unsettled batches again and leaves the ledger exactly as it was (its appends are idempotent per
    batch) and the dead-letter topic holding exactly its 2 records (their batch's transaction
    marker says they were written); the third takes the committed batches
    as settled (reads none of them again): exactly 1 more dead-letter record."""
    create_topic(settings.kafka, topic_name, partitions=1)
    events = disordered_events().iloc[:300]
    producer = EventProducer(settings.kafka, topic_name)
    producer.send_many(
        [
            (None, json.dumps({"event_id": int(r.event_id), "event_time": int(r.event_time)}).encode(), None)
            for r in events.itertuples()
        ]
        + [(None, b"{not json", None)] * 2
    )
    producer.flush()
    name = f"resume_{topic_name}"
    spec = PipelineSpec(
        name=name,
        source=KafkaSource(topic=topic_name, schema="event_id LONG, event_time LONG", max_offsets_per_trigger=100),
        event_time=EventTime(watermark=f"{DELAY_MS} milliseconds"),
        steps=[WindowStep(type="window", duration=f"{DURATION_MS} milliseconds", aggregates={"n": "count(*)"})],
        sinks=[{"type": "delta", "path": f"{name}/windows"}],
    )
    plan = Pipeline(spec, settings)
    ledger_columns = ["event_id", "window_start", "ledger_batch_id"]
    dlq = f"{topic_name}.dlq"

    await_queries(plan.start(spark, once=True))
    first = (
        readers.delta_rows(plan.late_records_path, ledger_columns).sort_values(ledger_columns).reset_index(drop=True)
    )
    assert (
        len(first) > 0
        and len(readers.dead_letters(settings.kafka, dlq)) == len(readers.topic_records(settings.kafka, dlq)) == 2
    )

    marker = plan.layout.settled_marker
    state = json.loads(marker.read_text())
    assert state["batch"] >= 2
    marker.write_text(json.dumps({**state, "batch": 0}))
    await_queries(plan.start(spark, once=True))
    again = (
        readers.delta_rows(plan.late_records_path, ledger_columns).sort_values(ledger_columns).reset_index(drop=True)
    )
    pd.testing.assert_frame_equal(again, first)
    assert len(readers.topic_records(settings.kafka, dlq)) == 2  # not written again: their transaction's marker
    assert json.loads(marker.read_text())["batch"] == state["batch"]

    raw = len(readers.topic_records(settings.kafka, dlq))
    marker.unlink()
    producer.send_many([(None, b"{still not json", None)])
    producer.flush()
    await_queries(plan.start(spark, once=True))
    assert len(readers.topic_records(settings.kafka, dlq)) == raw + 1


def test_event_times_spark_cannot_trust_are_dead_letters_and_leave_the_watermark_alone(
    spark, settings: Settings, topic_name: str
) -> None:
    """Setup: one partition, 5 offsets per batch, 5 s windows with a 2 s watermark. Twenty events 1 s
    apart (in 2026-01, well before their Kafka timestamps), with four records among the first
    ones whose event time is a day after their Kafka timestamp, negative, past what a Spark
    timestamp holds, and the largest long; last, one event 30 min after its Kafka timestamp
    (inside the default 1 hour ``max_future``).
    Invariants: the four go to the dead-letter topic, each with its reason, and the query never
    fails; had the day-ahead one moved the watermark, every later event would have been dropped,
    but the ledger is empty and each 5 s window counts its 5 events; the last event is accepted
    and its watermark closes all four windows."""
    now_ms = int(time.time() * 1000)
    good = [{"n": i, "event_time": T0_MS + i * 1_000} for i in range(20)]
    bad = [
        {"n": 100, "event_time": now_ms + 86_400_000},
        {"n": 101, "event_time": -5_000},
        {"n": 102, "event_time": 2**62},
        {"n": 103, "event_time": 2**63 - 1},
    ]
    events = [*good[:3], *bad, *good[3:], {"n": 200, "event_time": now_ms + 1_800_000}]
    spec = PipelineSpec(
        name=topic_name,
        source=KafkaSource(topic=topic_name, schema="n LONG, event_time LONG", max_offsets_per_trigger=5),
        event_time=EventTime(watermark=f"{DELAY_MS} milliseconds"),
        steps=[WindowStep(type="window", duration=f"{DURATION_MS} milliseconds", aggregates={"n": "count(*)"})],
        sinks=[{"type": "delta", "path": f"{topic_name}/windows"}],
    )
    run = run_phases(spark, settings, spec, [events])

    reasons = {json.loads(value)["n"]: headers["dlq.reason"] for value, headers in run.dead_letters}
    assert sorted(reasons) == [100, 101, 102, 103]
    assert "s after its Kafka timestamp, more than event_time.max_future (3600 s)" in reasons[100]
    assert reasons[101] == "event time -5000 ms is before 1970-01-01 (negative epoch milliseconds)"
    assert reasons[102].startswith("event time out of range") and reasons[103].startswith("event time out of range")
    windows = run.sinks[f"{topic_name}/windows"]
    assert sorted(zip(to_epoch_ms(windows["window_start"]) - T0_MS, windows["n"], strict=True)) == [
        (0, 5),
        (5_000, 5),
        (10_000, 5),
        (15_000, 5),
    ]
    assert run.late_records.empty
