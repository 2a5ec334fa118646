"""Commands for the schema registry (``streamwise registry ...``) and its schemas (``streamwise schema ...``).

A schema file's subject is its file name without the extension: ``clickstream-value.avsc`` is the
subject ``clickstream-value``, as Confluent's ``TopicNameStrategy`` names a topic's value schemas.
"""

from __future__ import annotations

# Commands import what they run inside their bodies, so `streamwise --help` starts in ~0.4 s, not ~2.4 s.
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from streamwise.cli._common import ExposeOpt, console, print_status, settings
from streamwise.config import Settings
from streamwise.errors import StreamwiseError

if TYPE_CHECKING:
    from streamwise.schemas.client import RegistryClient

registry_app = typer.Typer(
    help="The Confluent-compatible schema registry.\n\nExample: streamwise registry start", no_args_is_help=True
)
schema_app = typer.Typer(
    help="Schemas in the registry.\n\nExample: streamwise schema check schemas/", no_args_is_help=True
)

SCHEMA_SUFFIXES = {".avsc": "AVRO", ".json": "JSON"}  # .json holds a JSON Schema
# httpx logs one INFO line per request, which would drown the commands' own output.
logging.getLogger("httpx").setLevel(logging.WARNING)

RegistryPortOpt = Annotated[int | None, typer.Option("--port", help="Registry port (default 8081)")]
RegistryOpt = Annotated[
    str | None, typer.Option("--registry", help="Registry URL (default: the configured http://127.0.0.1:8081)")
]


def _settings(port: int | None = None, *, expose: bool = False) -> Settings:
    cfg = settings(expose=expose)
    if port is None:
        return cfg
    return cfg.model_copy(update={"registry": cfg.registry.model_copy(update={"port": port})})


def _client(registry: str | None) -> RegistryClient:
    from streamwise.schemas.client import RegistryClient

    # The configured registry gets its credentials and CA; another --registry URL only the CA.
    return RegistryClient.from_settings(settings().registry, registry)


@registry_app.command("start")
def registry_start(port: RegistryPortOpt = None, expose: ExposeOpt = False) -> None:
    """Start the registry (Kafka must run); its state is rebuilt from the compacted topic `_schemas`.

    Example: streamwise registry start --port 8081
    """
    from streamwise.schemas.service import registry_service, start_registry

    cfg = _settings(port, expose=expose)
    with console.status(f"starting the schema registry on {cfg.registry.url}"):
        pid = start_registry(cfg)
    console.print(
        f"[green]✓[/] schema registry serves on [bold]{cfg.registry.url}[/] (pid {pid}); "
        f"state in topic {cfg.registry.topic}, log in {registry_service(cfg).log_file}"
    )


@registry_app.command("stop")
def registry_stop() -> None:
    """Stop the registry by its pid. Its state stays in Kafka."""
    from streamwise.schemas.service import stop_registry

    stopped = stop_registry(settings())
    console.print("[green]✓[/] schema registry stopped" if stopped else "[yellow]schema registry was not running[/]")


@registry_app.command("status")
def registry_status(port: RegistryPortOpt = None) -> None:
    """Show whether the registry runs and answers; exits 1 when it does not."""
    from streamwise.schemas.service import registry_status as status_of

    status = status_of(_settings(port))
    print_status(status.process, serving=status.serving, where=status.url)
    raise typer.Exit(0 if status.serving else 1)


@registry_app.command("serve", hidden=True)
def registry_serve() -> None:
    """Run the registry in this process (what `registry start` supervises)."""
    from streamwise.schemas.service import serve

    serve(settings())


def _schema_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix in SCHEMA_SUFFIXES)
        elif path.is_file():
            files.append(path)
        else:
            raise StreamwiseError(
                f"{path} does not exist", hint="pass schema files or folders holding *.avsc or *.json"
            )
    if not files:
        raise StreamwiseError(f"no schema files (*.avsc, *.json) in {', '.join(map(str, paths))}")
    return files


def _read(path: Path) -> tuple[str, str]:
    """(schema text, schema type) of a file, checked locally first so errors point at the file."""
    from streamwise.schemas.formats import parse_schema

    text, schema_type = path.read_text(), SCHEMA_SUFFIXES.get(path.suffix, "AVRO")
    try:
        parse_schema(text, schema_type)
    except StreamwiseError as exc:
        raise StreamwiseError(f"{path}: {exc.message}", hint="fix the schema file") from None
    return text, schema_type


@schema_app.command("register")
def schema_register(
    files: Annotated[list[Path], typer.Argument(help="Schema files or folders (*.avsc Avro, *.json JSON Schema)")],
    subject: Annotated[str | None, typer.Option(help="Subject (default: the file name without extension)")] = None,
    registry: RegistryOpt = None,
) -> None:
    """Register schema files; each file's subject is its name without the extension.

    Example: streamwise schema register schemas/clickstream-value.avsc
    """
    paths = _schema_files(files)
    if subject and len(paths) > 1:
        raise StreamwiseError("--subject names one subject, but several files were given")
    with _client(registry) as client:
        for path in paths:
            text, schema_type = _read(path)
            name = subject or path.stem
            schema_id = client.register(name, text, schema_type)
            entry = client.lookup(name, text, schema_type)
            console.print(f"[green]✓[/] {name} version {entry.version} is schema id {schema_id} ({path})")


@schema_app.command("list")
def schema_list(
    deleted: Annotated[bool, typer.Option(help="Include soft-deleted subjects")] = False,
    registry: RegistryOpt = None,
) -> None:
    """Subjects with their latest version, schema id and compatibility level.

    Example: streamwise schema list
    """
    with _client(registry) as client:
        table = Table("subject", "versions", "latest", "id", "compatibility", title=f"subjects in {client.url}")
        for name in client.subjects(deleted=deleted):
            versions = client.versions(name, deleted=deleted)
            latest = client.version(name, versions[-1], deleted=deleted)
            table.add_row(name, str(len(versions)), str(latest.version), str(latest.id), client.compatibility(name))
    console.print(table)


@schema_app.command("show")
def schema_show(
    subject: str,
    version: Annotated[str, typer.Option(help="Version number or latest")] = "latest",
    registry: RegistryOpt = None,
) -> None:
    """Print one version of a subject's schema.

    Example: streamwise schema show clickstream-value --version 2
    """
    with _client(registry) as client:
        entry = client.version(subject, version)
    console.print(f"[bold]{entry.subject}[/] version {entry.version}, schema id {entry.id} ({entry.schema_type})")
    console.print_json(entry.schema)


def _pretty(message: str) -> str | None:
    """A Confluent verbose message as one readable line (None for the bookkeeping ones)."""
    match = re.match(
        r"\{errorType:'(\w+)', description:'(.*?)( \(location [^)]*\))?'(, additionalInfo:.*)?\}$", message
    )
    if match:
        return f"{match.group(2)} [{match.group(1)}]"
    return None if message.startswith(("{oldSchemaVersion", "{oldSchema:", "{compatibility")) else message


@schema_app.command("check")
def schema_check(
    paths: Annotated[list[Path], typer.Argument(help="Schema files or folders (*.avsc Avro, *.json JSON Schema)")],
    registry: RegistryOpt = None,
) -> None:
    """CI gate: exit 1 when a schema file is incompatible with its subject's latest registered version.

    A file whose subject is not registered yet passes (nothing to break).
    Example: streamwise schema check schemas/
    """
    from streamwise.schemas.exceptions import RegistryError

    failed = 0
    with _client(registry) as client:
        for path in _schema_files(paths):
            text, schema_type = _read(path)
            subject = path.stem
            try:
                latest = client.version(subject)
            except RegistryError as exc:
                if exc.code != 40401:
                    raise
                console.print(f"[green]✓[/] {path}: {subject} is not registered yet (new subject)")
                continue
            result = client.check(subject, text, "latest", schema_type)
            level = client.compatibility(subject)
            if result.compatible:
                console.print(f"[green]✓[/] {path}: compatible with {subject} version {latest.version} ({level})")
                continue
            failed += 1
            console.print(f"[red]✗[/] {path}: incompatible with {subject} version {latest.version} ({level})")
            for line in filter(None, map(_pretty, result.messages)):
                console.print(f"    {escape(line)}", highlight=False)
    if failed:
        console.print(f"[red]{failed} schema file(s) incompatible[/]")
        raise typer.Exit(1)


@schema_app.command("diff")
def schema_diff(
    subject: str,
    old: Annotated[str | None, typer.Option("--from", help="Old version (default: the one before --to)")] = None,
    new: Annotated[str, typer.Option("--to", help="New version, or latest")] = "latest",
    file: Annotated[Path | None, typer.Option(help="Compare the latest version with this schema file instead")] = None,
    registry: RegistryOpt = None,
) -> None:
    """Fields added, removed and changed between two versions, and which readers can read which data.

    Example: streamwise schema diff clickstream-value --from 1 --to 2
    """
    from streamwise.schemas.avro import parse_avro
    from streamwise.schemas.compat import can_read, diff_fields

    with _client(registry) as client:
        if file is not None:
            before = client.version(subject, new)
            after_text, after_label = _read(file)[0], str(file)
        else:
            after = client.version(subject, new)
            after_text, after_label = after.schema, f"version {after.version}"
            if old is None and after.version == 1:
                raise StreamwiseError(f"{subject} has only version 1: nothing to compare", hint="pass --file")
            before = client.version(subject, old or after.version - 1)
    if before.schema_type != "AVRO" or (file is not None and file.suffix != ".avsc"):
        raise StreamwiseError("schema diff compares Avro schemas", hint="use `schema check` for JSON Schema")
    old_schema, new_schema = parse_avro(before.schema), parse_avro(after_text)
    table = Table(
        "change",
        "field",
        f"version {before.version}",
        after_label,
        title=f"{subject}: version {before.version} → {after_label}",
    )
    for change in diff_fields(old_schema, new_schema):
        colour = {"added": "green", "removed": "red"}.get(change.change, "yellow")
        table.add_row(f"[{colour}]{change.change}[/]", change.field, escape(change.old), escape(change.new))
    console.print(table)
    backward, forward = can_read(new_schema, old_schema), can_read(old_schema, new_schema)
    console.print(
        f"backward (new reads old data): {'[green]yes[/]' if backward else '[red]no[/]'}; "
        f"forward (old reads new data): {'[green]yes[/]' if forward else '[red]no[/]'}"
    )
