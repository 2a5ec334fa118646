"""``verify`` on the real broker, Spark, PostgreSQL and Redis: exact per-sink figures for a pass-through
pipeline (with injected duplicates and a dead letter) and for windowed counts (with late data in the
ledger and open windows), then exact figures again after the sinks are tampered with."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pyarrow.compute as pc
import yaml
from cli_process import child_env
from deltalake import DeltaTable, write_deltalake
from typer import Typer
from typer.testing import CliRunner
from verify_helpers import SCHEMA, T0_MS, send_with_truth

from streamwise.config import Settings
from streamwise.pipeline import await_queries, parse_pipeline
from streamwise.pipeline.plan import Pipeline
from streamwise.platform.topics import create_topic
from streamwise.testing import produce_events
from streamwise.verify import verify_pipeline


def pipeline_file(tmp_path: Path, spec: dict) -> Path:
    path = tmp_path / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def figures(report, sink_type: str) -> tuple:
    s = next(s for s in report.sinks if s.sink.startswith(sink_type + " "))
    return (s.sent, s.expected, s.found, s.lost, s.duplicated, s.late_ledgered, s.dead_lettered, s.open)


def test_pass_through_sinks_hold_every_record_exactly_and_tampering_is_caught(
    spark,
    settings: Settings,
    broker,
    services,
    topic_name: str,
    tmp_path: Path,
) -> None:
    """Setup: 13 events (ids 0-12) as one ground-truth run; ids 3 and 7 sent twice (is_duplicate); id
    12 has no page, which the pipeline requires (dead-lettered); plus one undecodable record that no
    run sent. The pass-through pipeline writes Delta, PostgreSQL (key event_id), Redis hashes
    ev:{event_id} and Kafka alerts; one availableNow run.
    Invariant: Delta and alerts hold the 14 decodable records (duplicates twice), PostgreSQL and Redis
    the 12 ids once; 1 dead-lettered, nothing lost or duplicated. Then one PostgreSQL row deleted and
    one Delta row appended again: exactly 1 lost (id 5) and 1 duplicated (id 2), and the CLI exits 1."""
    create_topic(settings.kafka, topic_name, partitions=2)
    create_topic(settings.kafka, f"{topic_name}.dlq", partitions=1)
    events = [
        {"event_id": i, "user_id": f"u{i % 3}", "page": "/a" if i % 2 else "/b", "event_time": T0_MS + i * 1000}
        for i in range(12)
    ] + [{"event_id": 12, "user_id": "u0", "page": None, "event_time": T0_MS}]
    send_with_truth(settings, topic_name, events, duplicates={3, 7})
    produce_events(settings, topic_name, [b"{not json"])
    spec = {
        "name": topic_name,
        "source": {"topic": topic_name, "schema": SCHEMA, "required": ["page"]},
        "sinks": [
            {"type": "delta", "path": f"{topic_name}/events"},
            {"type": "postgres", "table": topic_name, "key": ["event_id"], "order_by": "event_time"},
            {"type": "redis", "key": f"{topic_name}:{{event_id}}", "fields": ["page"]},
            {"type": "kafka_alerts", "topic": f"{topic_name}_alerts", "key": "user_id"},
        ],
    }
    path = pipeline_file(tmp_path, spec)
    plan = Pipeline(parse_pipeline(path.read_text()), settings)
    await_queries(plan.start(spark, once=True))

    report = verify_pipeline(plan.spec, settings)
    assert (report.rule, len(report.runs), report.ok) == ("pass-through", 1, True)
    assert figures(report, "delta") == (15, 14, 14, 0, 0, 0, 1, 0)
    assert figures(report, "kafka_alerts") == (15, 14, 14, 0, 0, 0, 1, 0)
    assert figures(report, "postgres") == (15, 12, 12, 0, 0, 0, 1, 0)
    assert figures(report, "redis") == (15, 12, 12, 0, 0, 0, 1, 0)

    with psycopg.connect(**settings.postgres.conninfo()) as conn:
        conn.execute(f"DELETE FROM {topic_name} WHERE event_id = 5")
    table_path = str(plan.sink_path(plan.spec.sinks[0]))
    table = DeltaTable(table_path).to_pyarrow_table()
    write_deltalake(table_path, table.filter(pc.equal(table["event_id"], 2)), mode="append")

    tampered = verify_pipeline(plan.spec, settings)
    assert figures(tampered, "postgres")[:5] == (15, 12, 11, 1, 0)
    assert figures(tampered, "delta")[:5] == (15, 14, 15, 0, 1)
    by_type = {s.sink.split()[0]: s for s in tampered.sinks}
    assert (by_type["postgres"].lost_sample, by_type["delta"].duplicated_sample) == ((5,), (2,))
    assert not tampered.ok

    app = Typer()
    from streamwise.cli.verify import verify

    app.command()(verify)
    result = CliRunner().invoke(app, [str(path), "--json", str(tmp_path / "report.json")], env=child_env(settings))
    assert result.exit_code == 1, result.output
    assert "lost or duplicated records in delta" in result.output
    written = json.loads((tmp_path / "report.json").read_text())
    assert written["ok"] is False and [s["lost"] for s in written["sinks"]] == [0, 1, 0, 0]


# (page, seconds after T0) per phase; each phase is its own ground-truth run with ids from 0.
PHASE_1 = [("/a", 1), ("/a", 3), ("/b", 5), ("/a", 12), ("/a", 2), ("/b", 15), ("/b", 21), ("/a", 27)]
# After phase 1 the watermark is 27 - 5 = 22 s: 8 s and 19 s are behind it (ledgered); 24 s is not.
PHASE_2 = [("/a", 24), ("/b", 8), ("/b", 33), ("/a", 19), ("/a", 44)]


def test_window_counts_match_the_truth_minus_the_ledger_and_open_windows_are_not_lost(
    spark,
    settings: Settings,
    broker,
    services,
    topic_name: str,
    tmp_path: Path,
) -> None:
    """Setup: 10 s tumbling windows by page, 5 s watermark, Delta and PostgreSQL (key window_start,
    page) sinks; phase 1 then phase 2, each its own ground-truth run, each run with availableNow.
    Invariant: after phase 2 the watermark is 39 s: windows [0,10), [10,20), [20,30) are closed and
    hold 4 + 2 + 3 = 9 of the 13 events sent; 8 s and 19 s are in the ledger (2); 33 s and 44 s are in
    open windows (2); nothing lost or duplicated in either sink. Then two PostgreSQL counts raised by
    1, in window [0,10) (whose 8 s event the ledger holds) and in [20,30): the ledger is exact, so
    each is 1 duplicated event."""
    create_topic(settings.kafka, topic_name, partitions=1)
    create_topic(settings.kafka, f"{topic_name}.dlq", partitions=1)
    spec = parse_pipeline(
        yaml.safe_dump(
            {
                "name": topic_name,
                "source": {"topic": topic_name, "schema": SCHEMA},
                "event_time": {"watermark": "5 seconds"},
                "steps": [
                    {"type": "window", "duration": "10 seconds", "by": ["page"], "aggregates": {"views": "count(*)"}}
                ],
                "sinks": [
                    {"type": "delta", "path": f"{topic_name}/views"},
                    {"type": "postgres", "table": topic_name, "key": ["window_start", "page"]},
                ],
            }
        )
    )
    plan = Pipeline(spec, settings)
    for phase in (PHASE_1, PHASE_2):
        events = [
            {"event_id": i, "user_id": "u1", "page": p, "event_time": T0_MS + s * 1000}
            for i, (p, s) in enumerate(phase)
        ]
        send_with_truth(settings, topic_name, events)
        await_queries(plan.start(spark, once=True))

    report = verify_pipeline(spec, settings)
    assert (report.rule, len(report.runs), report.ok) == ("tumbling window 10 seconds: views per window", 2, True)
    for sink in ("delta", "postgres"):
        assert figures(report, sink) == (13, 9, 9, 0, 0, 2, 0, 2), sink
    assert report.sinks[0].note == "watermark 2026-01-01 00:00:39"

    with psycopg.connect(**settings.postgres.conninfo()) as conn:
        conn.execute(
            f"UPDATE {topic_name} SET views = views + 1 WHERE page = '/b' AND window_start IN (%s, %s)",
            [datetime.fromtimestamp(t / 1000, UTC) for t in (T0_MS, T0_MS + 20_000)],
        )
    tampered = verify_pipeline(spec, settings)
    postgres = tampered.sinks[1]
    assert (postgres.expected, postgres.found, postgres.lost, postgres.duplicated) == (9, 11, 0, 2)
    assert postgres.duplicated_sample == (T0_MS, T0_MS + 20_000)
    assert tampered.sinks[0].ok and not tampered.ok


def test_nothing_checked_and_rows_it_cannot_classify_are_not_ok(
    spark, settings: Settings, broker, topic_name: str, tmp_path: Path
) -> None:
    """Setup: ids 0-2 sent as one ground-truth run; a pass-through pipeline writing a Delta table and a
    console, run once; then two rows appended to the table: id 99 (never sent) and one without an
    event id. Then the same pipeline with its console sink only.
    Invariant: the Delta sink is checked with nothing lost or duplicated but 2 unknown, so neither it
    nor the report is ok and the CLI exits 1 naming it; with the console only, nothing is checked,
    the report is not ok and the CLI exits 2 saying nothing was verified and why."""
    import pyarrow as pa

    create_topic(settings.kafka, topic_name, partitions=1)
    create_topic(settings.kafka, f"{topic_name}.dlq", partitions=1)
    send_with_truth(
        settings,
        topic_name,
        [{"event_id": i, "user_id": "u1", "page": "/a", "event_time": T0_MS + i} for i in range(3)],
    )
    table = tmp_path / "events"
    source = {"topic": topic_name, "schema": SCHEMA}
    both = pipeline_file(
        tmp_path,
        {"name": topic_name, "source": source, "sinks": [{"type": "delta", "path": str(table)}, {"type": "console"}]},
    )
    spec = parse_pipeline(both.read_text())
    await_queries(Pipeline(spec, settings).start(spark, once=True))
    assert verify_pipeline(spec, settings).ok

    written = DeltaTable(str(table)).to_pyarrow_table()
    column = written.schema.get_field_index("event_id")
    strays = written.slice(0, 2).set_column(column, "event_id", pa.array([99, None], written.schema.field(column).type))
    write_deltalake(str(table), strays, mode="append")
    report = verify_pipeline(spec, settings)
    delta, console = report.sinks
    assert (delta.checked, delta.expected, delta.found, delta.lost, delta.duplicated, delta.unknown, delta.ok) == (
        True,
        3,
        5,
        0,
        0,
        2,
        False,
    )
    assert (console.checked, console.note, console.ok) == (False, "a console sink keeps nothing", False)
    assert (report.checked, report.ok) == (True, False)

    app = Typer()
    from streamwise.cli.verify import verify

    app.command()(verify)
    result = CliRunner().invoke(app, [str(both)], env=child_env(settings))
    assert result.exit_code == 1, result.output
    assert f"delta {table} holds 2 rows verify cannot classify" in " ".join(result.output.split())

    console_only = pipeline_file(tmp_path, {"name": topic_name, "source": source, "sinks": [{"type": "console"}]})
    nothing = verify_pipeline(parse_pipeline(console_only.read_text()), settings)
    assert (nothing.checked, nothing.ok, [s.checked for s in nothing.sinks]) == (False, False, [False])
    result = CliRunner().invoke(app, [str(console_only)], env=child_env(settings))
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())
    assert f"nothing verified: no sink of {topic_name} can be compared with the ground truth" in said
    assert "console : a console sink keeps nothing" in said and "add a sink verify can read back" in said
