"""The hardened settings of PostgreSQL and Redis, without starting a server: where passwords come
from, what clients ask for in the secure profile, pg_hba.conf, and redis.conf refusing values that
would smuggle in a directive."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from streamwise.config import PostgresSettings, RedisSettings, load_settings
from streamwise.errors import ConfigError
from streamwise.platform.certificates import TlsFiles
from streamwise.platform.services import pg_hba, redis_config, store_clients
from streamwise.secret_files import write_secret


def test_passwords_come_from_the_state_folders_files_unless_set(tmp_path: Path) -> None:
    """Setup: settings for a state folder, with nothing set; then a password file written (0600).
    Invariant: both stores' clients read STATE/security/<store>.password; an explicit password wins;
    a missing file is a ConfigError saying to start the platform; no TLS keywords by default."""
    cfg = load_settings(state_dir=tmp_path)
    pg, rs = cfg.postgres, cfg.redis
    assert (pg.password, pg.password_file) == (None, tmp_path / "security" / "postgres.password")
    assert rs.password_file == tmp_path / "security" / "redis.password"
    with pytest.raises(ConfigError, match="secret file .*postgres.password does not exist"):
        pg.conninfo()
    write_secret(tmp_path / "security" / "postgres.password", "file-pw")
    write_secret(tmp_path / "security" / "redis.password", "redis-pw")
    assert pg.conninfo()["password"] == "file-pw" and "sslmode" not in pg.conninfo()
    assert pg.jdbc_properties()["password"] == "file-pw"
    assert rs.client_kwargs()["password"] == "redis-pw" and "ssl" not in rs.client_kwargs()
    explicit = load_settings(state_dir=tmp_path, postgres={"password": "mine"})
    assert explicit.postgres.password_file is None and explicit.postgres.conninfo()["password"] == "mine"


def test_the_secure_profile_makes_clients_verify_the_server(tmp_path: Path) -> None:
    """Setup: settings with security.enabled. Invariant: psycopg gets sslmode=verify-full with the
    project's CA, the JDBC URL the same, redis-py ssl with the CA and host-name checking."""
    cfg = load_settings(
        state_dir=tmp_path, postgres={"password": "pw"}, redis={"password": "pw"}, security={"enabled": True}
    )
    ca = tmp_path / "security" / "ca.pem"
    assert cfg.postgres.conninfo()["sslmode"] == "verify-full" and cfg.postgres.conninfo()["sslrootcert"] == str(ca)
    assert (
        cfg.postgres.jdbc_url
        == f"jdbc:postgresql://127.0.0.1:5432/streamwise?ssl=true&sslmode=verify-full&sslrootcert={ca}"
    )
    kwargs = cfg.redis.client_kwargs()
    assert (kwargs["ssl"], kwargs["ssl_ca_certs"], kwargs["ssl_check_hostname"]) == (True, str(ca), True)


def test_the_sinks_role_cannot_be_the_superuser() -> None:
    """Invariant: user == admin_user is refused at validation."""
    with pytest.raises(ValueError, match="user and admin_user are both 'postgres'"):
        PostgresSettings(user="postgres", admin_user="postgres")


def test_pg_hba_is_scram_everywhere_and_tls_only_in_the_secure_profile() -> None:
    """Invariant: exact lines; hostssl only when TLS is on; other sources only when not on loopback; no trust."""
    assert pg_hba(False, "127.0.0.1").splitlines()[1:] == [
        "local all all peer",
        "host all all 127.0.0.1/32 scram-sha-256",
        "host all all ::1/128 scram-sha-256",
    ]
    assert pg_hba(True, "0.0.0.0").splitlines()[2:] == [
        "hostssl all all 127.0.0.1/32 scram-sha-256",
        "hostssl all all ::1/128 scram-sha-256",
        "hostssl all all 0.0.0.0/0 scram-sha-256",
        "hostssl all all ::/0 scram-sha-256",
    ]


def test_redis_config_with_a_password_and_tls(tmp_path: Path) -> None:
    """Setup: a password and TLS files. Invariant: no plaintext port, the TLS port, the files, client
    certificates not required, requirepass last."""
    tls = TlsFiles(cert=tmp_path / "r.pem", key=tmp_path / "r.key", ca=tmp_path / "ca.pem", bundle=tmp_path / "b.pem")
    lines = redis_config(RedisSettings(port=16379), tmp_path, password=SecretStr("pw"), tls=tls).splitlines()
    assert lines[1] == "port 0"
    assert lines[-6:] == [
        "tls-port 16379",
        f'tls-cert-file "{tmp_path}/r.pem"',
        f'tls-key-file "{tmp_path}/r.key"',
        f'tls-ca-cert-file "{tmp_path}/ca.pem"',
        "tls-auth-clients no",
        'requirepass "pw"',
    ]


@pytest.mark.parametrize(
    ("settings", "password", "message"),
    [
        (
            {"host": "127.0.0.1\nrename-command CONFIG ''"},
            None,
            "redis.host (\"127.0.0.1\\nrename-command CONFIG ''\") holds a newline, which would start a directive of its own in redis.conf",
        ),
        (
            {"host": "127.0.0.1 0.0.0.0"},
            None,
            "redis.host ('127.0.0.1 0.0.0.0') is not a single token (spaces, quotes and backslashes are refused in redis.conf)",
        ),
        (
            {},
            "pw\nrequirepass x",
            "redis.password holds a newline, which would start a directive of its own in redis.conf",
        ),
        (
            {},
            'pw" x',
            "redis.password is not a single token (spaces, quotes and backslashes are refused in redis.conf)",
        ),
    ],
)
def test_redis_config_refuses_a_value_that_is_not_one_token(
    tmp_path: Path, settings: dict[str, str], password: str | None, message: str
) -> None:
    """Setup: a host or a password with a newline, a space or a quote. Invariant: a ConfigError naming
    the field (a password's value never shown), before any file is written."""
    with pytest.raises(ConfigError) as caught:
        redis_config(RedisSettings(**settings), tmp_path, password=SecretStr(password) if password else None)
    assert caught.value.message == message
    if password:
        assert password not in str(caught.value)


def test_redis_config_refuses_a_port_out_of_range(tmp_path: Path) -> None:
    """Setup: a port set past validation (model_copy does not validate). Invariant: a ConfigError."""
    rs = RedisSettings().model_copy(update={"port": 70000})
    with pytest.raises(ConfigError, match=r"^redis.port 70000 is not a TCP port \(1-65535\)"):
        redis_config(rs, tmp_path)


def test_store_clients_turns_tls_on_for_settings_switched_to_the_secure_profile(tmp_path: Path) -> None:
    """Setup: settings loaded with the profile off, then switched on with model_copy (validators do not
    run again). Invariant: store_clients points both stores' clients at the project's CA (made on the
    way); with the profile off it returns the settings unchanged."""
    plain = load_settings(state_dir=tmp_path)
    assert store_clients(plain) is plain
    switched = plain.model_copy(update={"security": plain.security.model_copy(update={"enabled": True})})
    secure = store_clients(switched)
    ca = tmp_path / "security" / "ca.pem"
    assert ca.is_file() and (secure.postgres.ssl_ca_location, secure.redis.ssl_ca_location) == (ca, ca)
    assert secure.postgres.tls() == {"sslmode": "verify-full", "sslrootcert": str(ca)}
