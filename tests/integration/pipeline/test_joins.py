"""Joins on the real broker and Spark: click-to-payment attribution between two streams within a time
bound, and enrichment from history held in Delta (a changed row is seen by the next run)."""

from __future__ import annotations

from streamwise.pipeline.spec import (
    DeltaSide,
    EventTime,
    JdbcSide,
    JoinStep,
    KafkaSource,
    PipelineSpec,
    StreamSide,
)
from streamwise.platform.topics import create_topic
from streamwise.sinks import DeltaSink
from streamwise.testing import produce_events, run_phases

T0 = 1_767_225_600_000
MIN = 60_000


def test_click_to_payment_attribution_within_ten_minutes(spark, settings, topic_name) -> None:
    """Setup: clicks by u1, u2, u3; payments by u1 (1 min after its click), u2 (15 min after: too late),
    u4 (never clicked), u3 (before its click).
    Invariant: exactly one attributed payment, u1's, carrying the click's page and the amount."""
    payments = f"{topic_name}_payments"
    create_topic(settings.kafka, payments, partitions=1)
    produce_events(
        settings,
        payments,
        [
            {"user_id": "u1", "amount": 50.0, "event_time": T0 + 1 * MIN},
            {"user_id": "u2", "amount": 20.0, "event_time": T0 + 15 * MIN},
            {"user_id": "u4", "amount": 99.0, "event_time": T0 + 2 * MIN},
            {"user_id": "u3", "amount": 7.0, "event_time": T0 - 1 * MIN},
        ],
    )
    spec = PipelineSpec(
        name=topic_name,
        source=KafkaSource(
            topic=topic_name, schema="user_id STRING, page STRING, event_time LONG", required=["user_id"]
        ),
        event_time=EventTime(watermark="1 hour"),
        steps=[
            JoinStep(
                type="join",
                right=StreamSide(
                    kind="stream",
                    topic=payments,
                    schema="user_id STRING, amount DOUBLE, event_time LONG",
                    required=["user_id", "amount"],
                    watermark="1 hour",
                ),
                condition="r.user_id = l.user_id AND r.event_time BETWEEN l.event_time AND l.event_time + INTERVAL 10 MINUTES",
                prefix="payment_",
                columns=["amount", "event_time"],
            )
        ],
        sinks=[DeltaSink(type="delta", path=f"{topic_name}/attributed")],
        late_records={"enabled": False},
    )
    clicks = [
        {"user_id": u, "page": f"/p/{u}", "event_time": T0 + i * 10_000} for i, u in enumerate(["u1", "u2", "u3"])
    ]
    run = run_phases(spark, settings, spec, [clicks])
    out = run.sinks[f"{topic_name}/attributed"]
    assert out[["user_id", "page", "payment_amount"]].values.tolist() == [["u1", "/p/u1", 50.0]]


def test_enrichment_from_delta_history_sees_changed_rows(spark, settings, topic_name) -> None:
    """Setup: a Delta table of user segments; a pipeline left-joins page views to it; between two runs
    on the same checkpoint, u1's segment changes.
    Invariant: views of the first run carry the old segment, views of the second the new one, and an
    unknown user gets null."""
    history = settings.state / "warehouse" / topic_name / "segments"
    spark.createDataFrame([("u1", "new"), ("u2", "loyal")], "user_id STRING, segment STRING").write.format(
        "delta"
    ).save(str(history))
    spec = PipelineSpec(
        name=topic_name,
        source=KafkaSource(topic=topic_name, schema="user_id STRING, page STRING, event_time LONG"),
        steps=[
            JoinStep(
                type="join",
                right=DeltaSide(kind="delta", path=f"{topic_name}/segments"),
                condition="l.user_id = r.user_id",
                how="left",
                prefix="",
                columns=["segment"],
            )
        ],
        sinks=[DeltaSink(type="delta", path=f"{topic_name}/enriched")],
    )
    first = [{"user_id": "u1", "page": "/a", "event_time": T0}, {"user_id": "u9", "page": "/b", "event_time": T0}]
    run_phases(spark, settings, spec, [first])
    spark.createDataFrame([("u1", "loyal"), ("u2", "loyal")], "user_id STRING, segment STRING").write.format(
        "delta"
    ).mode("overwrite").save(str(history))
    run = run_phases(spark, settings, spec, [[{"user_id": "u1", "page": "/c", "event_time": T0 + 5}]])
    rows = sorted(
        map(tuple, run.sinks[f"{topic_name}/enriched"][["page", "user_id", "segment"]].values.tolist()),
        key=lambda r: r[0],
    )
    assert rows == [("/a", "u1", "new"), ("/b", "u9", None), ("/c", "u1", "loyal")]


def test_enrichment_from_postgres_picks_up_a_changed_reference_row(spark, settings, topic_name, postgres) -> None:
    """Setup: a PostgreSQL reference table of merchants; a pipeline left-joins payments to it over
    JDBC; between two runs on the same checkpoint (no new query plan, same process), merchant m1's
    risk tier is updated in PostgreSQL.
    Invariant: payments of the first run carry 'low', those of the second 'high'; unknown merchants null."""
    import psycopg

    table = f"{topic_name}_merchants"
    spec = merchant_enrichment(settings, topic_name, table, "('m1', 'low'), ('m2', 'medium')")
    run_phases(
        spark,
        settings,
        spec,
        [
            [
                {"payment_id": "p1", "merchant_id": "m1", "event_time": T0},
                {"payment_id": "p2", "merchant_id": "m9", "event_time": T0},
            ]
        ],
    )
    with psycopg.connect(**settings.postgres.conninfo()) as conn:
        conn.execute(f"UPDATE {table} SET risk_tier = 'high' WHERE merchant_id = 'm1'")
    run = run_phases(spark, settings, spec, [[{"payment_id": "p3", "merchant_id": "m1", "event_time": T0 + 1}]])
    rows = run.sinks[f"{topic_name}/enriched"][["payment_id", "merchant_risk_tier"]].values.tolist()
    assert sorted(map(tuple, rows)) == [("p1", "low"), ("p2", None), ("p3", "high")]


def test_a_running_query_uses_a_reference_row_changed_in_postgres_from_its_next_batch(
    spark, settings, topic_name, postgres
) -> None:
    """Setup: the PostgreSQL merchants table and the JDBC left join as above, but one query started
    once and kept running (1 s trigger). Payment p1 (merchant m1, 'low') is produced and waited for
    in the sink; then m1 becomes 'high' in PostgreSQL and p2 is produced.
    Invariant: p2 carries 'high' and p1 keeps 'low', written by the same query run (same run id,
    never restarted): each micro-batch reads the reference table as it is then."""
    import psycopg

    from streamwise.pipeline.plan import Pipeline
    from streamwise.testing import wait_for
    from streamwise.verify import readers

    table = f"{topic_name}_merchants"
    spec = merchant_enrichment(settings, topic_name, table, "('m1', 'low')")
    create_topic(settings.kafka, topic_name, partitions=1)
    plan = Pipeline(spec, settings)
    (query,) = plan.start(spark)
    try:

        def tiers() -> dict[str, str]:
            rows = readers.delta_rows(plan.sink_path(spec.sinks[0]), ["payment_id", "merchant_risk_tier"])
            return dict(zip(rows["payment_id"], rows["merchant_risk_tier"], strict=True))

        produce_events(settings, topic_name, [{"payment_id": "p1", "merchant_id": "m1", "event_time": T0}])
        wait_for(lambda: "p1" in tiers(), bound_s=120, what="p1 in the sink")
        with psycopg.connect(**settings.postgres.conninfo()) as conn:
            conn.execute(f"UPDATE {table} SET risk_tier = 'high' WHERE merchant_id = 'm1'")
        produce_events(settings, topic_name, [{"payment_id": "p2", "merchant_id": "m1", "event_time": T0 + 1}])
        wait_for(lambda: "p2" in tiers(), bound_s=120, what="p2 in the sink")
        assert query.isActive and query.exception() is None
        run_ids = {p["runId"] for p in query.recentProgress}
    finally:
        query.stop()
    assert tiers() == {"p1": "low", "p2": "high"}
    assert run_ids == {str(query.runId)}


def merchant_enrichment(settings, topic: str, table: str, merchants: str) -> PipelineSpec:
    """A PostgreSQL table of merchants' risk tiers holding ``merchants`` (SQL VALUES), and a pipeline
    left-joining payments on ``topic`` to it over JDBC into a Delta table."""
    import psycopg

    with psycopg.connect(**settings.postgres.conninfo()) as conn:
        conn.execute(f"CREATE TABLE {table} (merchant_id TEXT PRIMARY KEY, risk_tier TEXT)")
        conn.execute(f"INSERT INTO {table} VALUES {merchants}")
    return PipelineSpec(
        name=topic,
        source=KafkaSource(topic=topic, schema="payment_id STRING, merchant_id STRING, event_time LONG"),
        steps=[
            JoinStep(
                type="join",
                right=JdbcSide(kind="jdbc", table=table),
                condition="l.merchant_id = r.merchant_id",
                how="left",
                prefix="merchant_",
                columns=["risk_tier"],
            )
        ],
        sinks=[DeltaSink(type="delta", path=f"{topic}/enriched")],
    )
