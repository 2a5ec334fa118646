"""``verify`` counts the rows a sink sent to its own dead-letter topic (``<name>.dlq``) as accounted
for, not lost, on the real broker, Spark, PostgreSQL and Redis: per event id in a pass-through
pipeline, per window in a windowed one; a dead-lettered row the store holds anyway is a duplicate."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import yaml
from verify_helpers import SCHEMA, T0_MS, send_with_truth

from streamwise.config import Settings
from streamwise.pipeline import await_queries, parse_pipeline
from streamwise.pipeline.plan import Pipeline
from streamwise.platform.topics import create_topic
from streamwise.verify import readers, verify_pipeline

NUL_PAGE = "/a\x00"  # PostgreSQL text cannot hold a NUL byte: the sink dead-letters the row


def figures(report, sink_type: str) -> tuple:
    s = next(s for s in report.sinks if s.sink.startswith(sink_type + " "))
    return (s.sent, s.expected, s.found, s.lost, s.duplicated, s.late_ledgered, s.dead_lettered, s.unknown)


def test_rows_postgres_refuses_are_dead_lettered_per_event_id_and_not_lost(
    spark, settings: Settings, broker, services, topic_name: str
) -> None:
    """Setup: ids 0-9 as one ground-truth run; ids 2 and 6 have a NUL byte in page, and id 6 is sent
    twice (is_duplicate); id 9 has no page, which the pipeline requires (its own dead-letter topic).
    A pass-through pipeline writes Delta, PostgreSQL (key event_id) and Redis hashes ev:{event_id};
    one availableNow run. Then id 2 is inserted into the PostgreSQL table by hand.
    Invariant: PostgreSQL's <label>.dlq holds 3 rows (id 2, and id 6 twice, each stamped with the
    sink's writer id); PostgreSQL is expected to hold the 9 decodable ids less the 2 it refused (7),
    holds 7, and counts 1 + 3 dead-lettered; Delta (10) and Redis (9, a NUL byte is fine in Redis)
    count the pipeline's 1 only; all ok. With id 2 in the table too, PostgreSQL has exactly 1
    duplicated (id 2): a record both dead-lettered and stored."""
    create_topic(settings.kafka, topic_name, partitions=2)
    create_topic(settings.kafka, f"{topic_name}.dlq", partitions=1)
    events = [
        {
            "event_id": i,
            "user_id": f"u{i % 3}",
            "page": NUL_PAGE if i in (2, 6) else None if i == 9 else "/b",
            "event_time": T0_MS + i * 1000,
        }
        for i in range(10)
    ]
    send_with_truth(settings, topic_name, events, duplicates={6})
    spec = parse_pipeline(
        yaml.safe_dump(
            {
                "name": topic_name,
                "source": {"topic": topic_name, "schema": SCHEMA, "required": ["page"]},
                "sinks": [
                    {"type": "delta", "path": f"{topic_name}/events"},
                    {"type": "postgres", "table": topic_name, "key": ["event_id"], "order_by": "event_time"},
                    {"type": "redis", "key": f"{topic_name}:{{event_id}}", "fields": ["page"]},
                ],
            }
        )
    )
    plan = Pipeline(spec, settings)
    await_queries(plan.start(spark, once=True))

    report = verify_pipeline(spec, settings)
    postgres = report.sinks[1]
    letters = readers.dead_letter_rows(
        settings.kafka, spec.sinks[1].dead_letter_topic(postgres.query), ["event_id"], query=postgres.query
    )
    assert sorted(letters["event_id"]) == [2, 6, 6]
    assert report.ok, report
    assert figures(report, "delta") == (11, 10, 10, 0, 0, 0, 1, 0)
    assert figures(report, "postgres") == (11, 7, 7, 0, 0, 0, 4, 0)
    assert figures(report, "redis") == (11, 9, 9, 0, 0, 0, 1, 0)

    with psycopg.connect(**settings.postgres.conninfo()) as conn:
        conn.execute(
            f"INSERT INTO {topic_name} (event_id, user_id, page, event_time) VALUES (2, 'u2', '/a', %s)",
            [datetime.fromtimestamp((T0_MS + 2000) / 1000, UTC)],
        )
    tampered = verify_pipeline(spec, settings)
    assert figures(tampered, "postgres")[:5] == (11, 7, 8, 0, 1)
    assert tampered.sinks[1].duplicated_sample == (2,) and not tampered.ok


def test_a_window_row_postgres_refuses_is_dead_lettered_with_its_count(
    spark, settings: Settings, broker, services, topic_name: str
) -> None:
    """Setup: 10 s tumbling windows by page in update mode, PostgreSQL keyed by (window_start, page);
    events at T0+1..5 s, three on /a and two without a page, and at T0+12 s on /a; one availableNow run.
    Invariant: the null-page group of window T0 has a null key: its row (views 2) goes to the sink's
    dead-letter topic. Expected 6 - 2 = 4 events in the table, found 4, 2 dead-lettered, all ok."""
    create_topic(settings.kafka, topic_name, partitions=1)
    create_topic(settings.kafka, f"{topic_name}.dlq", partitions=1)
    pages = ["/a", None, "/a", None, "/a"]
    events = [
        {"event_id": i, "user_id": "u1", "page": page, "event_time": T0_MS + (i + 1) * 1000}
        for i, page in enumerate(pages)
    ] + [{"event_id": 5, "user_id": "u1", "page": "/a", "event_time": T0_MS + 12_000}]
    send_with_truth(settings, topic_name, events)
    spec = parse_pipeline(
        yaml.safe_dump(
            {
                "name": topic_name,
                "source": {"topic": topic_name, "schema": SCHEMA},
                "event_time": {"watermark": "5 seconds"},
                "output_mode": "update",
                "steps": [
                    {"type": "window", "duration": "10 seconds", "by": ["page"], "aggregates": {"views": "count(*)"}}
                ],
                "sinks": [{"type": "postgres", "table": topic_name, "key": ["window_start", "page"]}],
            }
        )
    )
    await_queries(Pipeline(spec, settings).start(spark, once=True))

    report = verify_pipeline(spec, settings)
    postgres = report.sinks[0]
    letters = readers.dead_letter_rows(
        settings.kafka, spec.sinks[0].dead_letter_topic(postgres.query), ["page", "views"], query=postgres.query
    )
    assert letters.to_dict("records") == [{"page": None, "views": 2}]
    assert (postgres.expected, postgres.found, postgres.lost, postgres.duplicated, postgres.dead_lettered) == (
        4,
        4,
        0,
        0,
        2,
    )
    assert report.ok, report
    with psycopg.connect(**settings.postgres.conninfo()) as conn:
        rows = conn.execute(f"SELECT window_start, page, views FROM {topic_name} ORDER BY 1, 2").fetchall()
    assert rows == [
        (datetime.fromtimestamp(T0_MS / 1000, UTC), "/a", 3),
        (datetime.fromtimestamp((T0_MS + 10_000) / 1000, UTC), "/a", 1),
    ]
