"""Where services may listen, and checks that a loopback port is free (naming who holds it when not).

Every service streamwise starts (each Kafka node, the registry, the dashboard, PostgreSQL, Redis)
binds loopback unless the secure profile protects it or ``--expose`` says to serve it unprotected:
:func:`check_bind` is the one rule, called by each before it starts.
"""

from __future__ import annotations

import ipaddress
import logging
import random
import socket
from collections.abc import Iterable
from pathlib import Path

import psutil

from streamwise.config import Settings
from streamwise.platform.exceptions import ExposedBindError, PortInUseError

log = logging.getLogger(__name__)

# Names that mean loopback whatever the resolver says. Any other name could resolve to a LAN address.
LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost", "ip6-loopback"})

# Each service that binds, as (what it is, the setting naming its bind address).
BINDS: dict[str, tuple[str, str]] = {
    "kafka": ("Kafka", "kafka.host"),
    "registry": ("the schema registry", "registry.host"),
    "dashboard": ("the dashboard", "dashboard.host"),
    "postgres": ("PostgreSQL", "postgres.host"),
    "redis": ("Redis", "redis.host"),
}


def is_loopback(host: str) -> bool:
    """True for an address only this machine reaches: 127.0.0.0/8, ::1 (also IPv4-mapped), localhost.

    A host name other than localhost is not loopback: it may resolve to any address, now or later.
    """
    name = host.strip().lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(name.removeprefix("[").removesuffix("]"))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def check_bind(host: str, what: str, settings: Settings, *, setting: str, profile_protects: bool = True) -> None:
    """Allow ``what`` to listen on ``host``, or raise ExposedBindError before anything starts.

    Loopback is always allowed. Any other address (``0.0.0.0``, ``::``, a LAN address, a host name)
    needs the secure profile (TLS and logins protect the service) or ``--expose`` (then a warning
    says it is served unprotected). ``setting`` names the setting that chose ``host`` (``dashboard.host``).
    ``profile_protects=False`` is for what the secure profile does not protect (Spark's master, workers
    and driver speak unauthenticated RPC): only ``--expose`` allows it beyond loopback.
    """
    if is_loopback(host):
        return
    if settings.security.enabled and profile_protects:
        return
    if settings.security.expose:
        log.warning(
            "%s listens on %s without the secure profile (--expose): no TLS and no login, "
            "anyone who reaches that address can use it",
            what,
            host,
        )
        return
    variable = "STREAMWISE_" + setting.upper().replace(".", "_")
    expose = "--expose (STREAMWISE_SECURITY_EXPOSE=true) to serve it unprotected"
    if not profile_protects:
        raise ExposedBindError(
            f"{what} would listen on {host} ({setting}, {variable}), an address other machines can reach, "
            "and nothing authenticates who connects (the secure profile does not cover Spark's RPC)",
            hint=f"set {variable}=127.0.0.1 to keep it on this machine, or pass {expose} on a network you trust",
        )
    raise ExposedBindError(
        f"{what} would listen on {host} ({setting}, {variable}), an address other machines can reach, "
        "while the secure profile is off",
        hint=f"set {variable}=127.0.0.1 to keep it on this machine, pass --profile secure to protect it "
        f"(TLS and logins), or pass {expose}",
    )


def check_binds(settings: Settings, services: Iterable[str] = tuple(BINDS)) -> None:
    """:func:`check_bind` for each named service (keys of :data:`BINDS`) with its configured host, so a
    platform start refuses a bad address before it starts any service."""
    for name in services:
        what, setting = BINDS[name]
        section, field = setting.split(".")
        check_bind(getattr(getattr(settings, section), field), what, settings, setting=setting)


def port_is_free(host: str, port: int) -> bool:
    """True when nothing listens on ``host:port`` (we can bind it ourselves)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def port_owner(port: int) -> str | None:
    """'pid 4242 (java)' for the process listening on ``port``, when the OS lets us see it."""
    try:
        for conn in psutil.net_connections(kind="inet"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
                try:
                    return f"pid {conn.pid} ({psutil.Process(conn.pid).name()})"
                except psutil.Error:
                    return f"pid {conn.pid}"
    except psutil.Error:
        return None
    return None


def ensure_port_free(host: str, port: int, *, what: str, option: str) -> None:
    """Raise PortInUseError naming the owner and the option that picks another port."""
    if port_is_free(host, port):
        return
    owner = port_owner(port)
    holder = f"taken by {owner}" if owner else "taken by another process"
    raise PortInUseError(
        f"port {port} on {host} (for {what}) is {holder}",
        hint=f"pass {option} to use another port, or stop that process",
    )


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS considers free right now (for tests and scratch services)."""
    return free_ports(1, host)[0]


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct free ports for services started later (tests, scratch platforms).

    A port is picked now and bound later, maybe minutes later, so it must not be handed out twice:
    never one this process returned before, and never one from the kernel's ephemeral range, which
    the OS gives to outgoing connections and to ``bind(0)`` meanwhile. All sockets stay bound until
    every port is picked, so one call's ports are distinct too.
    """
    low, _ = _ephemeral_range()
    pool = list(range(_FIRST_PORT, low)) if low - _FIRST_PORT >= 1000 else []
    _random.shuffle(pool)
    socks: list[socket.socket] = []
    try:
        for port in pool:
            if len(socks) == count:
                break
            if port in _handed_out:
                continue
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.bind((host, port))
            except OSError:
                sock.close()
                continue
            socks.append(sock)
        while len(socks) < count:  # no room below the ephemeral range: let the OS pick, still never twice
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            if sock.getsockname()[1] in _handed_out:
                sock.close()
                continue
            socks.append(sock)
        ports = [int(sock.getsockname()[1]) for sock in socks]
    finally:
        for sock in socks:
            sock.close()
    _handed_out.update(ports)
    return ports


def free_port_block(count: int, host: str = "127.0.0.1") -> int:
    """The first of ``count`` consecutive free ports (a local Kafka cluster puts node i's listeners on
    ``port + 2i`` and ``port + 2i + 1``), never handed out before and below the ephemeral range."""
    low, _ = _ephemeral_range()
    starts = list(range(_FIRST_PORT, max(_FIRST_PORT + 1, low - count)))
    _random.shuffle(starts)
    for start in starts:
        block = range(start, start + count)
        if any(port in _handed_out for port in block) or not all(port_is_free(host, port) for port in block):
            continue
        _handed_out.update(block)
        return start
    raise PortInUseError(f"no {count} consecutive free ports on {host} between {_FIRST_PORT} and {low}")


_FIRST_PORT = 20_000  # below: well-known and registered services' usual homes
_handed_out: set[int] = set()
_random = random.Random()


def _ephemeral_range() -> tuple[int, int]:
    """The kernel's range for outgoing connections' local ports (Linux; IANA's 49152-65535 elsewhere)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 49_152, 65_535
