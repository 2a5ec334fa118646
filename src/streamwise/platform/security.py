"""The secure profile's Kafka side: SCRAM users, their passwords, ACLs, and the clients that speak as them.

In the secure profile every broker's client listener is SASL_SSL with SCRAM-SHA-512 and every KRaft
controller listener is mutual TLS (:mod:`streamwise.platform.kafka` writes that configuration). Each
role (a producer scenario, a pipeline, the registry, the dashboard) is a SCRAM user of its own with
only the ACLs it needs; ``admin`` is the super user the brokers and streamwise's own tooling speak
as. A user's password lives in ``STATE/security/users/<name>.password`` (0600, born so); Kafka keeps
only the salted SCRAM hashes.

Users and ACLs are made through Kafka's own Admin API (``AlterUserScramCredentials``,
``CreateAcls``), as ``admin``; nothing here edits the brokers' files.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast, get_args

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)
from pydantic import SecretStr

from streamwise.config import QUIET, Settings
from streamwise.platform import certificates
from streamwise.platform.exceptions import SecurityError
from streamwise.secret_files import ensure_secret, new_password, private_dir, read_secret, write_secret

log = logging.getLogger(__name__)

ADMIN = "admin"
MECHANISM = "SCRAM-SHA-512"
# Kafka's own default for credentials made by kafka-configs / kafka-storage; 4096 is its minimum.
SCRAM_ITERATIONS = 8192
CLUSTER_NAME = "kafka-cluster"  # the one name a cluster resource has in Kafka's ACLs
ADMIN_TIMEOUT_S = 30.0

# File-name safe and free of SCRAM's own separators (',' and '=' would need escaping in a username).
_USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
# Brokers authenticate to the controllers with certificates named kafka-<id>: such names are super
# users, so no SCRAM user may take one.
_NODE_PRINCIPAL = re.compile(r"^kafka-\d+$")

Resource = Literal["topic", "group", "transactional_id", "cluster"]
Operation = Literal[
    "read", "write", "describe", "create", "describe_configs", "alter_configs", "idempotent_write", "all"
]
Pattern = Literal["literal", "prefixed"]
Permission = Literal["allow", "deny"]

RESOURCES: tuple[Resource, ...] = get_args(Resource)
OPERATIONS: tuple[Operation, ...] = get_args(Operation)

_RESOURCE_TYPES: dict[Resource, ResourceType] = {
    "topic": ResourceType.TOPIC,
    "group": ResourceType.GROUP,
    "transactional_id": ResourceType.TRANSACTIONAL_ID,
    "cluster": ResourceType.BROKER,  # librdkafka's name for Kafka's CLUSTER resource (code 4)
}
_OPERATIONS: dict[Operation, AclOperation] = {
    "read": AclOperation.READ,
    "write": AclOperation.WRITE,
    "describe": AclOperation.DESCRIBE,
    "create": AclOperation.CREATE,
    "describe_configs": AclOperation.DESCRIBE_CONFIGS,
    "alter_configs": AclOperation.ALTER_CONFIGS,
    "idempotent_write": AclOperation.IDEMPOTENT_WRITE,
    "all": AclOperation.ALL,
}
_PATTERNS: dict[Pattern, ResourcePatternType] = {
    "literal": ResourcePatternType.LITERAL,
    "prefixed": ResourcePatternType.PREFIXED,
}
_PERMISSIONS: dict[Permission, AclPermissionType] = {
    "allow": AclPermissionType.ALLOW,
    "deny": AclPermissionType.DENY,
}


@dataclass(frozen=True)
class Acl:
    """One access rule: ``principal`` (a bare user name, ``User:<name>`` to Kafka) may do ``operation``
    on the resource ``name`` (every name starting with it when ``pattern`` is prefixed), from any host.

    A cluster resource's name is always ``kafka-cluster``; an empty name is read as that."""

    principal: str
    resource: Resource
    name: str
    operation: Operation
    pattern: Pattern = "literal"
    permission: Permission = "allow"

    def __post_init__(self) -> None:
        if self.resource not in _RESOURCE_TYPES:
            raise SecurityError(f"unknown ACL resource {self.resource!r}", hint=f"one of {', '.join(RESOURCES)}")
        if self.operation not in _OPERATIONS:
            raise SecurityError(f"unknown ACL operation {self.operation!r}", hint=f"one of {', '.join(OPERATIONS)}")
        if self.resource == "cluster":
            object.__setattr__(self, "name", self.name or CLUSTER_NAME)
            if self.name != CLUSTER_NAME or self.pattern != "literal":
                raise SecurityError(
                    f"a cluster ACL names the resource {CLUSTER_NAME!r} literally, not {self.name!r} ({self.pattern})",
                    hint="leave the name empty for the cluster",
                )
        if not self.name:
            raise SecurityError(f"an ACL on a {self.resource} needs its name", hint="e.g. --topic clickstream")
        if not self.principal or self.principal.startswith("User:"):
            raise SecurityError(
                f"ACL principal {self.principal!r} must be a bare user name",
                hint="write pipeline-clickstream, not User:pipeline-clickstream",
            )


def to_binding(acl: Acl) -> AclBinding:
    """The confluent-kafka binding Kafka is asked to create (or delete) for ``acl``: host ``*``."""
    return AclBinding(
        _RESOURCE_TYPES[acl.resource],
        acl.name,
        _PATTERNS[acl.pattern],
        f"User:{acl.principal}",
        "*",
        _OPERATIONS[acl.operation],
        _PERMISSIONS[acl.permission],
    )


def from_binding(binding: AclBinding) -> Acl | None:
    """The :class:`Acl` a binding Kafka described stands for; None for one streamwise never makes (a
    principal type other than User, a host other than ``*``, an operation or resource outside its set)."""
    # Any: a described binding's fields are typed as enum, str or int; Kafka answers with the enums.
    resources: dict[Any, Resource] = {v: k for k, v in _RESOURCE_TYPES.items()}
    operations: dict[Any, Operation] = {v: k for k, v in _OPERATIONS.items()}
    patterns: dict[Any, Pattern] = {v: k for k, v in _PATTERNS.items()}
    permissions: dict[Any, Permission] = {v: k for k, v in _PERMISSIONS.items()}
    kind, _, user = binding.principal.partition(":")
    resource, operation = resources.get(binding.restype), operations.get(binding.operation)
    pattern, permission = patterns.get(binding.resource_pattern_type), permissions.get(binding.permission_type)
    if kind != "User" or binding.host != "*" or None in (resource, operation, pattern, permission):
        return None
    assert resource and operation and pattern and permission
    return Acl(user, resource, binding.name, operation, pattern, permission)


def secure_recorded(state: Path) -> bool:
    """True when the Kafka storage under ``state`` was formatted for the secure profile."""
    try:
        return bool(json.loads((state / "kafka" / "topology.json").read_text()).get("secure", False))
    except (FileNotFoundError, ValueError, AttributeError):
        return False


def password_file(settings: Settings, principal: str) -> Path:
    """``STATE/security/users/<principal>.password``: the user's SCRAM password (0600)."""
    check_user_name(principal)
    return users_dir(settings) / f"{principal}.password"


def check_user_name(name: str) -> str:
    """``name`` if it can be a SCRAM user's name here, else a SecurityError saying what is allowed."""
    if not _USER_NAME.fullmatch(name):
        raise SecurityError(
            f"{name!r} is not a valid user name",
            hint="use letters, digits, '.', '_' and '-' (up to 100, starting with a letter or digit)",
        )
    return name


def admin_password(settings: Settings) -> SecretStr:
    """The ``admin`` password: made (random, 0600) before the storage is formatted, read afterwards.

    Once the storage exists its SCRAM hash is in Kafka's metadata: a lost file cannot be made again."""
    path = password_file(settings, ADMIN)
    if not path.exists() and secure_recorded(settings.state):
        raise SecurityError(
            f"the Kafka admin password file {path} is missing, and the secure storage in "
            f"{settings.state / 'kafka'} holds only its hash",
            hint="restore the file from a backup, or start over (streamwise down --purge)",
        )
    return ensure_secret(path)


def as_principal(settings: Settings, principal: str) -> Settings:
    """A copy of ``settings`` whose Kafka clients speak SASL_SSL as ``principal`` (its password from
    :func:`password_file`, the CA from :func:`certificates.ca_file`); unchanged when the profile is off."""
    if not settings.security.enabled:
        return settings
    if principal == ADMIN:
        password = admin_password(settings)
    else:
        path = password_file(settings, principal)
        if not path.exists():
            raise SecurityError(
                f"Kafka user {principal!r} has no password file ({path})",
                hint=f"create the user: streamwise users add {principal}",
            )
        password = read_secret(path)
    kafka = settings.kafka.model_copy(
        update={
            "security_protocol": "SASL_SSL",
            "sasl_username": principal,
            "sasl_password": password,
            "ssl_ca_location": certificates.ca_file(settings),
        }
    )
    # The same login writes to the registry (basic auth against the same password files).
    registry = settings.registry.model_copy(update={"username": principal, "password": password})
    return secured(settings.model_copy(update={"kafka": kafka, "registry": registry}))


def users_dir(settings: Settings) -> Path:
    """``STATE/security/users``: one ``<user>.password`` file (0600) per user."""
    return private_dir(certificates.security_dir(settings) / "users")


def secured(settings: Settings) -> Settings:
    """``settings`` with every service's TLS files in the secure profile (the registry serves HTTPS and
    checks writes against :func:`users_dir`); unchanged when the profile is off."""
    if not settings.security.enabled:
        return settings
    tls = certificates.certificate(settings, "registry", hosts=(settings.registry.host,))
    registry = settings.registry.model_copy(
        update={
            "tls_cert_file": tls.cert,
            "tls_key_file": tls.key,
            "ca_file": tls.ca,
            "users_dir": users_dir(settings),
        }
    )
    return settings.model_copy(update={"registry": registry})


def speaking(settings: Settings) -> Settings:
    """``settings`` as they are when their Kafka section already names a principal (or the profile is
    off); else as ``admin``: what the platform's own tools run as."""
    return secured(settings) if settings.kafka.sasl else as_principal(settings, ADMIN)


def node_principal(node_id: int) -> str:
    """The principal (and certificate name) node ``node_id`` speaks as to the controllers."""
    return f"kafka-{node_id}"


def controller_client_properties(settings: Settings) -> dict[str, str]:
    """Java client properties for the KRaft controller listener (mutual TLS): the admin's own
    certificate (its CN, ``admin``, maps to the super user) and the CA."""
    tls = certificates.certificate(settings, ADMIN, hosts=(settings.kafka.host,))
    return {
        "security.protocol": "SSL",
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(tls.bundle),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(tls.ca),
    }


@contextmanager
def properties_file(settings: Settings, props: Mapping[str, str]) -> Iterator[Path]:
    """``props`` in a Java properties file only its owner can read (it may hold a JAAS line with a
    password), deleted when the block ends: a Kafka tool's ``--command-config``."""
    folder = private_dir(certificates.security_dir(settings) / "tmp")
    path = write_secret(
        folder / f"client-{secrets.token_hex(6)}.properties",
        "".join(f"{key}={_escape(value)}\n" for key, value in props.items()),
    )
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def _escape(value: str) -> str:
    """A value as java.util.Properties reads it back (backslashes and a leading space escaped)."""
    value = value.replace("\\", "\\\\")
    return "\\" + value if value.startswith(" ") else value


# -- users -----------------------------------------------------------------------------------------


def add_user(settings: Settings, name: str, password: str | None = None) -> SecretStr:
    """Create or update SCRAM-SHA-512 user ``name``; return its password, kept in :func:`password_file`
    (0600). Without ``password`` the one in the file is kept, else a random one is made: calling this
    twice changes nothing."""
    _require_profile(settings)
    check_user_name(name)
    if name == ADMIN or _NODE_PRINCIPAL.fullmatch(name):
        raise SecurityError(
            f"user {name!r} is reserved: the brokers speak as it",
            hint="choose another name; admin's password lives in the state folder and changes with a new storage",
        )
    path = password_file(settings, name)
    if password is not None and not password.strip():
        raise SecurityError(f"an empty password for user {name!r}", hint="give one, or none to have one made")
    secret = (
        password.strip()
        if password is not None
        else (read_secret(path).get_secret_value() if path.exists() else new_password())
    )
    upsert = UserScramCredentialUpsertion(
        name, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS), secret.encode()
    )
    with _admin_call(f"setting the SCRAM credential of user {name!r}"):
        admin = _admin(settings)  # held until the answer: a collected client cancels its requests
        admin.alter_user_scram_credentials([upsert])[name].result()
    write_secret(path, secret)
    log.info("Kafka user %s: SCRAM-SHA-512 credential set, password in %s", name, path)
    return SecretStr(secret)


def remove_user(settings: Settings, name: str) -> None:
    """Delete user ``name``'s SCRAM credential and its password file. Its ACLs stay (``acl revoke``)."""
    _require_profile(settings)
    if name == ADMIN:
        raise SecurityError("user 'admin' cannot be removed: the brokers speak as it", hint="remove another user")
    path = password_file(settings, name)
    deletion = UserScramCredentialDeletion(name, ScramMechanism.SCRAM_SHA_512)
    try:
        admin = _admin(settings)
        admin.alter_user_scram_credentials([deletion])[name].result()
    except KafkaException as exc:
        error: KafkaError = exc.args[0]
        if error.code() != KafkaError.RESOURCE_NOT_FOUND:
            raise _failed(f"removing user {name!r}", exc) from None
        if not path.exists():
            raise SecurityError(f"there is no Kafka user {name!r}", hint="streamwise users list shows them") from None
    path.unlink(missing_ok=True)
    log.info("Kafka user %s removed", name)


def list_users(settings: Settings) -> list[str]:
    """The names of every SCRAM user Kafka knows, sorted."""
    _require_profile(settings)
    with _admin_call("listing the SCRAM users"):
        admin = _admin(settings)
        described = admin.describe_user_scram_credentials()  # all users: one future
        assert isinstance(described, Future)
        users = described.result()
    return sorted(users)


# -- ACLs ------------------------------------------------------------------------------------------


def grant(settings: Settings, acls: Iterable[Acl]) -> None:
    """Create every binding of ``acls`` (host ``*``); one that exists already is left as it is.

    Returns once the broker answering lists them (the controller commits an ACL before the brokers'
    authorizers replay it), so an ``acl list`` right after shows them."""
    acl_list = list(acls)
    bindings = [to_binding(acl) for acl in acl_list]
    if not bindings:
        return
    _require_profile(settings)
    with _admin_call("creating ACLs"):
        admin = _admin(settings)
        for future in admin.create_acls(bindings, request_timeout=ADMIN_TIMEOUT_S).values():
            future.result()
    _await_acls(settings, acl_list, present=True)


def revoke(settings: Settings, acls: Iterable[Acl]) -> None:
    """Delete every binding of ``acls``; one that does not exist is no error. Returns once the broker
    answering no longer lists them."""
    acl_list = list(acls)
    if not acl_list:
        return
    _require_profile(settings)
    filters = [
        AclBindingFilter(
            b.restype, b.name, b.resource_pattern_type, b.principal, b.host, b.operation, b.permission_type
        )
        for b in map(to_binding, acl_list)
    ]
    with _admin_call("deleting ACLs"):
        admin = _admin(settings)
        for future in admin.delete_acls(filters, request_timeout=ADMIN_TIMEOUT_S).values():
            future.result()
    _await_acls(settings, acl_list, present=False)


def _await_acls(settings: Settings, acls: list[Acl], *, present: bool) -> None:
    """Wait until the brokers' view of the ACLs has (or, not ``present``, lacks) every one of ``acls``."""
    deadline = time.monotonic() + ADMIN_TIMEOUT_S
    while True:
        held = set(list_acls(settings))
        if all((acl in held) == present for acl in acls):
            return
        if time.monotonic() > deadline:
            raise SecurityError(
                f"ACLs still {'missing' if present else 'present'} {ADMIN_TIMEOUT_S:.0f}s after they were "
                f"{'created' if present else 'deleted'}: {', '.join(map(str, acls))}",
                hint="see the Kafka log in STATE/logs; streamwise acl list shows what Kafka holds",
            )
        time.sleep(0.1)


def list_acls(settings: Settings, principal: str | None = None) -> list[Acl]:
    """Every ACL (of ``principal`` only, when given), sorted by principal, resource and name."""
    _require_profile(settings)
    anything = cast(str, None)  # a filter's None matches any value (the type hints say str only)
    query = AclBindingFilter(
        ResourceType.ANY,
        anything,
        ResourcePatternType.ANY,
        f"User:{principal}" if principal else anything,
        anything,
        AclOperation.ANY,
        AclPermissionType.ANY,
    )
    with _admin_call("listing ACLs"):
        admin = _admin(settings)
        bindings = admin.describe_acls(query, request_timeout=ADMIN_TIMEOUT_S).result()
    acls = []
    for binding in bindings:
        acl = from_binding(binding)
        if acl is None:
            log.warning("ACL %s is of a kind streamwise does not manage; kafka-acls --list shows it", binding)
        else:
            acls.append(acl)
    return sorted(acls, key=lambda a: (a.principal, a.resource, a.name, a.pattern, a.operation, a.permission))


def _require_profile(settings: Settings) -> None:
    if not settings.security.enabled:
        raise SecurityError(
            "Kafka users and ACLs exist only in the secure profile, and it is off",
            hint="start the platform with --profile secure (a new state folder, or after streamwise down --purge)",
        )


def _admin(settings: Settings) -> AdminClient:
    config = as_principal(settings, ADMIN).kafka.client_config(
        **QUIET, **{"socket.timeout.ms": int(ADMIN_TIMEOUT_S * 1000)}
    )
    return AdminClient(config)


@contextmanager
def _admin_call(what: str) -> Iterator[None]:
    """Turn a Kafka error of an admin request into a SecurityError naming the request and the error."""
    try:
        yield
    except KafkaException as exc:
        raise _failed(what, exc) from None


def _failed(what: str, exc: KafkaException) -> SecurityError:
    error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
    name = error.name() if error is not None else type(exc).__name__
    detail = error.str() if error is not None else str(exc)
    return SecurityError(
        f"{what} failed: {name}: {detail}",
        hint="is Kafka running in the secure profile (streamwise kafka status)? users and ACLs are managed as admin",
    )
