"""Where services may listen: loopback always; any other address only in the secure profile or with
--expose (and then with a warning). One rule, check_bind, for every service that binds."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from streamwise.config import Settings, load_settings
from streamwise.platform.exceptions import ExposedBindError
from streamwise.platform.ports import BINDS, check_bind, check_binds, is_loopback

LOOPBACK = ["127.0.0.1", "127.0.1.1", "127.255.255.254", "::1", "[::1]", "::ffff:127.0.0.1", "localhost", "LOCALHOST"]
REACHABLE = [
    "0.0.0.0",
    "::",
    "",
    "192.168.1.20",
    "10.0.0.5",
    "172.17.0.1",
    "fe80::1",
    "2001:db8::1",
    "::ffff:192.168.1.20",
    "myhost.example",
    "127.0.0.1.nip.io",
]


def _settings(tmp_path: Path, **security: bool) -> Settings:
    return load_settings(state_dir=tmp_path, security=security)


@pytest.mark.parametrize("host", LOOPBACK)
def test_loopback_is_always_allowed(host: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Setup: the default settings (no secure profile, no --expose), a loopback address.
    Invariant: the bind is allowed, silently."""
    assert is_loopback(host)
    with caplog.at_level(logging.WARNING):
        check_bind(host, "the dashboard", _settings(tmp_path), setting="dashboard.host")
    assert caplog.records == []


@pytest.mark.parametrize("host", REACHABLE)
def test_a_reachable_address_is_refused_by_default(host: str, tmp_path: Path) -> None:
    """Setup: the default settings, an address other machines reach (every interface, a LAN or
    link-local address, a host name that could resolve anywhere).
    Invariant: ExposedBindError saying what would listen where, which setting chose the address, and
    the three ways out."""
    assert not is_loopback(host)
    with pytest.raises(ExposedBindError) as raised:
        check_bind(host, "the dashboard", _settings(tmp_path), setting="dashboard.host")
    assert raised.value.message == (
        f"the dashboard would listen on {host} (dashboard.host, STREAMWISE_DASHBOARD_HOST), an address other "
        "machines can reach, while the secure profile is off"
    )
    assert raised.value.hint == (
        "set STREAMWISE_DASHBOARD_HOST=127.0.0.1 to keep it on this machine, pass --profile secure to protect "
        "it (TLS and logins), or pass --expose (STREAMWISE_SECURITY_EXPOSE=true) to serve it unprotected"
    )


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20"])
def test_the_secure_profile_allows_any_address(host: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Setup: the secure profile on (TLS and logins protect every service).
    Invariant: a non-loopback bind is allowed without a warning."""
    with caplog.at_level(logging.WARNING):
        check_bind(host, "Redis", _settings(tmp_path, enabled=True), setting="redis.host")
    assert caplog.records == []


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20"])
def test_expose_allows_it_with_a_warning(host: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Setup: --expose (security.expose) without the secure profile.
    Invariant: the bind is allowed, and one WARNING names the service, the address and what is missing."""
    with caplog.at_level(logging.WARNING, logger="streamwise.platform.ports"):
        check_bind(host, "PostgreSQL", _settings(tmp_path, expose=True), setting="postgres.host")
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (
            logging.WARNING,
            f"PostgreSQL listens on {host} without the secure profile (--expose): no TLS and no login, "
            "anyone who reaches that address can use it",
        )
    ]


@pytest.mark.parametrize("service", list(BINDS))
def test_check_binds_names_the_service_and_its_setting(service: str, tmp_path: Path) -> None:
    """Setup: one service's host set to 0.0.0.0 through its STREAMWISE_* section, the others default.
    Invariant: check_binds over every service refuses with that service's own name and setting, so a
    platform start fails before it starts anything."""
    cfg = load_settings(state_dir=tmp_path, **{service: {"host": "0.0.0.0"}})
    what, setting = BINDS[service]
    with pytest.raises(ExposedBindError) as raised:
        check_binds(cfg)
    assert raised.value.message.startswith(f"{what} would listen on 0.0.0.0 ({setting}, ")
    check_binds(cfg, [name for name in BINDS if name != service])  # the others are loopback
