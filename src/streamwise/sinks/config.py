"""The sinks a pipeline spec can name, as pydantic models told apart by ``type``.

Every sink is written from the pipeline's one ``foreachBatch`` and is idempotent on (sink writer id,
batch id): a replayed micro-batch changes nothing. ``retry`` bounds how long a writer waits for a
sink that is down.
"""

from __future__ import annotations

import ipaddress
import re
import string
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import parse_qsl, urlsplit

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator, model_validator

from streamwise.platform.dead_letters import dlq_topic
from streamwise.platform.storage import Location, location
from streamwise.sinks._retry import RetryPolicy

_COLUMN = r"^[A-Za-z_][A-Za-z0-9_]*$"
_TABLE = r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$"
_TOPIC = r"^[A-Za-z0-9._-]{1,249}$"

Column = Annotated[str, Field(pattern=_COLUMN)]

# Keys under this prefix are streamwise's own in Redis (the Redis sink's batch markers,
# ``streamwise:sink:<writer id>:batch``): a sink's key template may not address them, or a row could
# move a marker and make the sink skip (or write twice) a batch.
RESERVED_KEY_PREFIX = "streamwise:"


def store_retry() -> RetryPolicy:
    """The PostgreSQL and Redis sinks' default: ride out a store restart without failing the query.

    A store stopped for 30 s (a restart, a failover, the R3 chaos drill) answers again a few
    seconds after that; the shared default's waits (8 tries: 35.5 s at most, 32 s with full
    jitter) end within a second or two of it, so whether the batch, and the driver with it,
    survives would depend on that. 12 tries wait 0.5 1 2 4 8 then 10 s seven times: 75.5 s at
    most, 68 s at least, over twice the outage, while a store that stays away still fails the
    query within ~80 s (the supervisor then restarts the driver, which replays the batch from its
    checkpoint)."""
    return RetryPolicy(attempts=12)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeltaSink(_Model):
    """Append to a Delta table, exactly once through Delta's ``txnAppId``/``txnVersion``."""

    type: Literal["delta"]
    path: str = Field(description="absolute (or a Hadoop URI), or relative to the data root's warehouse/")
    partition_by: list[str] = Field(default_factory=list)
    compact_every: int | None = Field(default=None, ge=1, description="Delta OPTIMIZE after every N micro-batches")


class ConsoleSink(_Model):
    """Print each micro-batch (for trying things out)."""

    type: Literal["console"]
    rows: int = 20


class _DeadLetterSink(_Model):
    """A sink that refuses single rows (a null key, a value its store cannot hold, a rejected request)
    and sends them, with the reason, to its own dead-letter topic ``<name>.dlq``."""

    name: str | None = Field(
        default=None, pattern=_TOPIC, description="names the dead-letter topic <name>.dlq; default: the sink's label"
    )

    def dead_letter_topic(self, writer_id: str) -> str:
        """``<name>.dlq``; by default named after the sink's label, which outlives its checkpoint."""
        return dlq_topic(self.name or sink_label_of(writer_id))


class PostgresSink(_DeadLetterSink):
    """Upsert rows into a PostgreSQL table by ``key``; the batch marker commits in the same transaction.
    Rows PostgreSQL cannot take (a null key, a NUL byte in text, a value the table refuses) go to
    ``<name>.dlq``."""

    type: Literal["postgres"]
    table: str = Field(pattern=_TABLE, description="table or schema.table, lower case")
    key: list[Column] = Field(min_length=1, description="columns of the primary key the upsert matches on")
    order_by: Column | None = Field(
        default=None,
        description="when a key repeats (in a batch or across batches), the row with the highest value wins",
    )
    create_table: bool = Field(default=True, description="create the table from the batch's schema if missing")
    marker_table: str = Field(default="streamwise_sink_batches", pattern=_TABLE)
    retry: RetryPolicy = Field(default_factory=store_retry)

    @model_validator(mode="after")
    def _distinct(self) -> PostgresSink:
        if len(set(self.key)) != len(self.key):
            raise ValueError(f"key lists a column twice: {self.key}")
        if self.order_by in self.key:
            raise ValueError(f"order_by {self.order_by!r} is a key column; pick a version or time column")
        if self.marker_table == self.table:
            raise ValueError("marker_table must differ from table")
        return self


class RedisSink(_DeadLetterSink):
    """Latest state per key in hashes, or scored members (top-N, recommendations) in sorted sets.
    Rows with a null key column, or a null or non-finite score, go to ``<name>.dlq``."""

    type: Literal["redis"]
    structure: Literal["hash", "sorted_set"] = "hash"
    key: str = Field(
        description="a key template over columns, e.g. 'user:{user_id}'; a sorted set may be one fixed key"
    )
    fields: list[Column] | None = Field(default=None, description="hash: columns stored (default: all)")
    member: Column | None = Field(default=None, description="sorted_set: the column naming the member")
    score: Column | None = Field(default=None, description="sorted_set: the numeric column scoring it")
    top_n: int | None = Field(default=None, ge=1, description="sorted_set: keep only the N highest")
    replace: bool = Field(default=False, description="sorted_set: a batch replaces each set it touches")
    order_by: Column | None = Field(default=None, description="when a key repeats in a batch, the highest wins")
    ttl_s: int | None = Field(default=None, ge=1, description="expire keys this long after their last write")
    retry: RetryPolicy = Field(default_factory=store_retry)

    @field_validator("key")
    @classmethod
    def _template(cls, value: str) -> str:
        bad = [n for n in key_columns(value) if not re.match(_COLUMN, n)]
        if bad:
            raise ValueError(f"{value!r}: {bad} are not plain column names")
        if literal_prefix(value).startswith(RESERVED_KEY_PREFIX):
            raise ValueError(
                f"key template {value!r} addresses streamwise's own keys: the prefix "
                f"{RESERVED_KEY_PREFIX!r} is reserved for the sinks' batch markers; pick another prefix"
            )
        return value

    @model_validator(mode="after")
    def _fits_structure(self) -> RedisSink:
        if self.structure == "sorted_set":
            if not (self.member and self.score):
                raise ValueError("a sorted_set needs member and score columns")
            if self.fields is not None:
                raise ValueError("fields applies to hashes; a sorted_set stores member and score")
        elif self.member or self.score or self.top_n or self.replace:
            raise ValueError("member, score, top_n and replace apply to sorted_set, not hash")
        elif not key_columns(self.key):
            raise ValueError(f"a hash per key needs a key naming a column, like 'user:{{user_id}}' (got {self.key!r})")
        return self


class _TopicSink(_Model):
    """Rows as JSON records on a topic, written by a transactional producer (read them read_committed)."""

    topic: str = Field(pattern=_TOPIC)
    key: Column | None = Field(default=None, description="column whose value keys the record")
    partitions: int = Field(default=1, ge=1, description="used when the topic has to be created")
    timeout_s: float = Field(default=30.0, gt=0, description="per transaction step")
    retry: RetryPolicy = Field(default_factory=RetryPolicy)


class KafkaSink(_TopicSink):
    """Rows as JSON records on a topic, keyed by a column; each batch in one Kafka transaction with its
    marker, so a replayed batch is not written twice (consumers read with isolation.level=read_committed)."""

    type: Literal["kafka"]


class KafkaAlertsSink(_TopicSink):
    """Alerts: the same exactly-once topic writer as ``kafka``, named for what it carries."""

    type: Literal["kafka_alerts"]


class WebhookSink(_DeadLetterSink):
    """HTTP POST of each row (or each batch) as JSON; rejected after retries: to ``<name>.dlq``.

    The URL and the headers are secrets as far as streamwise tells: logs, errors and dead letters
    show the URL as :func:`redact_url` makes it, never a header's value. A target on a private,
    loopback, link-local or unspecified address is refused (checked on every connection, after DNS)
    unless ``allow_private`` is set or its host is in ``allowed_hosts``.
    """

    type: Literal["webhook"]
    url: AnyHttpUrl
    mode: Literal["row", "batch"] = Field(default="row", description="one POST per row, or one JSON array per batch")
    headers: dict[str, str] = Field(default_factory=dict)
    timeout_s: float = Field(default=10.0, gt=0, le=300)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    allow_private: bool = Field(
        default=False, description="allow private, loopback, link-local and unspecified target addresses"
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="host names, addresses or networks (10.0.0.0/8) allowed although private",
    )

    @field_validator("headers")
    @classmethod
    def _own_headers(cls, value: dict[str, str]) -> dict[str, str]:
        taken = {"content-type", "idempotency-key"} & {k.lower() for k in value}
        if taken:
            raise ValueError(f"{sorted(taken)} are set by streamwise")
        return value

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts(cls, value: list[str]) -> list[str]:
        for entry in value:
            if not entry or any(c.isspace() for c in entry):
                raise ValueError(f"allowed_hosts entry {entry!r} is not a host name, an address or a network")
        return value

    @model_validator(mode="after")
    def _literal_target(self) -> WebhookSink:
        # An address written in the URL can be refused now; a name is checked when it is resolved.
        host = (self.url.host or "").strip("[]").lower()
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            address = None
        kind = address_kind(address) if address is not None else None
        if kind is not None and not self.allows(host, address):
            raise ValueError(refused_target_message(self, host, host, kind))
        return self

    def allows(self, host: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> bool:
        """True when the sink's config allows ``host`` (resolved to ``address``) though it is private."""
        if self.allow_private or host.lower() in {h.lower().strip("[]") for h in self.allowed_hosts}:
            return True
        if address is None:
            return False
        for entry in self.allowed_hosts:
            try:
                if address in ipaddress.ip_network(entry.strip("[]"), strict=False):
                    return True
            except ValueError:
                continue  # a host name, matched above
        return False

    @property
    def redacted_url(self) -> str:
        """The URL as logs, errors and dead letters show it (:func:`redact_url`)."""
        return redact_url(str(self.url))

    def secrets(self) -> list[str]:
        """What of the URL and headers must never be shown: user info, query values, long path parts
        (tokens such as Slack's), and the values of headers named like credentials. Longest first."""
        url = urlsplit(str(self.url))
        found = [url.username or "", url.password or "", url.query, url.path if url.path not in ("", "/") else ""]
        found += [value for _, value in parse_qsl(url.query, keep_blank_values=True)]
        found += [part for part in url.path.split("/") if len(part) >= 8]
        for name, value in self.headers.items():
            if SENSITIVE_NAME.search(name):
                found += [value, *value.split()]  # 'Bearer abc': the token alone, too
        return sorted({s for s in found if len(s) >= 4}, key=len, reverse=True)


# Names of headers (and query parameters) whose values are credentials.
SENSITIVE_NAME = re.compile(r"auth|token|key|secret|passw|signature|session|cookie|credential", re.IGNORECASE)


def redact_url(url: str) -> str:
    """``url`` with only what does not authenticate: scheme, host and port. User info becomes
    ``***@``, and a path or query becomes ``/***`` (``https://hooks.example.com/***``)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is not None:
        netloc += f":{port}"
    if parts.username or parts.password:
        netloc = f"***@{netloc}"
    tail = "/***" if parts.path not in ("", "/") or parts.query or parts.fragment else parts.path
    return f"{parts.scheme}://{netloc}{tail}"


def address_kind(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """What makes ``address`` a refused webhook target ("loopback", "link-local", ...), or None."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("private", address.is_private),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
    )
    return next((kind for kind, hit in checks if hit), None)


def refused_target_message(sink: WebhookSink, host: str, address: str, kind: str) -> str:
    """Why a webhook target is refused (the URL redacted)."""
    article = "an" if kind[0] in "aeiou" else "a"
    return (
        f"webhook {sink.redacted_url}: {host} resolves to {address}, {article} {kind} address; "
        "private, loopback, link-local and unspecified targets are refused unless the sink sets "
        "allow_private: true or lists the host in allowed_hosts"
    )


Sink = Annotated[
    DeltaSink | KafkaSink | ConsoleSink | PostgresSink | RedisSink | KafkaAlertsSink | WebhookSink,
    Field(discriminator="type"),
]
SINK_TYPES = ("delta", "kafka", "console", "postgres", "redis", "kafka_alerts", "webhook")
TopicSink = KafkaSink | KafkaAlertsSink
DeadLetterSink = PostgresSink | RedisSink | WebhookSink


def writer_id(label: str, checkpoint_id: str) -> str:
    """A sink writer's identity: its stable label and the checkpoint it writes for, e.g.
    ``clickstream.1.postgres@5f3c9a1e``. It keys the sink's idempotency marker, so a fresh checkpoint
    (batch ids from 0 again) is never taken for a replay of an old one."""
    return f"{label}@{checkpoint_id[:8]}"


def sink_label_of(writer_id: str) -> str:
    """The label part of a writer id (the whole string when it has no checkpoint part)."""
    return writer_id.partition("@")[0]


def sink_location(sink: Sink) -> str:
    """Where a sink writes, as its spec names it: a Delta path, a PostgreSQL table, a Redis key
    template, a Kafka topic, a webhook URL; empty for the console."""
    if isinstance(sink, DeltaSink):
        return sink.path
    if isinstance(sink, PostgresSink):
        return sink.table
    if isinstance(sink, RedisSink):
        return sink.key
    if isinstance(sink, KafkaSink | KafkaAlertsSink):
        return sink.topic
    if isinstance(sink, WebhookSink):
        return sink.redacted_url
    return ""


def warehouse_path(spec_path: str, root: Location) -> Location:
    """A Delta table's path: absolute (or a URI) as given, else under the data root's ``warehouse/``."""
    if "://" in spec_path:
        return location(spec_path)
    path = Path(spec_path)
    return path if path.is_absolute() else root / "warehouse" / spec_path


def literal_prefix(template: str) -> str:
    """The fixed text a key template starts with, before its first column: 'user:{user_id}' -> 'user:'."""
    try:
        for literal, name, _, _ in string.Formatter().parse(template):
            return literal if name is not None else template
    except ValueError:
        return template
    return template


def key_columns(template: str) -> list[str]:
    """The columns a Redis key template names, in order: 'top:{window_start}:{page}' -> [window_start, page]."""
    try:
        return [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise ValueError(f"{template!r} is not a key template: {exc}") from None
