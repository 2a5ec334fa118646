"""PostgreSQL and Redis from Debian packages, run as supervised :class:`Service` s on loopback ports.

``install()`` puts the packages on the machine (apt-get, idempotent). Each server keeps its files
under the state folder (``STATE/postgres/data``, ``STATE/redis``), is started by the Debian
binaries directly (no system-wide cluster, no init scripts) and is stopped by pid, like the broker.
Readiness is a real client round trip: a psycopg connection, a Redis PING.
"""

from __future__ import annotations

import functools
import grp
import logging
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import psutil
import psycopg
import redis
from psycopg import sql
from pydantic import SecretStr

from streamwise.config import PostgresSettings, RedisSettings, Settings
from streamwise.errors import ConfigError
from streamwise.platform.certificates import TlsFiles, ca_file, certificate
from streamwise.platform.exceptions import PlatformError, ServiceStartError
from streamwise.platform.ports import check_bind, ensure_port_free
from streamwise.platform.process import Service, ServiceStatus
from streamwise.secret_files import ensure_secret, new_password, read_secret, write_secret

log = logging.getLogger(__name__)

PACKAGES = {"postgres": "postgresql", "redis": "redis-server"}
POSTGRES_ROOT = Path("/usr/lib/postgresql")
APT_LISTS = Path("/var/lib/apt/lists")
APT_MAX_AGE_S = 24 * 3600.0
_APT_TIMEOUT_S = 1200.0
# Debian's convention to keep maintainer scripts from starting daemons: without it the packages'
# postinst would start a system-wide PostgreSQL/Redis on the default ports 5432/6379.
_POLICY_RC_D = Path("/usr/sbin/policy-rc.d")


class ServiceNotInstalledError(PlatformError):
    """A service's binaries are missing and cannot be installed from here."""


@dataclass(frozen=True)
class EndpointStatus:
    """A service process and whether it answers its clients."""

    process: ServiceStatus
    address: str
    serving: bool
    data_dir: Path


# --- installation --------------------------------------------------------------------------------


def postgres_bin_dir(root: Path = POSTGRES_ROOT) -> Path | None:
    """``/usr/lib/postgresql/<newest version>/bin`` holding ``postgres`` and ``initdb``, or None."""
    found = []
    for candidate in root.glob("*/bin"):
        if (candidate / "postgres").is_file() and (candidate / "initdb").is_file():
            version = candidate.parent.name
            found.append((tuple(int(p) for p in version.split(".") if p.isdigit()), candidate))
    return max(found)[1] if found else None


def redis_server_bin() -> Path | None:
    """The ``redis-server`` executable, or None."""
    found = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").is_file() else None
    )
    return Path(found) if found else None


def missing_packages(which: tuple[str, ...] = ("postgres", "redis")) -> list[str]:
    """Debian packages still needed for the named services."""
    present = {"postgres": postgres_bin_dir() is not None, "redis": redis_server_bin() is not None}
    return [PACKAGES[name] for name in which if not present[name]]


def apt_lists_fresh(lists_dir: Path = APT_LISTS, max_age_s: float = APT_MAX_AGE_S, now: float | None = None) -> bool:
    """True when apt's package lists exist and the newest is younger than ``max_age_s``."""
    stamps = [p.stat().st_mtime for p in lists_dir.glob("*_Packages*")] if lists_dir.is_dir() else []
    return bool(stamps) and (now if now is not None else time.time()) - max(stamps) < max_age_s


def install(
    which: tuple[str, ...] = ("postgres", "redis"),
    *,
    step: Callable[[str], None] = log.info,
) -> list[str]:
    """Install the Debian packages the named services need; return those installed (none if present).

    Runs ``apt-get update`` only when the package lists are missing or older than a day.
    """
    packages = missing_packages(which)
    if not packages:
        return []
    if os.geteuid() != 0:
        raise ServiceNotInstalledError(
            f"{', '.join(packages)} not installed, and installing needs root",
            hint=f"run `sudo apt-get install -y {' '.join(packages)}` (or `sudo streamwise services install`)",
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    placed_policy = False
    try:
        if not _POLICY_RC_D.exists():
            _POLICY_RC_D.write_text("#!/bin/sh\n# placed by streamwise during apt-get install\nexit 101\n")
            _POLICY_RC_D.chmod(0o755)
            placed_policy = True
        if not apt_lists_fresh():
            step("apt-get update")
            _apt(["apt-get", "update"], env)
        step(f"apt-get install -y {' '.join(packages)}")
        _apt(["apt-get", "install", "-y", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=300", *packages], env)
    finally:
        if placed_policy:
            _POLICY_RC_D.unlink(missing_ok=True)
    still = missing_packages(which)
    if still:
        raise ServiceNotInstalledError(
            f"apt-get installed {', '.join(packages)} but {', '.join(still)} is still missing"
        )
    return packages


def _apt(cmd: list[str], env: dict[str, str]) -> None:
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=_APT_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ServiceNotInstalledError(
            f"`{' '.join(cmd)}` failed: {exc}", hint="is this a Debian machine with apt?"
        ) from None
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-8:])
        raise ServiceNotInstalledError(
            f"`{' '.join(cmd)}` exited with {result.returncode}:\n{tail}",
            hint="check the network to the Debian mirror and run it by hand",
        )


def _ensure_installed(name: str) -> None:
    if missing_packages((name,)):
        log.info("%s is not installed; installing it from Debian", name)
        install((name,))


# --- the servers ----------------------------------------------------------------------------------


class _LoopbackServer:
    """What both servers share: files under ``STATE/<name>``, a supervised process, a client probe."""

    name: ClassVar[str]
    title: ClassVar[str]

    def __init__(self, settings: Settings, section: PostgresSettings | RedisSettings) -> None:
        self.settings = settings
        self.section = section
        self.home = settings.state / self.name
        self.data_dir = self.home / "data"
        self.service = Service(self.name, settings.state)

    @property
    def address(self) -> str:
        return f"{self.section.host}:{self.section.port}"

    def start(self) -> int:
        """Start unless running (installing the package when missing); return the pid once it answers."""
        running = self.service.process()
        if running is not None:
            return running.pid
        check_bind(self.section.host, self.title, self.settings, setting=f"{self.name}.host")
        _ensure_installed(self.name)
        ensure_port_free(
            self.section.host,
            self.section.port,
            what=self.title,
            option=f"--{self.name}-port (or STREAMWISE_{self.name.upper()}_PORT)",
        )
        log.info("starting %s on %s (data in %s)", self.title, self.address, self.data_dir)
        return self._launch()

    def stop(self) -> bool:
        return self.service.stop(grace_s=15.0)

    def status(self) -> EndpointStatus:
        proc = self.service.status()
        return EndpointStatus(proc, self.address, proc.running and self.answers(), self.data_dir)

    def answers(self) -> bool:
        """True when a client completes a round trip with the server."""
        raise NotImplementedError

    def _launch(self) -> int:
        raise NotImplementedError


# --- PostgreSQL ----------------------------------------------------------------------------------


class PostgresServer(_LoopbackServer):
    """A PostgreSQL cluster in ``STATE/postgres/data``, listening on loopback only (TCP, no socket file).

    The first start runs initdb with a superuser (``admin_user``) whose random password lives in
    ``STATE/security/postgres-admin.password`` (0600); every start then makes sure the sinks' role
    (``user``) exists without superuser rights, with its own password (``password_file``), and that
    ``database`` exists with only what that role needs granted. Host connections authenticate with
    ``scram-sha-256``; in the secure profile only over TLS (``hostssl``), with the project's certificate.
    A state folder made before passwords were random (superuser ``streamwise``/``streamwise``) is
    migrated on its first start: its superuser becomes ``admin_user`` with the new password.
    """

    name = "postgres"
    title = "PostgreSQL"

    def __init__(self, settings: Settings, postgres: PostgresSettings | None = None) -> None:
        self.settings = settings
        self.pg = postgres or settings.postgres
        super().__init__(settings, self.pg)
        self.tls = settings.security.enabled
        self.admin_password_file = settings.security.folder(settings.state) / "postgres-admin.password"

    def _launch(self) -> int:
        bin_dir = postgres_bin_dir()
        if bin_dir is None:  # install() guarantees it; a partial manual removal does not
            raise ServiceNotInstalledError(
                f"no PostgreSQL server binaries under {POSTGRES_ROOT}/*/bin", hint="run `streamwise services install`"
            )
        owner = _server_user()
        self.home.mkdir(parents=True, exist_ok=True)
        if owner is not None:
            _let_user_reach(self.home, owner)
        admin = ensure_secret(self.admin_password_file)
        self._app_password()  # made before the server, so a client started next finds it
        if not (self.data_dir / "PG_VERSION").is_file():
            self._initdb(bin_dir, owner, admin)
        self._write_hba(owner)
        cmd = [
            *_run_as(owner),
            str(bin_dir / "postgres"),
            "-D",
            str(self.data_dir),
            "-c",
            f"listen_addresses={self.pg.host}",
            "-c",
            f"port={self.pg.port}",
            # TCP only: a socket path under a deep state folder can exceed the 107-byte limit.
            "-c",
            "unix_socket_directories=",
            "-c",
            "shared_buffers=32MB",
            "-c",
            "max_connections=50",
            "-c",
            "password_encryption=scram-sha-256",
            *self._tls_options(owner),
        ]
        pid = self.service.start(cmd, ready=self.answers, timeout_s=self.pg.start_timeout_s, cwd=self.home)
        self._ensure_roles()
        return pid

    def stop(self, grace_s: float = 30.0) -> bool:
        """Stop by pid with a *fast* shutdown (SIGINT, as ``pg_ctl stop -m fast``): open transactions
        roll back and clients are disconnected. TERM would be a *smart* shutdown that waits for every
        client to leave; the supervisor's TERM/KILL remains the fallback."""
        proc = self.service.process()
        if proc is not None:
            try:
                proc.send_signal(signal.SIGINT)
                proc.wait(timeout=grace_s)
            except (psutil.TimeoutExpired, psutil.NoSuchProcess):
                pass
        return self.service.stop(grace_s=grace_s) or proc is not None

    def answers(self) -> bool:
        """True when the server completes a connection (a refused password also proves it is up)."""
        try:
            self.admin_connect(connect_timeout=2).close()
        except psycopg.OperationalError as exc:
            return _auth_failed(exc)
        except ConfigError:  # no admin password file: not ours to probe, but a refusal proves nothing
            return False
        return True

    def connect(self, database: str | None = None) -> psycopg.Connection:
        """A psycopg connection to ``database`` (default: the configured one) as the sinks' role."""
        return psycopg.connect(**self.pg.conninfo(database))

    def admin_connect(self, database: str = "postgres", **options: Any) -> psycopg.Connection:
        """A psycopg connection as the server's superuser (the platform's own, never the sinks')."""
        return self._connect_as(self.pg.admin_user, read_secret(self.admin_password_file), database, **options)

    def _connect_as(
        self, user: str, password: SecretStr, database: str = "postgres", **options: Any
    ) -> psycopg.Connection:
        """A connection as ``user``, over verified TLS in the secure profile whatever the client
        settings say (the server itself knows where its CA is)."""
        tls = {"sslmode": "verify-full", "sslrootcert": str(ca_file(self.settings))} if self.tls else {}
        return psycopg.connect(
            **{
                **self.pg.conninfo(database),
                "user": user,
                "password": password.get_secret_value(),
                **tls,
                **options,
            }
        )

    def _app_password(self) -> SecretStr:
        if self.pg.password is not None:
            return self.pg.password
        assert self.pg.password_file is not None  # Settings points it into the state folder
        return ensure_secret(self.pg.password_file)

    def _initdb(self, bin_dir: Path, owner: pwd.struct_passwd | None, admin: SecretStr) -> None:
        # initdb reads the superuser's password from a file; it must be readable by the server's
        # user, which cannot enter STATE/security (0700, ours): a copy of its own, removed after.
        pwfile = write_secret(self.home / ".initdb-password", admin.get_secret_value() + "\n")
        if owner is not None:
            os.chown(pwfile, owner.pw_uid, owner.pw_gid)
        cmd = [
            *_run_as(owner),
            str(bin_dir / "initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            self.pg.admin_user,
            f"--pwfile={pwfile}",
            "--auth-host=scram-sha-256",
            "--auth-local=peer",
            "--encoding=UTF8",
            "--locale=C",
            "--no-instructions",
        ]
        log.info("initialising PostgreSQL data in %s", self.data_dir)
        try:
            result = subprocess.run(cmd, capture_output=True, text=True, cwd=self.home, timeout=120, check=False)
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            shutil.rmtree(self.data_dir, ignore_errors=True)  # a half-made cluster would block the next try
            raise ServiceStartError(
                f"initdb in {self.data_dir} failed: {result.stderr.strip()[-800:]}",
                hint="read the message; `streamwise down --purge` clears the state folder",
            )

    def _write_hba(self, owner: pwd.struct_passwd | None) -> None:
        """pg_hba.conf, written on every start: SCRAM passwords for every host connection, over TLS
        only in the secure profile; no ``trust`` anywhere."""
        hba = self.data_dir / "pg_hba.conf"
        hba.write_text(pg_hba(self.tls, self.pg.host))
        if owner is not None:
            os.chown(hba, owner.pw_uid, owner.pw_gid)

    def _tls_options(self, owner: pwd.struct_passwd | None) -> list[str]:
        """``-c`` options turning TLS on (the secure profile), with the project's certificate.

        PostgreSQL refuses a key file not owned by its user with mode 0600 (or by root with 0640),
        and cannot enter STATE/security: the certificate and key are copied into the data folder,
        made by its user, on every start (a renewed certificate is picked up).
        """
        if not self.tls:
            return ["-c", "ssl=off"]
        files = certificate(self.settings, "postgres", hosts=(self.pg.host,))
        cert = self.data_dir / "server.crt"
        key = write_secret(self.data_dir / "server.key", files.key.read_bytes())
        cert.write_bytes(files.cert.read_bytes() + files.ca.read_bytes())
        if owner is not None:
            for path in (cert, key):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        return ["-c", "ssl=on", "-c", f"ssl_cert_file={cert}", "-c", f"ssl_key_file={key}"]

    def _ensure_roles(self) -> None:
        """The sinks' role (no superuser, its current password) and the database with its grants.
        Migrates a state folder from before random passwords on the way."""
        try:
            try:
                conn = self.admin_connect(autocommit=True)
            except psycopg.OperationalError as exc:
                if not _auth_failed(exc):
                    raise
                self._migrate_legacy(exc)
                conn = self.admin_connect(autocommit=True)
            with conn:
                self._app_role(conn)
                if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.pg.database,)).fetchone():
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.pg.database)))
                # Nothing but the platform's superuser connects to the maintenance databases.
                conn.execute("REVOKE CONNECT ON DATABASE postgres FROM PUBLIC")
            with self.admin_connect(self.pg.database, autocommit=True) as conn:
                self._grant(conn)
        except psycopg.OperationalError as exc:
            raise ServiceStartError(f"PostgreSQL on {self.address}: {str(exc).strip()}") from None

    def _app_role(self, conn: psycopg.Connection) -> None:
        user = sql.Identifier(self.pg.user)
        verifier = _scram_verifier(conn, self.pg.user, self._app_password())
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (self.pg.user,)).fetchone()
        verb = "ALTER" if exists else "CREATE"
        # The attributes are stated on every start: a role made superuser by hand is put back.
        conn.execute(
            sql.SQL(
                verb + " ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD {}"
            ).format(user, sql.Literal(verifier))
        )

    def _grant(self, conn: psycopg.Connection) -> None:
        """What the sinks and joins need in ``database``: connect, temporary tables (the PostgreSQL
        sink stages each chunk in one), use and create in ``public``. Nobody else may connect.

        Tables and schemas there owned by the superuser go to the sinks' role, as it would own them
        had it created them: a migrated folder's (made by the old superuser, now ``admin_user``), on
        every start, so a migration cut short is finished by the next one. The platform itself never
        creates anything there as the superuser.
        """
        db, user = sql.Identifier(self.pg.database), sql.Identifier(self.pg.user)
        conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(db))
        conn.execute(sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(db, user))
        conn.execute(sql.SQL("GRANT USAGE, CREATE ON SCHEMA public TO {}").format(user))
        conn.execute(
            sql.SQL(
                """DO $$DECLARE r record; BEGIN
                FOR r IN SELECT n.nspname, c.relname, CASE c.relkind WHEN 'v' THEN 'VIEW'
                        WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END AS kind
                    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE c.relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)
                      AND c.relkind IN ('r', 'p', 'v', 'm')
                      AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                      AND n.nspname NOT LIKE 'pg\\_%'
                LOOP EXECUTE format('ALTER %s %I.%I OWNER TO %I', r.kind, r.nspname, r.relname, {user});
                END LOOP;
                FOR r IN SELECT nspname FROM pg_namespace
                    WHERE nspowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)
                      AND nspname NOT IN ('pg_catalog', 'information_schema', 'public')
                      AND nspname NOT LIKE 'pg\\_%'
                LOOP EXECUTE format('ALTER SCHEMA %I OWNER TO %I', r.nspname, {user});
                END LOOP; END$$"""
            ).format(user=sql.Literal(self.pg.user))
        )

    def _migrate_legacy(self, refused: psycopg.OperationalError) -> None:
        """Move a data folder made before random passwords to this layout, through the old login.

        It was initialised with superuser ``user`` and a fixed password (``streamwise``, or
        STREAMWISE_POSTGRES_PASSWORD). That role (the bootstrap superuser, which cannot lose its
        rights) is renamed ``admin_user`` and given the new admin password; a fresh ``user`` is made
        by :meth:`_app_role` afterwards. A temporary superuser does the renaming, as no session may
        rename its own role.
        """
        admin = read_secret(self.admin_password_file)
        passwords = [p.get_secret_value() for p in (self.pg.password,) if p is not None] + [LEGACY_PASSWORD]
        for old_user in dict.fromkeys((self.pg.user, self.pg.admin_user)):
            for old_password in passwords:
                try:
                    conn = self._connect_as(old_user, SecretStr(old_password), autocommit=True)
                except psycopg.OperationalError as exc:
                    if _auth_failed(exc):
                        continue
                    raise
                log.warning(
                    "migrating %s: superuser %r with the old fixed password becomes %r with a random one (%s)",
                    self.data_dir,
                    old_user,
                    self.pg.admin_user,
                    self.admin_password_file,
                )
                with conn:
                    self._rename_superuser(conn, old_user, admin)
                return
        raise ServiceStartError(
            f"PostgreSQL in {self.data_dir} refuses superuser {self.pg.admin_user!r} with the password in "
            f"{self.admin_password_file} ({str(refused).strip().splitlines()[-1]}), and the old default login too",
            hint=f"set ALTER ROLE {self.pg.admin_user} PASSWORD to the file's value as its superuser, or start "
            "over with `streamwise down --purge`",
        )

    def _rename_superuser(self, conn: psycopg.Connection, old_user: str, admin: SecretStr) -> None:
        admin_user = sql.Identifier(self.pg.admin_user)
        if old_user == self.pg.admin_user:  # renamed before, the password was not yet set
            conn.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    admin_user, sql.Literal(_scram_verifier(conn, self.pg.admin_user, admin))
                )
            )
            return
        helper, helper_password = "streamwise_migration", SecretStr(new_password())
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(helper)))
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN SUPERUSER PASSWORD {}").format(
                sql.Identifier(helper), sql.Literal(_scram_verifier(conn, helper, helper_password))
            )
        )
        conn.close()
        with self._connect_as(helper, helper_password, autocommit=True) as as_helper:
            as_helper.execute(sql.SQL("ALTER ROLE {} RENAME TO {}").format(sql.Identifier(old_user), admin_user))
            as_helper.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    admin_user, sql.Literal(_scram_verifier(as_helper, self.pg.admin_user, admin))
                )
            )
        with self.admin_connect(autocommit=True) as as_admin:
            as_admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(helper)))


# The password every state folder's PostgreSQL had before they were random: the migration logs in with it.
LEGACY_PASSWORD = "streamwise"


def pg_hba(tls: bool, host: str) -> str:
    """pg_hba.conf: SCRAM for every TCP connection (``hostssl``, TLS only, in the secure profile), from
    loopback, and from anywhere when the server listens beyond it; peer for the (unused) socket."""
    kind = "hostssl" if tls else "host"
    sources = ["127.0.0.1/32", "::1/128"]
    if host not in ("127.0.0.1", "localhost", "::1"):
        sources += ["0.0.0.0/0", "::/0"]
    lines = ["# written by streamwise on every start; edits are lost", "local all all peer"]
    lines += [f"{kind} all all {source} scram-sha-256" for source in sources]
    return "\n".join(lines) + "\n"


def _scram_verifier(conn: psycopg.Connection, user: str, password: SecretStr) -> str:
    """The SCRAM-SHA-256 verifier of ``password``, computed by libpq on this side: ALTER/CREATE ROLE
    then carries the verifier, so the password never reaches the server or its logs in clear."""
    return conn.pgconn.encrypt_password(password.get_secret_value().encode(), user.encode(), b"scram-sha-256").decode()


def _auth_failed(exc: Exception) -> bool:
    return getattr(exc, "sqlstate", None) in ("28P01", "28000") or "authentication failed" in str(exc)


def _server_user() -> pwd.struct_passwd | None:
    """The OS user the server runs as: ``postgres`` when we are root (PostgreSQL refuses root), else us."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise ServiceNotInstalledError(
            "running as root, but there is no `postgres` OS user to run PostgreSQL as",
            hint="the Debian package creates it: `apt-get install -y postgresql`",
        ) from None


def _run_as(owner: pwd.struct_passwd | None) -> list[str]:
    # setpriv execs (no fork), so the supervised pid is the postmaster itself.
    if owner is None:
        return []
    return ["setpriv", f"--reuid={owner.pw_uid}", f"--regid={owner.pw_gid}", "--init-groups", "--"]


def _let_user_reach(home: Path, owner: pwd.struct_passwd) -> None:
    """Give ``owner`` the folder and a way to it: search (x, not read) on any ancestor it cannot pass."""
    groups = {owner.pw_gid} | {g.gr_gid for g in grp.getgrall() if owner.pw_name in g.gr_mem}
    for ancestor in reversed(home.parents):
        st = ancestor.stat()
        if st.st_uid == owner.pw_uid:
            bit = stat.S_IXUSR
        elif st.st_gid in groups:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            log.warning("granting search permission on %s so that the postgres user can reach its data", ancestor)
            ancestor.chmod(stat.S_IMODE(st.st_mode) | bit)
    os.chown(home, owner.pw_uid, owner.pw_gid)  # initdb then creates data/ as that user


# --- Redis ---------------------------------------------------------------------------------------


class RedisServer(_LoopbackServer):
    """``redis-server`` with a generated config: loopback, append-only file, data in ``STATE/redis/data``.

    It always requires a password (``requirepass``: ``password``, else the random one in
    ``password_file``, made on first start, 0600). In the secure profile it speaks TLS only, with the
    project's certificate (the Debian build links OpenSSL; :func:`redis_supports_tls` checks).
    """

    name = "redis"
    title = "Redis"

    def __init__(self, settings: Settings, redis: RedisSettings | None = None) -> None:
        self.settings = settings
        self.rs = redis or settings.redis
        super().__init__(settings, self.rs)
        self.config_file = self.home / "redis.conf"
        self.tls = settings.security.enabled

    def _launch(self) -> int:
        binary = redis_server_bin()
        if binary is None:
            raise ServiceNotInstalledError("redis-server is not on PATH", hint="run `streamwise services install`")
        tls = None
        if self.tls:
            if not redis_supports_tls(binary):
                raise ServiceStartError(
                    f"{binary} was built without TLS, which the secure profile needs for Redis",
                    hint="install a redis-server built with TLS (Debian's is), or run without the secure profile",
                )
            tls = certificate(self.settings, "redis", hosts=(self.rs.host,))
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # The config holds requirepass: born 0600 (secret_files), never readable by others.
        write_secret(self.config_file, redis_config(self.rs, self.data_dir, password=self._password(), tls=tls))
        return self.service.start(
            [str(binary), str(self.config_file)], ready=self.answers, timeout_s=self.rs.start_timeout_s, cwd=self.home
        )

    def _password(self) -> SecretStr:
        if self.rs.password is not None:
            return self.rs.password
        if self.rs.password_file is None:
            raise ConfigError(
                "Redis needs a password: neither redis.password nor redis.password_file is set",
                hint="set STREAMWISE_REDIS_PASSWORD, or load settings with load_settings() (it points at the state folder)",
            )
        return ensure_secret(self.rs.password_file)

    def answers(self) -> bool:
        """PING answered (stopping by pid sends TERM: Redis flushes the append-only file and exits).
        A refused password (NOAUTH, WRONGPASS) also proves it is up."""
        try:
            with self.client() as client:
                return bool(client.ping())
        except redis.AuthenticationError:
            return True
        except redis.ResponseError as exc:
            return "NOAUTH" in str(exc) or "WRONGPASS" in str(exc)
        except (redis.RedisError, ConfigError):
            return False

    def client(self) -> redis.Redis:
        """A client of this server as the settings describe it; over verified TLS in the secure
        profile whatever they say (the server itself knows where its CA is)."""
        kwargs = {**self.rs.client_kwargs(), "socket_connect_timeout": 2}
        if self.tls and not kwargs.get("ssl"):
            kwargs |= {"ssl": True, "ssl_ca_certs": str(ca_file(self.settings)), "ssl_check_hostname": True}
        return redis.Redis(**kwargs)


@functools.cache
def redis_supports_tls(binary: Path) -> bool:
    """True when ``binary`` knows TLS: given a TLS port and a missing certificate, a build with TLS
    fails loading the certificate (before it would listen), one without refuses the directive itself."""
    try:
        result = subprocess.run(
            [str(binary), "--port", "0", "--tls-port", "1", "--tls-cert-file", "/nonexistent", "--loglevel", "warning"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    output = result.stdout + result.stderr
    return "Bad directive" not in output and "TLS" in output


# One token: what a host, a file name or a password may be inside redis.conf.
_TOKEN = re.compile(r"^[^\s\"'\\]+$")


def redis_config(
    rs: RedisSettings, data_dir: Path, *, password: SecretStr | None = None, tls: TlsFiles | None = None
) -> str:
    """The redis.conf streamwise writes: loopback only, AOF on, logs to stdout (the service log),
    ``requirepass`` with ``password``, TLS only (no plaintext port) with ``tls``.

    Every value is checked first: redis.conf is one directive per line, so a newline in a value
    would add a directive of its own (``requirepass x\\nrename-command ...``). A ConfigError names
    the field (never a password's value).
    """
    password = password if password is not None else rs.password
    _conf_value("redis.host", rs.host)
    _conf_port("redis.port", rs.port)
    _conf_value("redis data folder", str(data_dir))
    lines = [
        f"bind {rs.host}",
        f"port {rs.port}" if tls is None else "port 0",  # TLS: no plaintext listener at all
        "protected-mode yes",
        "daemonize no",
        f'dir "{data_dir}"',
        "appendonly yes",
        "appendfsync everysec",
        'save ""',  # the append-only file is the durability; RDB snapshots would only add disk churn
        'logfile ""',
        "loglevel notice",
    ]
    if tls is not None:
        for field, path in (("tls cert", tls.cert), ("tls key", tls.key), ("tls ca", tls.ca)):
            _conf_value(field, str(path))
        lines += [
            f"tls-port {rs.port}",
            f'tls-cert-file "{tls.cert}"',
            f'tls-key-file "{tls.key}"',
            f'tls-ca-cert-file "{tls.ca}"',
            "tls-auth-clients no",  # clients prove who they are with the password, not a certificate
        ]
    if password is not None:
        _conf_value("redis.password", password.get_secret_value(), secret=True)
        lines.append(f'requirepass "{password.get_secret_value()}"')
    return "\n".join(lines) + "\n"


def _conf_value(field: str, value: str, *, secret: bool = False) -> None:
    """Refuse a value that is not one redis.conf token (a newline, a space, a quote or a backslash)."""
    if _TOKEN.match(value):
        return
    shown = "" if secret else f" ({value!r})"
    if "\n" in value or "\r" in value:
        problem = "holds a newline, which would start a directive of its own in redis.conf"
    else:
        problem = "is not a single token (spaces, quotes and backslashes are refused in redis.conf)"
    raise ConfigError(
        f"{field}{shown} {problem}",
        hint=f"set {field} to a plain value without whitespace or quotes",
    )


def _conf_port(field: str, port: int) -> None:
    if not 1 <= port <= 65535:
        raise ConfigError(f"{field} {port} is not a TCP port (1-65535)", hint=f"set {field} to a free port")


# --- both ----------------------------------------------------------------------------------------


def store_clients(settings: Settings) -> Settings:
    """``settings`` whose PostgreSQL and Redis clients speak verified TLS with the project's CA when the
    secure profile is on (made here if missing); unchanged when it is off or they already do.

    :func:`streamwise.config.load_settings` with ``security.enabled`` does this by itself; call it for
    settings whose profile was switched on afterwards (``model_copy``), before starting clients.
    """
    if not settings.security.enabled:
        return settings
    ca = ca_file(settings)
    update = {
        name: section.model_copy(update={"ssl_ca_location": ca})
        for name, section in (("postgres", settings.postgres), ("redis", settings.redis))
        if section.ssl_ca_location is None
    }
    return settings.model_copy(update=update) if update else settings


def servers(settings: Settings) -> tuple[PostgresServer, RedisServer]:
    """The two servers for these settings, in start order."""
    return PostgresServer(settings), RedisServer(settings)


def stop_all(settings: Settings) -> list[str]:
    """Stop both by pid; return the names of those that were running (for ``streamwise down``)."""
    return [server.service.name for server in reversed(servers(settings)) if server.stop()]
