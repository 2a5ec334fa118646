"""Settings, one pydantic-settings model per concern, each overridable by ``STREAMWISE_*`` variables.

Defaults work on a laptop with nothing set; ``streamwise config show`` prints every value in force.

The lowest layer but ``errors``: it imports nothing else of streamwise, and everything imports it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from streamwise.errors import ConfigError
from streamwise.secret_files import read_secret

# For short-lived admin/probe clients: connection-refused retries while a broker starts are expected,
# and librdkafka would print each one to stderr.
QUIET: dict[str, Any] = {"log_level": 0}


class KafkaNodeAddress(BaseModel):
    """Where one KRaft node of the local cluster listens."""

    node_id: int
    port: int
    controller_port: int


class KafkaSettings(BaseSettings):
    """The Kafka clients speak to: the local KRaft cluster streamwise starts (one node, or three for
    the cluster profile), or an existing one named by ``bootstrap_servers``.

    Local node ``i`` (from 0) has id ``node_id + i`` and listens on ``port + 2i`` for clients and on
    ``controller_port + 2i`` for the controller quorum: 9092/9093, 9094/9095, 9096/9097 by default.
    """

    model_config = SettingsConfigDict(env_prefix="STREAMWISE_KAFKA_", extra="forbid")

    bootstrap_servers: str | None = Field(
        default=None,
        description="an existing Kafka (host:port,host:port,...): clients use it, and streamwise starts no "
        "broker of its own; unset: the local cluster below",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=9092, ge=1, le=65535, description="client listener of the first local node")
    controller_port: int = Field(
        default=9093, ge=1, le=65535, description="KRaft controller listener of the first node"
    )
    node_id: int = Field(default=1, ge=0, description="id of the first node; the others count up from it")
    nodes: int = Field(
        default=1,
        ge=1,
        le=9,
        description="KRaft nodes (each broker and controller): 1, or 3 for the cluster profile "
        "(replication 3, min.insync.replicas 2)",
    )
    heap: str = Field(default="768m", description="JVM heap (-Xmx) of each node")
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_SSL", "SASL_PLAINTEXT"] = Field(
        default="PLAINTEXT",
        description="SASL_SSL in the secure profile (TLS, and SCRAM-SHA-512 logins); SSL or SASL_PLAINTEXT "
        "only for an existing Kafka that listens so",
    )
    sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = Field(
        default="SCRAM-SHA-512", description="how SASL logins prove the password (the secure profile: SCRAM-SHA-512)"
    )
    sasl_username: str | None = Field(default=None, description="the principal this process speaks as (SASL_*)")
    sasl_password: SecretStr | None = None
    ssl_ca_location: Path | None = Field(
        default=None,
        description="PEM file of the CA that signed the brokers (SSL, SASL_SSL); unset: the system's trusted CAs",
    )
    default_partitions: int = Field(default=3, ge=1)
    start_timeout_s: float = Field(default=90.0, gt=0)

    @field_validator("bootstrap_servers")
    @classmethod
    def _bootstrap_list(cls, value: str | None) -> str | None:
        if value is None:
            return None
        servers = [s.strip() for s in value.split(",")]
        for server in servers:
            host, _, port = server.rpartition(":")
            if not host or "://" in server or not port.isdigit() or not 0 < int(port) <= 65535:
                raise ValueError(
                    f"bootstrap server {server!r} is not host:port: give a comma-separated list such as "
                    "kafka-1.example.com:9092,kafka-2.example.com:9092 (no scheme; the protocol is security_protocol)"
                )
        return ",".join(servers)

    @model_validator(mode="after")
    def _ports_differ(self) -> KafkaSettings:
        clients = {a.port for a in self.addresses()}
        controllers = {a.controller_port for a in self.addresses()}
        if clients & controllers or max(clients | controllers) > 65535:
            raise ValueError(
                f"the client ports {sorted(clients)} and controller ports {sorted(controllers)} of "
                f"{self.nodes} node(s) overlap or pass 65535: node i uses port+2i and controller_port+2i, "
                "so give port and controller_port different parity or ranges apart"
            )
        return self

    def addresses(self) -> list[KafkaNodeAddress]:
        """Each local node's id and ports, in node order."""
        return [
            KafkaNodeAddress(
                node_id=self.node_id + i, port=self.port + 2 * i, controller_port=self.controller_port + 2 * i
            )
            for i in range(self.nodes)
        ]

    @property
    def external(self) -> bool:
        """True for an existing Kafka (``bootstrap_servers`` set): streamwise starts and stops no broker."""
        return self.bootstrap_servers is not None

    @property
    def bootstrap(self) -> str:
        """What clients bootstrap from: the existing Kafka's servers, or every local node's client
        listener (a client still finds the cluster while any one node is down)."""
        if self.bootstrap_servers is not None:
            return self.bootstrap_servers
        return ",".join(f"{self.host}:{a.port}" for a in self.addresses())

    def first_server(self) -> tuple[str, int]:
        """The first bootstrap server's host and port (a cheap is-it-up probe)."""
        host, _, port = self.bootstrap.split(",")[0].rpartition(":")
        return host.strip("[]"), int(port)

    @property
    def replication_factor(self) -> int:
        """Replicas of every topic the platform creates: 3 on a local cluster of three or more, else 1;
        -1 on an existing Kafka, which then applies its brokers' ``default.replication.factor``."""
        return -1 if self.external else min(3, self.nodes)

    @property
    def min_insync_replicas(self) -> int:
        """Replicas that must hold a write before acks=all answers: one failure tolerated on a cluster."""
        return max(1, min(3, self.nodes) - 1)

    @model_validator(mode="after")
    def _credentials_complete(self) -> KafkaSettings:
        if self.sasl:
            missing = [name for name in ("sasl_username", "sasl_password") if getattr(self, name) is None]
            if missing:
                raise ValueError(
                    f"security_protocol {self.security_protocol} needs {', '.join(missing)}: set STREAMWISE_KAFKA_"
                    f"{missing[0].upper()}, or let the secure profile's state folder provide them"
                )
        return self

    @property
    def sasl(self) -> bool:
        """True when clients log in, as a named principal (SASL_SSL or SASL_PLAINTEXT)."""
        return self.security_protocol.startswith("SASL_")

    def _security(self) -> dict[str, str]:
        """Kafka client properties (the Java and librdkafka names agree) for TLS and SASL; none in plaintext."""
        props: dict[str, str] = {}
        if self.security_protocol != "PLAINTEXT":
            props["security.protocol"] = self.security_protocol
        if self.sasl:
            assert self.sasl_username is not None and self.sasl_password is not None  # checked by the validator
            props |= {
                "sasl.mechanism": self.sasl_mechanism,
                "sasl.username": self.sasl_username,
                "sasl.password": self.sasl_password.get_secret_value(),
            }
        return props

    @property
    def tls(self) -> bool:
        """True when clients speak TLS to the brokers (SSL or SASL_SSL)."""
        return self.security_protocol in ("SSL", "SASL_SSL")

    def client_config(self, **extra: Any) -> dict[str, Any]:
        """librdkafka/confluent-kafka settings for a client of this cluster."""
        security: dict[str, Any] = self._security()
        if self.tls:
            # "probe": librdkafka's bundled OpenSSL looks for the system's CA bundle in the usual places.
            security["ssl.ca.location"] = str(self.ssl_ca_location) if self.ssl_ca_location else "probe"
        return {"bootstrap.servers": self.bootstrap, **security, **extra}

    def java_client_properties(self) -> dict[str, str]:
        """Properties for a Java client of this cluster (Kafka's own tools, ``--command-config``)."""
        props = {"bootstrap.servers": self.bootstrap}
        security = self._security()
        if self.sasl:
            user, password = security.pop("sasl.username"), security.pop("sasl.password")
            security["sasl.jaas.config"] = _jaas(self.sasl_mechanism, user, password)
        if self.tls and self.ssl_ca_location is not None:  # else the JVM's own trust store
            security |= {"ssl.truststore.type": "PEM", "ssl.truststore.location": str(self.ssl_ca_location)}
        return props | security

    def spark_options(self) -> dict[str, str]:
        """Options for Spark's Kafka source and sink (the ``kafka.`` prefix passes them through)."""
        return {f"kafka.{key}": value for key, value in self.java_client_properties().items()}


def _jaas(mechanism: str, user: str, password: str) -> str:
    """The JAAS line of a SASL login; quotes and backslashes in the values are escaped, as Kafka's
    JAAS parser (a quoted-string tokenizer) reads them back."""
    module = "plain.PlainLoginModule" if mechanism == "PLAIN" else "scram.ScramLoginModule"

    def quoted(value: str) -> str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    return f"org.apache.kafka.common.security.{module} required username={quoted(user)} password={quoted(password)};"


class SecuritySettings(BaseSettings):
    """The secure profile, and what the default allows."""

    model_config = SettingsConfigDict(env_prefix="STREAMWISE_SECURITY_", extra="forbid")

    enabled: bool = Field(
        default=False,
        description="the secure profile: Kafka SASL_SSL (SCRAM-SHA-512) with ACLs, registry over HTTPS with "
        "basic auth, dashboard login, PostgreSQL over TLS, Redis with a password",
    )
    expose: bool = Field(
        default=False, description="allow services to bind non-loopback addresses without the secure profile"
    )

    def folder(self, state: Path) -> Path:
        """Where the CA, certificates and passwords live (0700)."""
        return state / "security"


class SparkSettings(BaseSettings):
    """How streamwise builds its SparkSession, and the standalone cluster ``streamwise cluster up`` runs.

    The same pipeline runs on ``local[*]``, on that cluster (``spark://127.0.0.1:7077``) or on any
    existing cluster by ``master`` alone; the executor and driver settings size and place it there.
    Every address defaults to loopback. The local cluster's worker ``i`` (from 1) listens on
    ``worker_port + i - 1`` and serves its web UI on ``worker_ui_port + i - 1``.
    """

    model_config = SettingsConfigDict(env_prefix="STREAMWISE_SPARK_", extra="forbid")

    master: str = Field(
        default="local[*]",
        description="local[*], local[N], spark://host:7077 (cluster up: spark://127.0.0.1:7077), k8s://..., yarn",
    )
    driver_memory: str = "1g"
    driver_host: str = Field(
        default="127.0.0.1", description="the address executors reach the driver at (spark.driver.host)"
    )
    driver_bind_address: str = Field(
        default="127.0.0.1",
        description="where the driver's RPC and block manager listen (spark.driver.bindAddress); "
        "loopback unless executors on other machines must reach it (then --expose)",
    )
    executor_cores: int = Field(default=1, ge=1, description="cores per executor on a cluster (spark.executor.cores)")
    executor_memory: str = Field(default="1g", description="heap per executor on a cluster (spark.executor.memory)")
    cores_max: int | None = Field(
        default=None, ge=1, description="cores the application takes on a standalone cluster (spark.cores.max); all"
    )
    executor_python: str | None = Field(
        default=None,
        description="the Python executors run (PYSPARK_PYTHON), with streamwise's dependencies; default: this one",
    )
    conf: dict[str, str] = Field(
        default_factory=dict,
        description='any other Spark settings, over streamwise\'s own (JSON: {"spark.kubernetes.container.image": "..."})',
    )
    # Both defaults measured on 2 cores, clickstream at 2,000 events/s on a 1 s trigger: a stateful batch
    # took 426 ms with the in-memory store and 2 partitions against 682 ms with RocksDB and 4 (state
    # commit 146 ms against 630 ms). Set rocksdb for state larger than the driver's memory; on a
    # cluster, raise the partitions to the cores. A checkpoint keeps the values it was started with.
    shuffle_partitions: int = Field(default=2, ge=1, description="state stores and shuffle tasks per stateful step")
    state_store: Literal["rocksdb", "hdfs"] = Field(
        default="hdfs",
        description="streaming state: hdfs = Spark's in-memory store (small state, fastest), rocksdb = large state, off-heap",
    )
    ui: bool = Field(default=True, description="serve the Spark UI on loopback")
    ui_port: int = Field(default=4040, ge=1, le=65535)
    log_level: str = "WARN"
    # The local standalone cluster (streamwise cluster up): small by default, 2 cores and a few GiB.
    cluster_host: str = Field(default="127.0.0.1", description="where the local cluster's master and workers listen")
    master_port: int = Field(default=7077, ge=1, le=65535, description="the local cluster's master (spark://)")
    master_ui_port: int = Field(default=8080, ge=1, le=65535, description="the master's web UI and /json/")
    worker_port: int = Field(default=7078, ge=1, le=65535, description="worker 1's RPC port; worker i: +i-1")
    worker_ui_port: int = Field(default=8082, ge=1, le=65535, description="worker 1's web UI; worker i: +i-1")
    workers: int = Field(default=2, ge=1, le=32, description="workers cluster up starts")
    worker_cores: int = Field(default=1, ge=1, description="cores each worker offers")
    worker_memory: str = Field(default="1g", description="memory each worker offers its executors")
    daemon_memory: str = Field(default="256m", description="heap of the master and worker daemons themselves")
    cluster_start_timeout_s: float = Field(default=90.0, gt=0)

    @model_validator(mode="after")
    def _cluster_ports_differ(self) -> SparkSettings:
        self.cluster_ports(self.workers)
        return self

    def cluster_ports(self, workers: int) -> list[tuple[int, int]]:
        """Each worker's (RPC port, web UI port), in worker order; ValueError when any port of the
        cluster (master, its UI, the workers') is taken twice or passes 65535."""
        ports = [(self.worker_port + i, self.worker_ui_port + i) for i in range(workers)]
        every = [self.master_port, self.master_ui_port, *(p for pair in ports for p in pair)]
        if len(set(every)) < len(every) or max(every) > 65535:
            raise ValueError(
                f"the local Spark cluster's ports overlap or pass 65535 with {workers} worker(s): master "
                f"{self.master_port}, its UI {self.master_ui_port}, workers {ports[0][0]}-{ports[-1][0]}, "
                f"their UIs {ports[0][1]}-{ports[-1][1]}; move worker_port or worker_ui_port"
            )
        return ports

    @property
    def cluster_url(self) -> str:
        """The local cluster's master URL, as ``master`` takes it."""
        return f"spark://{self.cluster_host}:{self.master_port}"

    @property
    def local(self) -> bool:
        """True when ``master`` runs executors inside the driver (local, local[N], local[*], local[N,F])."""
        return self.master.strip().startswith("local")


class RegistrySettings(BaseSettings):
    """The Confluent-compatible schema registry streamwise runs (same default port as Confluent's).

    Hardened whatever the profile: only JSON request bodies up to ``max_body_bytes``, and only requests
    whose ``Host`` is one of :meth:`hosts` (no DNS rebinding, no cross-site writes from a browser).
    With ``tls_cert_file``/``tls_key_file`` it serves HTTPS; with ``users_dir`` every write needs HTTP
    basic auth. ``username``/``password``/``ca_file`` are the client side, passed to every client of
    the registry by :meth:`client_config`.
    """

    model_config = SettingsConfigDict(env_prefix="STREAMWISE_REGISTRY_", extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8081, ge=1, le=65535)
    topic: str = Field(default="_schemas", description="compacted topic holding the registry's state")
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host headers accepted besides host, 127.0.0.1 and localhost (each with the port); "
        "a name without a port means the registry's port; * accepts any",
    )
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, description="largest request body read (413 above)")
    tls_cert_file: Path | None = Field(default=None, description="PEM certificate: serve HTTPS (with tls_key_file)")
    tls_key_file: Path | None = Field(default=None, description="PEM private key of tls_cert_file")
    ca_file: Path | None = Field(default=None, description="PEM CA clients verify the registry's certificate with")
    users_dir: Path | None = Field(
        default=None, description="writes need basic auth: the password of user NAME is in USERS_DIR/NAME.password"
    )
    username: str | None = Field(default=None, description="the user this process writes as (basic auth)")
    password: SecretStr | None = None

    @model_validator(mode="after")
    def _pairs_complete(self) -> RegistrySettings:
        for first, second in (("tls_cert_file", "tls_key_file"), ("username", "password")):
            if (getattr(self, first) is None) != (getattr(self, second) is None):
                raise ValueError(f"{first} and {second} go together: set both or neither")
        return self

    @property
    def tls(self) -> bool:
        """HTTPS: the server has a certificate, or a client was given the CA to verify one with."""
        return self.tls_cert_file is not None or self.ca_file is not None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def hosts(self) -> frozenset[str]:
        """The ``Host`` header values the registry answers: ``host:port`` for its bind address,
        127.0.0.1, localhost and each of ``allowed_hosts`` (``*`` among them: any)."""
        names = {self.host, "127.0.0.1", "localhost", *self.allowed_hosts}
        return frozenset(_host_with_port(name.lower(), self.port) for name in names)

    def client_config(self, url: str | None = None) -> dict[str, str]:
        """Settings for a client of the registry, in confluent-kafka's ``SchemaRegistryClient`` names
        (``url``, ``basic.auth.user.info``, ``ssl.ca.location``). Credentials go only to this registry's
        own URL: a client pointed at another ``url`` gets the CA but never the password."""
        conf = {"url": url or self.url}
        if self.ca_file is not None:
            conf["ssl.ca.location"] = str(self.ca_file)
        own = url is None or url.rstrip("/") == self.url
        if own and self.username is not None and self.password is not None:
            conf["basic.auth.user.info"] = f"{self.username}:{self.password.get_secret_value()}"
        return conf


def _host_with_port(name: str, port: int) -> str:
    """``name`` as a ``Host`` header carries it: ``name:port``, ``[v6]:port``; kept when it has a port."""
    if name == "*" or (name.startswith("[") and "]:" in name) or (not name.startswith("[") and name.count(":") == 1):
        return name
    if name.startswith("["):  # [v6] without a port
        return f"{name}:{port}"
    if ":" in name:  # a bare IPv6 address
        return f"[{name}]:{port}"
    return f"{name}:{port}"


class DashboardSettings(BaseSettings):
    """Where the live dashboard listens and what it shows."""

    model_config = SettingsConfigDict(env_prefix="STREAMWISE_DASHBOARD_", extra="forbid")

    host: str = Field(default="127.0.0.1", description="bind address; loopback unless you mean to expose it")
    port: int = Field(default=8000, ge=1, le=65535)
    push_interval_s: float = Field(default=2.0, gt=0, description="seconds between two server-sent snapshots")
    history: int = Field(default=600, ge=1, description="progress records read back for the charts")
    alerts_topic: str = Field(default="alerts", description="Kafka topic of alerts (JSON values); never created")
    alerts_last: int = Field(default=50, ge=1, description="how many of the newest alerts the feed shows")
    results_table: Path | str | None = Field(
        default=None,
        description="Delta table of windowed results (a folder or a Hadoop URI); default: the clickstream pipeline's",
    )
    windows: int = Field(default=3, ge=1, description="most recent windows shown")
    per_window: int = Field(default=5, ge=1, description="rows shown per window")
    top_n: int = Field(default=10, ge=1, description="recommendations: top items of the latest window")
    stale_after_s: float = Field(default=60.0, gt=0, description="a query silent this long is shown as stale")
    start_timeout_s: float = Field(default=30.0, gt=0)
    tls: bool = Field(
        default=False, description="serve HTTPS, every route behind a login token (always on in the secure profile)"
    )

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"


class PostgresSettings(BaseSettings):
    """The local PostgreSQL server and the database/role streamwise's sinks and enrichment use.

    ``user`` is a role without superuser rights: it may connect to ``database``, use and create in its
    ``public`` schema, and owns the tables the sinks create. The server's superuser (``admin_user``)
    is only the platform's own. Both passwords are random, made on first start in the state folder
    (0600); ``password`` set explicitly (STREAMWISE_POSTGRES_PASSWORD, for a database of your own)
    wins over ``password_file``. ``ssl_ca_location`` set (the secure profile) makes clients speak TLS
    and verify the server's certificate and name (``sslmode=verify-full``).
    """

    model_config = SettingsConfigDict(env_prefix="STREAMWISE_POSTGRES_", extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=5432, ge=1, le=65535)
    database: str = Field(default="streamwise", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    user: str = Field(default="streamwise", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    admin_user: str = Field(
        default="postgres", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="the server's superuser (platform only)"
    )
    password: SecretStr | None = Field(default=None, description="wins over password_file (an external database)")
    password_file: Path | None = Field(
        default=None, description="0600 file holding user's password; default STATE_DIR/security/postgres.password"
    )
    ssl_ca_location: Path | None = Field(
        default=None, description="CA of the server's certificate: clients use TLS with sslmode=verify-full"
    )
    start_timeout_s: float = Field(default=60.0, gt=0)
    connect_timeout_s: int = Field(default=5, ge=1, description="per connection attempt (libpq connect_timeout)")

    @model_validator(mode="after")
    def _two_roles(self) -> PostgresSettings:
        if self.admin_user == self.user:
            raise ValueError(f"user and admin_user are both {self.user!r}: the sinks' role must not be the superuser")
        return self

    def secret(self) -> SecretStr:
        """``user``'s password: ``password`` when set, else the one in ``password_file``."""
        if self.password is not None:
            return self.password
        if self.password_file is None:
            raise ConfigError(
                "no PostgreSQL password: neither postgres.password nor postgres.password_file is set",
                hint="set STREAMWISE_POSTGRES_PASSWORD, or STREAMWISE_POSTGRES_PASSWORD_FILE to a 0600 file",
            )
        return read_secret(self.password_file)

    def tls(self) -> dict[str, str]:
        """libpq's TLS keywords: verify the server's certificate and host name (none without a CA)."""
        if self.ssl_ca_location is None:
            return {}
        return {"sslmode": "verify-full", "sslrootcert": str(self.ssl_ca_location)}

    def conninfo(self, database: str | None = None) -> dict[str, Any]:
        """Keyword arguments for ``psycopg.connect``."""
        return {
            "host": self.host,
            "port": self.port,
            "dbname": database or self.database,
            "user": self.user,
            "password": self.secret().get_secret_value(),
            "connect_timeout": self.connect_timeout_s,
            "application_name": "streamwise",
            **self.tls(),
        }

    @property
    def jdbc_url(self) -> str:
        """For Spark's JDBC source (reference-data enrichment); credentials go in :meth:`jdbc_properties`."""
        url = f"jdbc:postgresql://{self.host}:{self.port}/{self.database}"
        if self.ssl_ca_location is not None:
            url += f"?ssl=true&sslmode=verify-full&sslrootcert={self.ssl_ca_location}"
        return url

    def jdbc_properties(self) -> dict[str, str]:
        """User, password and driver for Spark's JDBC source."""
        return {"user": self.user, "password": self.secret().get_secret_value(), "driver": "org.postgresql.Driver"}


class RedisSettings(BaseSettings):
    """The local Redis server (append-only file on, loopback only).

    It always requires a password: ``password`` when set, else the random one made on first start in
    ``password_file`` (0600). ``ssl_ca_location`` set (the secure profile) makes clients speak TLS and
    verify the server's certificate and name.
    """

    model_config = SettingsConfigDict(env_prefix="STREAMWISE_REDIS_", extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=6379, ge=1, le=65535)
    db: int = Field(default=0, ge=0, le=15)
    password: SecretStr | None = Field(default=None, description="requirepass; wins over password_file")
    password_file: Path | None = Field(
        default=None, description="0600 file holding the password; default STATE_DIR/security/redis.password"
    )
    ssl_ca_location: Path | None = Field(default=None, description="CA of the server's certificate: clients use TLS")
    start_timeout_s: float = Field(default=30.0, gt=0)
    socket_timeout_s: float = Field(default=5.0, gt=0)

    def secret(self) -> SecretStr | None:
        """The password clients send: ``password``, else the one in ``password_file``, else none."""
        if self.password is not None:
            return self.password
        return read_secret(self.password_file) if self.password_file is not None else None

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``redis.Redis``."""
        secret = self.secret()
        tls: dict[str, Any] = {}
        if self.ssl_ca_location is not None:
            tls = {"ssl": True, "ssl_ca_certs": str(self.ssl_ca_location), "ssl_check_hostname": True}
        return {
            "host": self.host,
            "port": self.port,
            "db": self.db,
            "password": secret.get_secret_value() if secret else None,
            "socket_timeout": self.socket_timeout_s,
            "socket_connect_timeout": self.socket_timeout_s,
            "decode_responses": True,
            **tls,
        }


SECTIONS: dict[str, type[BaseSettings]] = {
    "security": SecuritySettings,
    "kafka": KafkaSettings,
    "spark": SparkSettings,
    "registry": RegistrySettings,
    "dashboard": DashboardSettings,
    "postgres": PostgresSettings,
    "redis": RedisSettings,
}


class Settings(BaseSettings):
    """Everything a local run needs; all files it writes live under ``state_dir``, but checkpoints and Delta
    tables, which live under ``data_root`` when it is set."""

    model_config = SettingsConfigDict(env_prefix="STREAMWISE_", extra="forbid")

    state_dir: Path = Field(default=Path(".streamwise"), description="pids, logs, data, checkpoints")
    cache_dir: Path | None = Field(default=None, description="JVM jars and Maven repo; default STATE_DIR/cache")
    data_root: str | None = Field(
        default=None,
        description="where checkpoints and Delta tables live (checkpoints/, warehouse/): a local path or a "
        "Hadoop URI (hdfs://, s3a://, abfss://, gs://, file://) every Spark executor can reach; default "
        "STATE_DIR. Pids, logs, secrets and models stay in STATE_DIR",
    )
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    spark: SparkSettings = Field(default_factory=SparkSettings)
    registry: RegistrySettings = Field(default_factory=RegistrySettings)
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings)
    postgres: PostgresSettings = Field(default_factory=PostgresSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)

    @field_validator("data_root")
    @classmethod
    def _check_data_root(cls, value: str | None) -> str | None:
        if value is None:
            return None
        problem = data_root_problem(value)
        if problem is not None:
            raise ValueError(f"{problem}; {DATA_ROOT_HINT}")
        return value

    @model_validator(mode="after")
    def _existing_kafka_brings_its_security(self) -> Settings:
        if self.security.enabled and self.kafka.external:
            raise ValueError(
                "the secure profile secures the Kafka streamwise starts (its CA, users and ACLs), but "
                f"kafka.bootstrap_servers names an existing one ({self.kafka.bootstrap}): leave the profile off and "
                "give that Kafka's own security_protocol, sasl_* and ssl_ca_location"
            )
        return self

    @model_validator(mode="after")
    def _store_secrets(self) -> Settings:
        """PostgreSQL's and Redis's clients read the password files the servers make in the state folder
        on first start, and in the secure profile trust its CA, unless told otherwise."""
        folder = self.security.folder(self.state)
        for name, section in (("postgres", self.postgres), ("redis", self.redis)):
            update: dict[str, Path] = {}
            if section.password is None and section.password_file is None:
                update["password_file"] = folder / f"{name}.password"
            if self.security.enabled and section.ssl_ca_location is None:
                update["ssl_ca_location"] = folder / "ca.pem"  # streamwise.platform.certificates.ca_file makes it
            if update:
                setattr(self, name, section.model_copy(update=update))
        return self

    @model_validator(mode="after")
    def _dashboard_https(self) -> Settings:
        """The secure profile's dashboard serves HTTPS: its login token and cookie never cross in clear."""
        if self.security.enabled and not self.dashboard.tls:
            self.dashboard = self.dashboard.model_copy(update={"tls": True})
        return self

    def sections(self) -> dict[str, BaseSettings]:
        """Each section by name, in the order of :data:`SECTIONS`."""
        return {name: getattr(self, name) for name in SECTIONS}

    @property
    def cache(self) -> Path:
        return (self.cache_dir or self.state_dir / "cache").resolve()

    @property
    def state(self) -> Path:
        return self.state_dir.resolve()

    @property
    def data(self) -> Path | str:
        """The root of checkpoints and Delta tables: a local folder, or a Hadoop URI (``hdfs://...``)."""
        if self.data_root is None:
            return self.state
        if "://" not in self.data_root:
            return Path(self.data_root).expanduser().resolve()
        parts = urlsplit(self.data_root)
        # file:///x is the local folder /x: Python reads it directly, Spark writes it the same.
        scheme = parts.scheme.lower()
        # Hadoop finds a file system by its scheme as spelt (fs.<scheme>.impl): spell it as Hadoop does.
        return Path(parts.path).resolve() if scheme == "file" else scheme + self.data_root[len(scheme) :].rstrip("/")


# The Hadoop file systems a data root may be on: Spark writes checkpoints and Delta tables to each (given
# its connector jar and credentials), and streamwise reads them back through the driver's Hadoop client.
DATA_ROOT_SCHEMES = ("hdfs", "s3a", "abfss", "gs", "file")
DATA_ROOT_HINT = (
    "set STREAMWISE_DATA_ROOT to a local folder or a URI such as hdfs://namenode:8020/streamwise, "
    "s3a://bucket/streamwise, abfss://container@account.dfs.core.windows.net/streamwise, gs://bucket/streamwise "
    "(or unset it to keep checkpoints and tables in the state folder)"
)
_OTHER_NAMES = {"s3": "s3a", "s3n": "s3a", "abfs": "abfss", "wasb": "abfss", "wasbs": "abfss"}


def data_root_problem(value: str) -> str | None:
    """What is wrong with ``value`` as a data root (see ``Settings.data_root``), or None."""
    if not value.strip() or value != value.strip():
        return f"data root {value!r} is empty or has spaces around it"
    if "://" not in value:
        return None  # a local folder
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 -- parsing the port is the check (a non-number raises)
    except ValueError as exc:
        return f"data root {value!r} is not a valid URI ({exc})"
    scheme = parts.scheme.lower()
    if scheme not in DATA_ROOT_SCHEMES:
        instead = f"; did you mean {_OTHER_NAMES[scheme]}://?" if scheme in _OTHER_NAMES else ""
        return (
            f"data root {value!r} has scheme {scheme!r}, which streamwise does not take "
            f"(one of {', '.join(s + '://' for s in DATA_ROOT_SCHEMES)}){instead}"
        )
    if parts.query or parts.fragment:
        return f"data root {value!r} has a query or fragment (after ? or #); a file system root takes none"
    if scheme == "file":
        if parts.netloc or not parts.path.startswith("/"):
            return f"data root {value!r} is not a local URI: file:///absolute/path (three slashes, no host)"
        return None
    if not parts.netloc and scheme != "hdfs":  # hdfs:///x is on the cluster's fs.defaultFS
        what = {"s3a": "bucket", "gs": "bucket", "abfss": "container@account.dfs.core.windows.net"}[scheme]
        return f"data root {value!r} names no {what} ({scheme}://{what}/path)"
    if scheme == "abfss" and "@" not in parts.netloc:
        return f"data root {value!r} names no container: abfss://container@account.dfs.core.windows.net/path"
    if parts.path and not parts.path.startswith("/"):
        return f"data root {value!r} has a relative path after its authority"
    return None


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment plus explicit overrides (CLI options), or say what is wrong.

    ``overrides`` may hold a dict per section (``kafka``, ``spark``, ...) updating it field by field.
    """
    try:
        # Any: each name maps to its own section type, which Settings(**sections) checks field by field.
        sections: dict[str, Any] = {name: section(**overrides.pop(name, {})) for name, section in SECTIONS.items()}
        return Settings(**sections, **overrides)
    except ValidationError as exc:
        raise ConfigError(_describe(exc), hint="fix the option or the STREAMWISE_* variable named") from None


def _describe(exc: ValidationError) -> str:
    title = {section.__name__: name for name, section in SECTIONS.items()}.get(exc.title, "settings")
    parts = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{title}.{field}: {err['msg']} (got {err.get('input')!r})")
    return "invalid configuration: " + "; ".join(parts)


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes a child process see exactly these settings."""
    env = {"STREAMWISE_STATE_DIR": str(settings.state), "STREAMWISE_CACHE_DIR": str(settings.cache)}
    if settings.data_root is not None:
        env["STREAMWISE_DATA_ROOT"] = str(settings.data)
    for prefix, section in settings.sections().items():
        for name in type(section).model_fields:
            value = getattr(section, name)
            if isinstance(value, SecretStr):
                value = value.get_secret_value()  # str() would hand the child '**********'
            elif isinstance(value, list | dict):
                value = json.dumps(value)  # pydantic-settings reads a list or dict from the environment as JSON
            if value is not None:  # unset stays unset (str(None) would be read back as a value)
                env[f"STREAMWISE_{prefix.upper()}_{name.upper()}"] = str(value)
    return env
