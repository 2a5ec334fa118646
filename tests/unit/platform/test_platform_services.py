"""PostgreSQL/Redis service settings and the pure parts of their supervision (no server started)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from pydantic import SecretStr

from streamwise.config import PostgresSettings, RedisSettings, load_settings
from streamwise.platform.services import apt_lists_fresh, postgres_bin_dir, redis_config


def test_settings_read_their_own_environment_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    """Setup: STREAMWISE_POSTGRES_* and STREAMWISE_REDIS_* variables. Invariant: each model reads its
    own; the password stays hidden in repr and is revealed only in the client arguments."""
    monkeypatch.setenv("STREAMWISE_POSTGRES_PORT", "15432")
    monkeypatch.setenv("STREAMWISE_POSTGRES_PASSWORD", "s3cret")
    monkeypatch.setenv("STREAMWISE_REDIS_PORT", "16379")
    pg, rs = PostgresSettings(), RedisSettings()
    assert (pg.port, rs.port, pg.database, pg.user) == (15432, 16379, "streamwise", "streamwise")
    assert "s3cret" not in repr(pg)
    assert pg.conninfo() == {
        "host": "127.0.0.1",
        "port": 15432,
        "dbname": "streamwise",
        "user": "streamwise",
        "password": "s3cret",
        "connect_timeout": 5,
        "application_name": "streamwise",
    }
    assert pg.jdbc_url == "jdbc:postgresql://127.0.0.1:15432/streamwise"
    assert rs.client_kwargs()["port"] == 16379 and rs.client_kwargs()["password"] is None


def test_defaults_are_the_standard_ports() -> None:
    """Setup: nothing set. Invariant: 5432 and 6379 on loopback, as users expect."""
    assert (PostgresSettings().port, PostgresSettings().host, RedisSettings().port) == (5432, "127.0.0.1", 6379)


def test_sections_are_part_of_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Invariant: defaults on loopback; the environment and explicit overrides reach each section;
    the password stays a secret in reprs."""
    cfg = load_settings()
    assert (cfg.postgres.port, cfg.redis.port) == (5432, 6379)
    monkeypatch.setenv("STREAMWISE_REDIS_PORT", "2222")
    cfg = load_settings(postgres={"port": 1111})
    assert (cfg.postgres.port, cfg.redis.port) == (1111, 2222)
    assert cfg.postgres.jdbc_url == "jdbc:postgresql://127.0.0.1:1111/streamwise"
    assert "streamwise" not in repr(cfg.postgres.password)


def test_newest_postgres_version_is_chosen(tmp_path: Path) -> None:
    """Setup: a fake /usr/lib/postgresql with 9.6, 13 and 15 (and 16 without initdb). Invariant: 15."""
    for version, tools in (
        ("9.6", ("postgres", "initdb")),
        ("13", ("postgres", "initdb")),
        ("15", ("postgres", "initdb")),
        ("16", ("postgres",)),
    ):
        (tmp_path / version / "bin").mkdir(parents=True)
        for tool in tools:
            (tmp_path / version / "bin" / tool).touch()
    assert postgres_bin_dir(tmp_path) == tmp_path / "15" / "bin"
    assert postgres_bin_dir(tmp_path / "absent") is None


def test_apt_lists_are_fresh_only_when_present_and_recent(tmp_path: Path) -> None:
    """Setup: no lists; then a Packages file two days old; then one a minute old. Invariant: False,
    False, True (a day is the limit)."""
    assert not apt_lists_fresh(tmp_path)
    packages = tmp_path / "deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4"
    packages.touch()
    now = time.time()
    os.utime(packages, (now - 2 * 86400, now - 2 * 86400))
    assert not apt_lists_fresh(tmp_path, now=now)
    os.utime(packages, (now - 60, now - 60))
    assert apt_lists_fresh(tmp_path, now=now)


def test_redis_config_binds_loopback_with_the_append_only_file(tmp_path: Path) -> None:
    """Setup: a port and a data folder, without and with a password. Invariant: the exact config lines;
    requirepass only when a password is set."""
    text = redis_config(RedisSettings(port=16379), tmp_path)
    assert text.splitlines() == [
        "bind 127.0.0.1",
        "port 16379",
        "protected-mode yes",
        "daemonize no",
        f'dir "{tmp_path}"',
        "appendonly yes",
        "appendfsync everysec",
        'save ""',
        'logfile ""',
        "loglevel notice",
    ]
    assert redis_config(RedisSettings(password=SecretStr("pw")), tmp_path).splitlines()[-1] == 'requirepass "pw"'
