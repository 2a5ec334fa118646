"""Whose credentials a JDBC enrichment join reads with: the platform's PostgreSQL as the sinks' role;
any other database only with the spec's own user and a password from the environment, never the
platform's."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from streamwise.config import Settings, load_settings
from streamwise.pipeline.exceptions import PipelineError
from streamwise.pipeline.joins import is_platform_postgres, jdbc_options
from streamwise.pipeline.spec import JdbcSide
from streamwise.secret_files import write_secret

PLATFORM_PASSWORD = "platform-secret-pw"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings whose PostgreSQL password file holds a known password."""
    cfg = load_settings(state_dir=tmp_path, postgres={"port": 15432})
    assert cfg.postgres.password_file is not None
    write_secret(cfg.postgres.password_file, PLATFORM_PASSWORD)
    return cfg


def test_the_platforms_database_is_read_as_the_sinks_role(settings: Settings) -> None:
    """Setup: a join without a URL, and one whose URL names the platform's database as localhost.
    Invariant: both read the platform's URL as the configured user with its password file's password."""
    expected = {
        "url": "jdbc:postgresql://127.0.0.1:15432/streamwise",
        "dbtable": "merchants",
        "user": "streamwise",
        "password": PLATFORM_PASSWORD,
        "driver": "org.postgresql.Driver",
    }
    assert jdbc_options(JdbcSide(kind="jdbc", table="merchants"), settings, {}) == expected
    same = JdbcSide(kind="jdbc", table="merchants", url="jdbc:postgresql://localhost:15432/streamwise")
    assert jdbc_options(same, settings, {}) == expected


def test_another_database_without_credentials_is_refused(settings: Settings) -> None:
    """Setup: a join to another server (and to another database of the same server) naming no user
    or password_env. Invariant: PipelineError with the exact message; the platform's password appears
    nowhere."""
    for url in ("jdbc:postgresql://db.example.com:5432/crm?ssl=true", "jdbc:postgresql://127.0.0.1:15432/other"):
        side = JdbcSide(kind="jdbc", table="customers", url=url)
        with pytest.raises(PipelineError) as caught:
            jdbc_options(side, settings, {})
        assert caught.value.message == (
            f"jdbc join on 'customers' to {url.split('?')[0]}: the join names no credentials of its own, "
            "and the platform's are only for its own PostgreSQL"
        )
        assert PLATFORM_PASSWORD not in str(caught.value)


def test_another_database_reads_with_its_own_user_and_the_password_from_its_variable(settings: Settings) -> None:
    """Setup: a join to another server with user and password_env; the variable unset, then set.
    Invariant: unset is a PipelineError naming the variable; set, the options carry that user and
    password, never the platform's."""
    side = JdbcSide(
        kind="jdbc", table="customers", url="jdbc:postgresql://db.example.com/crm", user="reader", password_env="CRM_PW"
    )
    with pytest.raises(PipelineError, match=r"environment variable CRM_PW \(its password_env\) is not set"):
        jdbc_options(side, settings, {})
    options = jdbc_options(side, settings, {"CRM_PW": "crm-pw"})
    assert (options["url"], options["user"], options["password"]) == (
        "jdbc:postgresql://db.example.com/crm",
        "reader",
        "crm-pw",
    )
    assert PLATFORM_PASSWORD not in options.values()


def test_a_spec_cannot_hold_the_password_inline() -> None:
    """Invariant: 'password' on a jdbc side is refused with a message pointing to password_env."""
    with pytest.raises(ValidationError, match="a jdbc join takes no inline password .* name it in password_env"):
        JdbcSide.model_validate({"kind": "jdbc", "table": "t", "url": "jdbc:postgresql://h/db", "password": "x"})


@pytest.mark.parametrize(
    ("url", "platform"),
    [
        ("jdbc:postgresql://127.0.0.1:15432/streamwise", True),
        ("jdbc:postgresql://localhost:15432/streamwise?sslmode=require", True),
        ("jdbc:postgresql://127.0.0.1:5432/streamwise", False),
        ("jdbc:postgresql://127.0.0.1:15432/streamwise2", False),
        ("jdbc:postgresql://evil.example.com:15432/streamwise", False),
        ("jdbc:mysql://127.0.0.1:15432/streamwise", False),
    ],
)
def test_what_counts_as_the_platforms_database(settings: Settings, url: str, platform: bool) -> None:
    """Invariant: host (loopback names alike), port and database must all match."""
    assert is_platform_postgres(url, settings.postgres) is platform
