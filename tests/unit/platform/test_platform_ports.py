"""Ports picked now and bound later by the test and scratch platforms are never handed out twice."""

from __future__ import annotations

import socket

from streamwise.platform.ports import _ephemeral_range, free_ports


def test_ports_are_never_handed_out_twice_nor_from_the_ephemeral_range() -> None:
    """Setup: 50 calls of 6 ports in one process, none of them bound in between (as a session's
    fixtures reserve ports that services bind minutes later), while this test holds a listening
    socket of the OS's choosing (bind(0): from the ephemeral range, like outgoing connections).
    Invariant: all 300 ports are distinct, each below the kernel's ephemeral range, none is the
    held socket's, and each can be bound when handed out."""
    low, _ = _ephemeral_range()
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        ports = [p for _ in range(50) for p in free_ports(6)]
        assert held.getsockname()[1] not in ports
    assert len(set(ports)) == len(ports) == 300
    assert all(p < low for p in ports)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", ports[-1]))
