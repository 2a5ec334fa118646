"""PostgreSQL and Redis hardened, against the real servers from Debian's packages: random passwords in
0600 files, the sinks' PostgreSQL role without superuser rights, a state folder from before random
passwords migrated, and in the secure profile TLS only (PostgreSQL ``hostssl``, Redis ``tls-port``)."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis
from tls_probe import s_client

from streamwise.config import Settings, load_settings
from streamwise.platform.ports import free_ports
from streamwise.platform.services import (
    LEGACY_PASSWORD,
    PostgresServer,
    RedisServer,
    _let_user_reach,
    _run_as,
    _server_user,
    postgres_bin_dir,
)


@pytest.fixture
def scratch_dir() -> Iterator[Path]:
    """A folder outside pytest's own: pytest takes the search bit off /tmp/pytest-of-<user> whenever a
    session starts, and the postgres OS user (when we are root) must pass through it to its data."""
    folder = Path(tempfile.mkdtemp(prefix="streamwise-security-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def scratch_settings(folder: Path, *, secure: bool = False) -> Settings:
    """A state folder of its own and free ports, so servers here never touch the session's."""
    postgres, redis_port = free_ports(2)
    return load_settings(
        state_dir=folder / "state",
        postgres={"port": postgres},
        redis={"port": redis_port},
        security={"enabled": secure},
    )


@pytest.fixture
def store_settings(scratch_dir: Path) -> Settings:
    """Settings of the secure profile in a scratch state folder."""
    return scratch_settings(scratch_dir, secure=True)


@pytest.fixture
def secure_postgres(store_settings: Settings) -> Iterator[PostgresServer]:
    server = PostgresServer(store_settings)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def secure_redis(store_settings: Settings) -> Iterator[RedisServer]:
    server = RedisServer(store_settings)
    server.start()
    yield server
    server.stop()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_postgres_passwords_are_random_files_of_mode_0600_and_a_wrong_one_is_refused(
    postgres: PostgresServer, streamwise_settings: Settings
) -> None:
    """Setup: the session's PostgreSQL, started with nothing but a state folder.
    Invariant: the sinks' and the superuser's passwords are files under STATE/security with mode 0600,
    neither the old fixed 'streamwise'; a login with a wrong password is refused with PostgreSQL's
    'password authentication failed'; pg_hba.conf has SCRAM host lines and no 'trust'."""
    pg = streamwise_settings.postgres
    assert pg.password is None and pg.password_file == streamwise_settings.state / "security" / "postgres.password"
    assert (mode(pg.password_file), mode(postgres.admin_password_file)) == (0o600, 0o600)
    assert LEGACY_PASSWORD not in {pg.password_file.read_text().strip(), postgres.admin_password_file.read_text()}
    with pytest.raises(psycopg.OperationalError, match=f'password authentication failed for user "{pg.user}"'):
        psycopg.connect(**{**pg.conninfo(), "password": LEGACY_PASSWORD})
    hba = (postgres.data_dir / "pg_hba.conf").read_text()
    assert "trust" not in hba
    assert [line for line in hba.splitlines() if line.startswith("host")] == [
        "host all all 127.0.0.1/32 scram-sha-256",
        "host all all ::1/128 scram-sha-256",
    ]


def test_the_sinks_role_is_no_superuser_and_cannot_create_roles_alter_the_system_or_leave_its_database(
    postgres: PostgresServer, streamwise_settings: Settings
) -> None:
    """Setup: a connection as the role the sinks and joins use (settings.postgres.user).
    Invariant: it is not a superuser; CREATE ROLE and ALTER SYSTEM are refused with PostgreSQL's
    insufficient-privilege errors; it may not connect to the maintenance database 'postgres'; it
    can create, write and read a table (and a temporary one) in its own database, as the sinks do."""
    pg = streamwise_settings.postgres
    with postgres.connect() as conn:
        conn.autocommit = True
        assert conn.execute(
            "SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = current_user"
        ).fetchone() == (False, False, False)
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied to create role"):
            conn.execute("CREATE ROLE intruder LOGIN")
        with pytest.raises(
            psycopg.errors.InsufficientPrivilege, match=r"permission denied to set parameter \"log_statement\""
        ):
            conn.execute("ALTER SYSTEM SET log_statement = 'all'")
        conn.execute("CREATE TABLE IF NOT EXISTS role_check (k int PRIMARY KEY)")
        conn.execute("INSERT INTO role_check VALUES (1) ON CONFLICT DO NOTHING")
        conn.execute("CREATE TEMP TABLE role_check_tmp AS SELECT * FROM role_check")
        assert conn.execute("SELECT k FROM role_check_tmp").fetchall() == [(1,)]
    with pytest.raises(psycopg.OperationalError, match='permission denied for database "postgres"'):
        psycopg.connect(**pg.conninfo("postgres"))


def test_redis_requires_its_password_by_default(redis_server: RedisServer, streamwise_settings: Settings) -> None:
    """Setup: the session's Redis, started with nothing but a state folder.
    Invariant: its password file is 0600 and redis.conf (holding requirepass) too; a client without
    the password gets Redis's NOAUTH on PING; the settings' client is answered."""
    rs = streamwise_settings.redis
    assert rs.password_file is not None and (mode(rs.password_file), mode(redis_server.config_file)) == (0o600, 0o600)
    with socket.create_connection((rs.host, rs.port), timeout=5) as raw:
        raw.sendall(b"PING\r\n")
        assert raw.recv(200).startswith(b"-NOAUTH Authentication required")
    with redis_server.client() as client:
        assert client.ping() is True


def test_a_state_folder_from_before_random_passwords_is_migrated(scratch_dir: Path) -> None:
    """Setup: a data folder made as streamwise made them before: initdb with superuser 'streamwise'
    and the fixed password 'streamwise', and a table 'kept' (one row) made by that superuser. Then the
    platform's PostgreSQL is started on it.
    Invariant: it starts; the sinks' role 'streamwise' now logs in with the random password of its
    file, is no superuser, and owns (reads and writes) the old table; the old fixed password is refused."""
    settings = scratch_settings(scratch_dir)
    server = PostgresServer(settings)
    make_legacy_data_dir(server)
    server.start()
    try:
        with server.connect() as conn:
            assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone() == (False,)
            conn.execute("INSERT INTO kept VALUES (8)")
            assert conn.execute("SELECT a FROM kept ORDER BY a").fetchall() == [(7,), (8,)]
            assert conn.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'kept'").fetchone() == (
                "streamwise",
            )
        with server.admin_connect() as admin:
            assert admin.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone() == (True,)
        for user in ("streamwise", settings.postgres.admin_user):
            with pytest.raises(psycopg.OperationalError, match=f'password authentication failed for user "{user}"'):
                psycopg.connect(**{**settings.postgres.conninfo("postgres"), "user": user, "password": LEGACY_PASSWORD})
    finally:
        server.stop()


def make_legacy_data_dir(server: PostgresServer) -> None:
    """initdb as streamwise did before random passwords (superuser 'streamwise', password
    'streamwise'), then that server run once by the platform's supervisor to make the database and a
    table as that superuser, as the sinks did."""
    bin_dir = postgres_bin_dir()
    assert bin_dir is not None
    owner = _server_user()
    server.home.mkdir(parents=True)
    if owner is not None:
        _let_user_reach(server.home, owner)
    pwfile = server.home / "pw"
    pwfile.write_text(LEGACY_PASSWORD + "\n")
    if owner is not None:
        os.chown(pwfile, owner.pw_uid, owner.pw_gid)
    made = subprocess.run(
        [
            *_run_as(owner),
            str(bin_dir / "initdb"),
            "-D",
            str(server.data_dir),
            "-U",
            "streamwise",
            f"--pwfile={pwfile}",
            "--auth-host=scram-sha-256",
            "--auth-local=peer",
            "--encoding=UTF8",
            "--locale=C",
        ],
        check=False,
        capture_output=True,
        text=True,
        cwd=server.home,
    )
    assert made.returncode == 0, made.stderr
    pg = server.pg
    old = {"host": pg.host, "port": pg.port, "user": "streamwise", "password": LEGACY_PASSWORD, "connect_timeout": 2}

    def answers() -> bool:
        try:
            psycopg.connect(**old, dbname="postgres").close()
        except psycopg.OperationalError:
            return False
        return True

    port_options = ["-c", f"listen_addresses={pg.host}", "-c", f"port={pg.port}", "-c", "unix_socket_directories="]
    server.service.start(
        [*_run_as(owner), str(bin_dir / "postgres"), "-D", str(server.data_dir), *port_options],
        ready=answers,
        timeout_s=60,
        cwd=server.home,
    )
    try:
        with psycopg.connect(**old, dbname="postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE streamwise")
        with psycopg.connect(**old, dbname="streamwise") as conn:
            conn.execute("CREATE TABLE kept (a int)")
            conn.execute("INSERT INTO kept VALUES (7)")
    finally:
        server.stop()


def test_secure_postgres_refuses_plaintext_and_verifies_with_the_projects_ca(
    secure_postgres: PostgresServer, store_settings: Settings
) -> None:
    """Setup: PostgreSQL started in the secure profile.
    Invariant: the settings' clients speak TLS (pg_stat_ssl says so) with sslmode=verify-full; a client
    with sslmode=disable is refused by pg_hba ('no pg_hba.conf entry ... no encryption'); openssl
    s_client -starttls postgres verifies the server's certificate against the project's CA; the key
    PostgreSQL reads is owned by its user with mode 0600; the JDBC URL asks for verify-full."""
    pg = store_settings.postgres
    assert pg.ssl_ca_location is not None and pg.tls() == {
        "sslmode": "verify-full",
        "sslrootcert": str(pg.ssl_ca_location),
    }
    with secure_postgres.connect() as conn:
        assert conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone() == (True,)
    with pytest.raises(
        psycopg.OperationalError,
        match=r'no pg_hba.conf entry for host "127.0.0.1", user "streamwise", database "streamwise", no encryption',
    ):
        psycopg.connect(**{**pg.conninfo(), "sslmode": "disable"})
    handshake = s_client(pg.port, pg.ssl_ca_location, "-starttls", "postgres")
    assert handshake.verified, handshake.output[-1500:]
    key = secure_postgres.data_dir / "server.key"
    owner = _server_user()
    assert mode(key) == 0o600 and key.stat().st_uid == (owner.pw_uid if owner else key.stat().st_uid)
    assert pg.jdbc_url == (
        f"jdbc:postgresql://127.0.0.1:{pg.port}/streamwise?ssl=true&sslmode=verify-full&sslrootcert={pg.ssl_ca_location}"
    )


def test_secure_redis_speaks_only_tls_and_wants_its_password(
    secure_redis: RedisServer, store_settings: Settings
) -> None:
    """Setup: Redis started in the secure profile.
    Invariant: over TLS (verified with the project's CA) a client without the password gets NOAUTH;
    a plaintext client gets no answer (the connection is closed); the settings' client (TLS, password)
    is answered."""
    rs = store_settings.redis
    assert rs.ssl_ca_location is not None
    context = ssl.create_default_context(cafile=str(rs.ssl_ca_location))
    with (
        socket.create_connection((rs.host, rs.port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=rs.host) as tls,
    ):
        tls.sendall(b"PING\r\n")
        assert tls.recv(200).startswith(b"-NOAUTH Authentication required")
    plain = redis.Redis(host=rs.host, port=rs.port, password=rs.secret().get_secret_value(), socket_timeout=5)  # type: ignore[union-attr]
    with pytest.raises(redis.ConnectionError):
        plain.ping()
    with secure_redis.client() as client:
        assert client.ping() is True
