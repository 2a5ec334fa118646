"""Spark's JDBC source and whose credentials it gets: the platform's PostgreSQL in the secure profile,
read over TLS verifying the server's certificate and name against the project's CA (pgjdbc's
sslmode=verify-full) as the sinks' role; another database refused without credentials of its own."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamwise.config import Settings, load_settings
from streamwise.pipeline.exceptions import PipelineError
from streamwise.pipeline.joins import jdbc_options, join
from streamwise.pipeline.spec import JdbcSide, JoinStep
from streamwise.platform.ports import free_port
from streamwise.platform.services import PostgresServer


@pytest.fixture
def secure_pg(streamwise_settings: Settings) -> Iterator[Settings]:
    """A PostgreSQL of the secure profile in a scratch state folder (outside pytest's own, which
    pytest makes unreachable to the postgres OS user whenever a session starts), with a table."""
    folder = Path(tempfile.mkdtemp(prefix="streamwise-jdbc-"))
    settings = load_settings(
        state_dir=folder / "state",
        cache_dir=streamwise_settings.cache,
        postgres={"port": free_port()},
        security={"enabled": True},
    )
    server = PostgresServer(settings)
    server.start()
    try:
        with server.connect() as conn:
            conn.execute("CREATE TABLE tiers (merchant_id text PRIMARY KEY, risk_tier text)")
            conn.execute("INSERT INTO tiers VALUES ('m1', 'low'), ('m2', 'high')")
        yield settings
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def test_spark_reads_the_secure_postgres_over_verified_tls(spark, secure_pg: Settings) -> None:
    """Setup: the secure PostgreSQL (hostssl only) and the JDBC options a join without a URL gets.
    Invariant: the URL asks for ssl=true&sslmode=verify-full with the project's CA, and Spark reads
    both rows through it (a plaintext or unverified connection would be refused by pg_hba)."""
    options = jdbc_options(JdbcSide(kind="jdbc", table="tiers"), secure_pg, {})
    assert "sslmode=verify-full" in options["url"] and options["user"] == "streamwise"
    rows = spark.read.format("jdbc").options(**options).load().orderBy("merchant_id").collect()
    assert [tuple(r) for r in rows] == [("m1", "low"), ("m2", "high")]


def test_a_join_to_another_database_without_credentials_is_refused_before_spark_connects(
    spark, streamwise_settings: Settings
) -> None:
    """Setup: a stream of payments joined over JDBC to a table on another server, the spec naming no
    user or password_env. Invariant: building the join raises PipelineError with the exact message,
    before Spark opens any connection (the other server's address does not even resolve)."""
    payments = spark.createDataFrame([("p1", "m1")], "payment_id STRING, merchant_id STRING")
    step = JoinStep(
        type="join",
        right=JdbcSide(kind="jdbc", table="merchants", url="jdbc:postgresql://crm.invalid:5432/crm"),
        condition="l.merchant_id = r.merchant_id",
    )
    with pytest.raises(PipelineError) as caught:
        join(payments, step, streamwise_settings)
    assert caught.value.message == (
        "jdbc join on 'merchants' to jdbc:postgresql://crm.invalid:5432/crm: the join names no credentials of "
        "its own, and the platform's are only for its own PostgreSQL"
    )
