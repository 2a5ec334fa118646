"""The clickstream pipeline on the real broker and Spark: exact window counts under disorder, late data
beyond the watermark dropped, no double counting across a restart, bad records in the dead-letter topic."""

from __future__ import annotations

import pandas as pd
import pytest
from clickstream_model import PHASE_1, PHASE_2, T0, clickstream_on, delta_windows, expected_windows, produce

from streamwise.config import Settings
from streamwise.pipeline import await_queries, load_pipeline, resolve
from streamwise.pipeline.plan import Pipeline
from streamwise.platform.topics import create_topic, read_to_end


@pytest.fixture
def pipeline(settings: Settings, topic_name: str) -> Pipeline:
    """The shipped pipelines/clickstream.yaml, pointed at a fresh topic and its own output folder."""
    create_topic(settings.kafka, topic_name, partitions=1)
    create_topic(settings.kafka, f"{topic_name}.dlq", partitions=1)
    return Pipeline(clickstream_on(topic_name), settings)


def test_window_counts_exact_across_restart_with_late_data(spark, settings: Settings, pipeline) -> None:
    """Setup: phase 1 (out-of-order within the watermark) runs to completion with availableNow; then
    phase 2 (one event within the watermark, two behind it) runs as a new query on the same checkpoint.
    Invariant: Delta holds exactly the model's windows after each run; no window appears twice."""
    produce(settings, pipeline.spec.source.topic, PHASE_1)
    await_queries(pipeline.start(spark, once=True))
    first = delta_windows(spark, pipeline)
    pd.testing.assert_frame_equal(first, expected_windows([PHASE_1]), check_dtype=False)
    assert len(first) == 4  # [0,10) and [10,20) closed, each with /a and /b

    produce(settings, pipeline.spec.source.topic, PHASE_2)
    await_queries(pipeline.start(spark, once=True))
    second = delta_windows(spark, pipeline)
    pd.testing.assert_frame_equal(second, expected_windows([PHASE_1, PHASE_2]), check_dtype=False)
    assert not second.duplicated(["window_start", "page"]).any()
    # The in-watermark straggler (24 s) joined [20,30); the stragglers at 8 s and 19 s were dropped.
    row = second[(second.window_start == T0 + 20_000) & (second.page == "/a")]
    assert row.views.tolist() == [2]
    assert second[second.window_start == T0].views.sum() == 4

    # ...and the dropped ones are in the late-data ledger, with lateness against the 22 s watermark.
    ledger = spark.read.format("delta").load(str(pipeline.late_records_path)).toPandas()
    ledger["t"] = pd.to_datetime(ledger["event_time"], utc=True).astype("int64") // 1_000_000 - T0
    assert sorted(zip(ledger.page, ledger.t, ledger.lateness_ms, strict=True)) == [
        ("/a", 19_000, 3_000),
        ("/b", 8_000, 14_000),
    ]


def test_records_that_do_not_decode_go_to_the_dead_letter_topic(spark, settings: Settings, pipeline) -> None:
    """Setup: valid events interleaved with malformed JSON, a missing field and a mistyped event time.
    Invariant: the query finishes; each bad record is in <topic>.dlq with its original bytes, a reason
    and its source offset; the valid ones are counted."""
    bad = [b"{not json", b'{"user_id":"u1","event_time":1}', b'{"user_id":"u1","page":"/a","event_time":"soon"}']
    produce(settings, pipeline.spec.source.topic, [("/a", 1), ("/a", 2)], raw=bad)
    produce(settings, pipeline.spec.source.topic, [("/a", 30)])
    await_queries(pipeline.start(spark, once=True))

    counts = delta_windows(spark, pipeline)
    assert counts.to_dict("records") == [{"window_start": T0, "page": "/a", "views": 2}]

    letters = [
        (msg.value(), {k: v.decode() for k, v in msg.headers()})
        for msg in read_to_end(settings.kafka, pipeline.dlq_topic)
    ]
    assert [v for v, _ in letters] == bad
    # A mistyped value fails the whole record in PERMISSIVE mode, like malformed JSON.
    assert [h["dlq.reason"] for _, h in letters] == [
        "not valid JSON for the schema",
        "missing or mistyped field 'page'",
        "not valid JSON for the schema",
    ]
    assert [h["dlq.source.offset"] for _, h in letters] == ["2", "3", "4"]
    assert all(h["dlq.source.topic"] == pipeline.spec.source.topic for _, h in letters)


def test_two_pipelines_on_one_topic_each_see_every_event(spark, settings: Settings, topic_name: str) -> None:
    """Setup: the shipped clickstream and clickstream_trending pipelines, both pointed at one topic,
    started together (each its own checkpoint) over 3 windows of known traffic.
    Invariant: each pipeline saw every event (counts per window equal the produced ones), and the
    trending pipeline's rows are exactly the top 2 pages (by views, then name) of each window."""
    create_topic(settings.kafka, topic_name, partitions=2)
    create_topic(settings.kafka, f"{topic_name}.dlq", partitions=1)
    traffic = {0: {"/a": 5, "/b": 3, "/c": 3, "/d": 1}, 10: {"/b": 4, "/c": 2}, 20: {"/d": 6, "/a": 2, "/c": 2}}
    events = [
        (page, window + i % 10) for window, pages in traffic.items() for page, n in pages.items() for i in range(n)
    ]
    produce(settings, topic_name, [*events, ("/z", 100)])  # the last event closes the three windows

    plans = []
    for example in ("clickstream", "clickstream_trending"):
        spec = load_pipeline(resolve(example))
        steps = [s.model_copy(update={"n": 2}) if s.type == "top_n" else s for s in spec.steps]
        spec = spec.model_copy(
            update={
                "name": f"{example}_{topic_name}",
                "steps": steps,
                "source": spec.source.model_copy(update={"topic": topic_name}),
                "sinks": [spec.sinks[0].model_copy(update={"path": f"{topic_name}/{example}"})],
            }
        )
        plans.append(Pipeline(spec, settings))
    queries = [q for plan in plans for q in plan.start(spark, once=True)]
    await_queries(queries)

    counts = delta_windows(spark, plans[0])
    assert {(w, p): v for w, p, v in counts.itertuples(index=False)} == {
        (T0 + w * 1000, page): n for w, pages in traffic.items() for page, n in pages.items()
    }
    ranked = delta_ranked(spark, plans[1])
    top = {(r.window_start, int(r.rank)): (r.page, r.views) for r in ranked.itertuples()}
    assert top == {
        (T0, 1): ("/a", 5),
        (T0, 2): ("/b", 3),
        (T0 + 10_000, 1): ("/b", 4),
        (T0 + 10_000, 2): ("/c", 2),
        (T0 + 20_000, 1): ("/d", 6),
        (T0 + 20_000, 2): ("/a", 2),
    }
    assert len(ranked) == 6


def delta_ranked(spark, pipeline: Pipeline) -> pd.DataFrame:
    frame = spark.read.format("delta").load(str(pipeline.sink_path(pipeline.spec.sinks[0]))).toPandas()
    frame["window_start"] = pd.to_datetime(frame["window_start"], utc=True).astype("int64") // 1_000_000
    return frame[["window_start", "rank", "page", "views"]]
