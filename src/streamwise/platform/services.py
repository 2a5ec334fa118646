"""PostgreSQL and Redis from Debian packages, run as supervised :class:`Service` s on loopback ports.

``install()`` puts the packages on the machine (apt-get, idempotent). Each server keeps its files
under the state folder (``STATE/postgres/data``, ``STATE/redis``), is started by the Debian
binaries directly (no system-wide cluster, no init scripts) and is stopped by pid, like the broker.
Readiness is a real client round trip: a psycopg connection, a Redis PING.
"""

from __future__ import annotations

import grp
import logging
import os
import pwd
import shutil
import signal
import stat
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import psutil
import psycopg
import redis

from streamwise.config import PostgresSettings, RedisSettings, Settings
from streamwise.platform.exceptions import PlatformError, ServiceStartError
from streamwise.platform.ports import check_bind, ensure_port_free
from streamwise.platform.process import Service, ServiceStatus

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

    Starting runs initdb the first time and creates ``database``; it is ready once a client connects.
    """

    name = "postgres"
    title = "PostgreSQL"

    def __init__(self, settings: Settings, postgres: PostgresSettings | None = None) -> None:
        self.pg = postgres or settings.postgres
        super().__init__(settings, self.pg)

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
        if not (self.data_dir / "PG_VERSION").is_file():
            self._initdb(bin_dir, owner)
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
        ]
        pid = self.service.start(cmd, ready=self.answers, timeout_s=self.pg.start_timeout_s, cwd=self.home)
        self._ensure_database()
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
            psycopg.connect(**{**self.pg.conninfo("postgres"), "connect_timeout": 2}).close()
        except psycopg.OperationalError as exc:
            return _auth_failed(exc)
        return True

    def connect(self, database: str | None = None):
        """A psycopg connection to ``database`` (default: the configured one) as the configured user."""
        return psycopg.connect(**self.pg.conninfo(database))

    def _initdb(self, bin_dir: Path, owner: pwd.struct_passwd | None) -> None:
        pwfile = self.home / ".initdb-password"
        pwfile.write_text(self.pg.password.get_secret_value() + "\n")
        pwfile.chmod(0o600)
        if owner is not None:
            os.chown(pwfile, owner.pw_uid, owner.pw_gid)
        cmd = [
            *_run_as(owner),
            str(bin_dir / "initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            self.pg.user,
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

    def _ensure_database(self) -> None:

        try:
            with psycopg.connect(**self.pg.conninfo("postgres"), autocommit=True) as conn:
                exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.pg.database,)).fetchone()
                if not exists:
                    conn.execute(f'CREATE DATABASE "{self.pg.database}"')
        except psycopg.OperationalError as exc:
            if _auth_failed(exc):
                raise ServiceStartError(
                    f"PostgreSQL on {self.address} runs but refuses user {self.pg.user!r}: {str(exc).strip()}",
                    hint=f"{self.data_dir} was initialised with another user or password; set "
                    "STREAMWISE_POSTGRES_USER/PASSWORD to those, or `streamwise down --purge`",
                ) from None
            raise ServiceStartError(f"PostgreSQL on {self.address}: {str(exc).strip()}") from None


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
    """``redis-server`` with a generated config: loopback, append-only file, data in ``STATE/redis/data``."""

    name = "redis"
    title = "Redis"

    def __init__(self, settings: Settings, redis: RedisSettings | None = None) -> None:
        self.rs = redis or settings.redis
        super().__init__(settings, self.rs)
        self.config_file = self.home / "redis.conf"

    def _launch(self) -> int:
        binary = redis_server_bin()
        if binary is None:
            raise ServiceNotInstalledError("redis-server is not on PATH", hint="run `streamwise services install`")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(redis_config(self.rs, self.data_dir))
        self.config_file.chmod(0o600)  # it may hold requirepass
        return self.service.start(
            [str(binary), str(self.config_file)], ready=self.answers, timeout_s=self.rs.start_timeout_s, cwd=self.home
        )

    def answers(self) -> bool:
        """PING answered (stopping by pid sends TERM: Redis flushes the append-only file and exits)."""
        try:
            with self.client() as client:
                return bool(client.ping())
        except redis.RedisError:
            return False

    def client(self):

        return redis.Redis(**{**self.rs.client_kwargs(), "socket_connect_timeout": 2})


def redis_config(rs: RedisSettings, data_dir: Path) -> str:
    """The redis.conf streamwise writes: loopback only, AOF on, logs to stdout (the service log)."""
    lines = [
        f"bind {rs.host}",
        f"port {rs.port}",
        "protected-mode yes",
        "daemonize no",
        f'dir "{data_dir}"',
        "appendonly yes",
        "appendfsync everysec",
        'save ""',  # the append-only file is the durability; RDB snapshots would only add disk churn
        'logfile ""',
        "loglevel notice",
    ]
    if rs.password:
        lines.append(f'requirepass "{rs.password.get_secret_value()}"')
    return "\n".join(lines) + "\n"


# --- both ----------------------------------------------------------------------------------------


def servers(settings: Settings) -> tuple[PostgresServer, RedisServer]:
    """The two servers for these settings, in start order."""
    return PostgresServer(settings), RedisServer(settings)


def stop_all(settings: Settings) -> list[str]:
    """Stop both by pid; return the names of those that were running (for ``streamwise down``)."""
    return [server.service.name for server in reversed(servers(settings)) if server.stop()]
