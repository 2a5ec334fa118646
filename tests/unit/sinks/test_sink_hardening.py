"""What the sinks refuse or hide, without a store: Redis key templates addressing streamwise's own
marker keys, webhook URLs and headers in what streamwise shows, and webhook targets on private,
loopback, link-local or unspecified addresses."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from pydantic import TypeAdapter, ValidationError

from streamwise.sinks import RedisSink, Sink, WebhookSink
from streamwise.sinks.config import RESERVED_KEY_PREFIX, address_kind, redact_url, sink_location
from streamwise.sinks.redis import marker_key, row_error
from streamwise.sinks.webhook import Redactor, TargetRefusedError, check_target

SINK: TypeAdapter[Sink] = TypeAdapter(Sink)
REFUSED = (
    "private, loopback, link-local and unspecified targets are refused unless the sink sets "
    "allow_private: true or lists the host in allowed_hosts"
)


@pytest.mark.parametrize("template", ["streamwise:sink:q:batch", "streamwise:{user_id}", "streamwise:"])
def test_a_key_template_cannot_address_the_marker_keys(template: str) -> None:
    """Setup: Redis sinks whose key template starts with the reserved prefix. Invariant: refused at
    spec validation with a message naming the template and the prefix; the markers live under it."""
    assert marker_key("q").startswith(RESERVED_KEY_PREFIX) and RESERVED_KEY_PREFIX == "streamwise:"
    with pytest.raises(ValidationError) as caught:
        SINK.validate_python({"type": "redis", "structure": "sorted_set", "key": template, "member": "m", "score": "s"})
    assert (
        f"key template {template!r} addresses streamwise's own keys: the prefix 'streamwise:' is reserved "
        "for the sinks' batch markers; pick another prefix"
    ) in str(caught.value)


def test_a_key_rendered_from_data_into_the_reserved_prefix_is_a_dead_letter() -> None:
    """Setup: a template that starts with a column ('{page}'), and a row whose value renders a marker key.
    Invariant: that row's reason names the reserved prefix; an ordinary row has none."""
    sink = RedisSink(type="redis", key="{page}")
    assert row_error(sink, {"page": "streamwise:sink:q:batch"}) == (
        "redis sink {page}: the key renders under 'streamwise:', reserved for streamwise's own markers"
    )
    assert row_error(sink, {"page": "/home"}) is None


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.example.com/services/T000/B000/XXXXSECRETXXXX", "https://hooks.example.com/***"),
        ("https://user:pa55word@hooks.example.com:8443/h?token=abc123", "https://***@hooks.example.com:8443/***"),
        ("https://hooks.example.com/", "https://hooks.example.com/"),
        ("http://[2001:db8::1]:9000/x", "http://[2001:db8::1]:9000/***"),
    ],
)
def test_webhook_urls_are_shown_redacted(url: str, shown: str) -> None:
    """Invariant: only scheme, host and port are shown; user info, path and query become ***."""
    assert redact_url(url) == shown


def test_the_redactor_takes_url_parts_and_credential_headers_out_of_any_text() -> None:
    """Setup: a sink with a token in its query and path and an Authorization and X-Api-Key header.
    Invariant: the sink's location is the redacted URL; a text quoting the URL, the token, the header
    values (also the bearer token alone) keeps none of them; a harmless header's value is kept."""
    sink = WebhookSink(
        type="webhook",
        url="https://hooks.example.com/hook/abcdefgh12345678?token=tok-98765",
        headers={"Authorization": "Bearer bearer-secret-1", "X-Api-Key": "key-secret-2", "X-Team": "growth"},
    )
    redact = Redactor(sink)
    assert sink_location(sink) == "https://hooks.example.com/***"
    text = redact(
        f"POST {sink.url} failed; token=tok-98765 auth=Bearer bearer-secret-1 bearer-secret-1 "
        "key-secret-2 path abcdefgh12345678 team growth"
    )
    for secret in ("tok-98765", "bearer-secret-1", "key-secret-2", "abcdefgh12345678"):
        assert secret not in text
    assert text.startswith("POST https://hooks.example.com/*** failed") and text.endswith("team growth")


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("::ffff:127.0.0.1", "loopback"),
        ("93.184.216.34", None),
    ],
)
def test_address_kinds(address: str, kind: str | None) -> None:
    """Invariant: each refused range is named (IPv4-mapped IPv6 as its IPv4); a public address is None."""
    assert address_kind(ipaddress.ip_address(address)) == kind


def test_a_webhook_url_naming_a_private_address_is_refused_at_validation_unless_allowed() -> None:
    """Setup: webhook sinks on the cloud metadata address (an address in the URL can be judged before
    any resolution). Invariant: refused with the exact message (URL redacted); accepted with
    allow_private or the address's network in allowed_hosts."""
    with pytest.raises(ValidationError) as caught:
        SINK.validate_python({"type": "webhook", "url": "http://169.254.169.254/latest/meta-data?x=1"})
    assert (
        f"webhook http://169.254.169.254/***: 169.254.169.254 resolves to 169.254.169.254, a link-local address; {REFUSED}"
        in str(caught.value)
    )
    assert SINK.validate_python({"type": "webhook", "url": "http://169.254.169.254/h", "allow_private": True})
    assert SINK.validate_python({"type": "webhook", "url": "http://10.0.0.5/h", "allowed_hosts": ["10.0.0.0/8"]})


def test_each_resolution_is_checked() -> None:
    """Setup: a sink on 'localhost' (a name: validation cannot judge it), checked the way every
    connection is. Invariant: TargetRefusedError with the exact message naming the address it resolved
    to; with allow_private, or the name in allowed_hosts, the address checked is returned to connect to."""
    first = socket.getaddrinfo("localhost", 9, type=socket.SOCK_STREAM)[0][4][0]
    sink = WebhookSink(type="webhook", url="http://localhost:9/h")
    with pytest.raises(TargetRefusedError) as caught:
        check_target(sink, "localhost", 9)
    assert (
        caught.value.message
        == f"webhook http://localhost:9/***: localhost resolves to {first}, a loopback address; {REFUSED}"
    )
    assert check_target(sink.model_copy(update={"allow_private": True}), "localhost", 9) == first
    assert check_target(sink.model_copy(update={"allowed_hosts": ["localhost"]}), "localhost", 9) == first
