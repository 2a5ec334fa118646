"""Checks that a loopback port is free, and names who holds it when it is not."""

from __future__ import annotations

import socket

import psutil

from streamwise.platform.exceptions import PortInUseError


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
    """``count`` distinct free ports: all sockets stay bound until every port is picked, so two calls'
    worth of ports can never be the same one."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            socks.append(sock)
        return [int(sock.getsockname()[1]) for sock in socks]
    finally:
        for sock in socks:
            sock.close()
