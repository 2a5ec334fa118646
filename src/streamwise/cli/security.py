"""Commands for the secure profile's Kafka: SCRAM users (``streamwise users``) and ACLs (``streamwise acl``).

Both run as ``admin`` against the Kafka of the state folder, which must have been started with
``--profile secure``. A password is never printed, except the one ``users add`` just made when
``--show-password`` asks for it.
"""

from __future__ import annotations

# Commands import what they run inside their bodies, so `streamwise --help` starts in ~0.4 s, not ~2.4 s.
import sys
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from streamwise.cli._common import console, settings
from streamwise.errors import StreamwiseError

if TYPE_CHECKING:
    from streamwise.platform.security import Acl

users_app = typer.Typer(
    help="SCRAM-SHA-512 users of the secure profile's Kafka (passwords in STATE/security/users, 0600).\n\n"
    "Example: streamwise users add pipeline-clickstream",
    no_args_is_help=True,
)
acl_app = typer.Typer(
    help="Kafka ACLs of the secure profile: who may read, write or describe which topic, group, "
    "transactional id or the cluster.\n\n"
    "Example: streamwise acl grant pipeline-clickstream --topic clickstream --operation read --operation describe",
    no_args_is_help=True,
)

NameArg = Annotated[str, typer.Argument(help="User name (letters, digits, '.', '_', '-')")]


@users_app.command("add")
def users_add(
    name: NameArg,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input (one line)")
    ] = False,
    show_password: Annotated[
        bool,
        typer.Option("--show-password", help="Print the password made for a new user, once, on standard output"),
    ] = False,
) -> None:
    """Create a user, or set a user's password (from --password-stdin); without one a random password
    is made for a new user and kept for an existing one. The password lands in
    STATE/security/users/NAME.password (0600).

    Example: echo "$PASSWORD" | streamwise users add alice --password-stdin
    """
    from streamwise.platform.security import add_user, password_file

    cfg = settings()
    password = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise StreamwiseError("no password on standard input", hint="pipe one line: echo PASSWORD | ...")
    path = password_file(cfg, name)
    made = password is None and not path.exists()
    secret = add_user(cfg, name, password)
    console.print(f"[green]✓[/] Kafka user [bold]{name}[/] (SCRAM-SHA-512), password in {path}")
    if show_password:
        if made:
            # Plain print: the password alone on stdout, for a pipe; never through logging.
            print(secret.get_secret_value())
        else:
            console.print("[yellow]the password was not made now; it is not shown[/] (it is in the file above)")


@users_app.command("remove")
def users_remove(name: NameArg) -> None:
    """Delete a user's SCRAM credential and its password file. Its ACLs stay: revoke them with acl revoke.

    Example: streamwise users remove alice
    """
    from streamwise.platform.security import list_acls, remove_user

    cfg = settings()
    remove_user(cfg, name)
    console.print(f"[green]✓[/] removed Kafka user [bold]{name}[/]")
    left = list_acls(cfg, name)
    if left:
        console.print(f"[yellow]{len(left)} ACL(s) still name {name}[/]: streamwise acl list --principal {name}")


@users_app.command("list")
def users_list() -> None:
    """Every SCRAM user Kafka knows, and whether its password file is in the state folder.

    Example: streamwise users list
    """
    from streamwise.platform.security import list_users, password_file

    cfg = settings()
    table = Table("user", "mechanism", "password file", title="Kafka users")
    for user in list_users(cfg):
        path = password_file(cfg, user)
        table.add_row(user, "SCRAM-SHA-512", str(path) if path.exists() else "[dim](not in this state folder)[/]")
    console.print(table)


class Op(StrEnum):
    """An ACL operation, as the CLI spells it."""

    read = "read"
    write = "write"
    describe = "describe"
    create = "create"
    describe_configs = "describe_configs"
    alter_configs = "alter_configs"
    idempotent_write = "idempotent_write"
    all = "all"


PrincipalArg = Annotated[str, typer.Argument(help="User name the ACL is for (no 'User:' prefix)")]
TopicOpt = Annotated[str | None, typer.Option("--topic", help="A topic (or name prefix, with --prefixed)")]
GroupOpt = Annotated[str | None, typer.Option("--group", help="A consumer group (or name prefix)")]
TxnOpt = Annotated[str | None, typer.Option("--transactional-id", help="A transactional id (or prefix)")]
ClusterOpt = Annotated[bool, typer.Option("--cluster", help="The cluster itself (e.g. idempotent_write)")]
OperationOpt = Annotated[list[Op], typer.Option("--operation", help="What is allowed; repeat for several")]
PrefixedOpt = Annotated[bool, typer.Option("--prefixed", help="The name is a prefix: every name starting with it")]


def _acls(
    principal: str,
    topic: str | None,
    group: str | None,
    transactional_id: str | None,
    cluster: bool,
    operations: list[Op],
    prefixed: bool,
) -> list[Acl]:
    """The ACLs the options describe: exactly one resource, each operation on it."""
    from streamwise.platform.security import Acl, Pattern, Resource

    named: list[tuple[Resource, str | None]] = [
        ("topic", topic),
        ("group", group),
        ("transactional_id", transactional_id),
    ]
    given: list[tuple[Resource, str]] = [(resource, name) for resource, name in named if name is not None]
    if cluster:
        given.append(("cluster", ""))
    if len(given) != 1:
        raise StreamwiseError(
            "name exactly one resource: --topic, --group, --transactional-id or --cluster",
            hint="run one command per resource",
        )
    if not operations:
        raise StreamwiseError("no --operation given", hint="e.g. --operation read --operation describe")
    resource, name = given[0]
    pattern: Pattern = "prefixed" if prefixed else "literal"
    return [Acl(principal, resource, name, op.value, pattern) for op in dict.fromkeys(operations)]


def _acl_table(acls: list[Acl], title: str) -> Table:
    table = Table("principal", "resource", "name", "pattern", "operation", "permission", title=title)
    for acl in acls:
        permission = "[green]allow[/]" if acl.permission == "allow" else "[red]deny[/]"
        table.add_row(acl.principal, acl.resource, acl.name, acl.pattern, acl.operation, permission)
    return table


@acl_app.command("list")
def acl_list(
    principal: Annotated[str | None, typer.Option("--principal", help="Only this user's ACLs")] = None,
) -> None:
    """Every ACL (or one user's), as Kafka holds them.

    Example: streamwise acl list --principal pipeline-clickstream
    """
    from streamwise.platform.security import list_acls

    acls = list_acls(settings(), principal)
    console.print(_acl_table(acls, f"Kafka ACLs{f' of {principal}' if principal else ''}: {len(acls)}"))


@acl_app.command("grant")
def acl_grant(
    principal: PrincipalArg,
    operation: OperationOpt,
    topic: TopicOpt = None,
    group: GroupOpt = None,
    transactional_id: TxnOpt = None,
    cluster: ClusterOpt = False,
    prefixed: PrefixedOpt = False,
) -> None:
    """Allow a user operations on one resource, from any host. Granting twice changes nothing.

    Example: streamwise acl grant pipeline-clickstream --group clickstream --operation read
    """
    from streamwise.platform.security import grant

    acls = _acls(principal, topic, group, transactional_id, cluster, operation, prefixed)
    grant(settings(), acls)
    console.print(_acl_table(acls, f"[green]✓[/] granted {len(acls)} ACL(s)"))


@acl_app.command("revoke")
def acl_revoke(
    principal: PrincipalArg,
    operation: OperationOpt,
    topic: TopicOpt = None,
    group: GroupOpt = None,
    transactional_id: TxnOpt = None,
    cluster: ClusterOpt = False,
    prefixed: PrefixedOpt = False,
) -> None:
    """Take operations on one resource away from a user (one not granted is no error).

    Example: streamwise acl revoke alice --topic clickstream --operation write
    """
    from streamwise.platform.security import revoke

    acls = _acls(principal, topic, group, transactional_id, cluster, operation, prefixed)
    revoke(settings(), acls)
    console.print(_acl_table(acls, f"[green]✓[/] revoked {len(acls)} ACL(s)"))
