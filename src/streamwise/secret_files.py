"""Secrets on disk: passwords, tokens and private keys, each in its own file readable by its owner only.

A secret file is born with mode 0600 (``os.open`` with that mode, under a 0700 folder) and never
chmod-ed afterwards: there is no moment where another user of the machine could read it. It is
written to a temporary name in the same folder and renamed, so a reader never sees half a secret.

Below config in the layers: settings read the secrets the platform made, and nothing here imports
streamwise but ``errors``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

from pydantic import SecretStr

from streamwise.errors import ConfigError

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path) -> Path:
    """``path`` (and missing parents) created 0700; an existing folder is left as it is."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    return path


def write_secret(path: Path, value: str | bytes) -> Path:
    """Write ``value`` to ``path`` as a file only its owner can read, replacing any old one."""
    private_dir(path.parent)
    data = value.encode() if isinstance(value, str) else value
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return path


def read_secret(path: Path) -> SecretStr:
    """The secret in ``path`` (surrounding whitespace stripped); a ConfigError when it is missing or
    readable by others (someone widened it: it may have leaked)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ConfigError(
            f"secret file {path} does not exist", hint="start the platform once (streamwise up) to create it"
        ) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"secret file {path} is readable by others (mode {stat.S_IMODE(mode):o})",
            hint="treat the secret as leaked: delete the file and restart to make a new one, or chmod 600 it",
        )
    return SecretStr(path.read_text().strip())


def new_password(nbytes: int = 24) -> str:
    """A random password, URL-safe (no quoting needed in JAAS, JDBC or Redis config)."""
    return secrets.token_urlsafe(nbytes)


def ensure_secret(path: Path, nbytes: int = 24) -> SecretStr:
    """The secret in ``path``, made (random, 0600) on first use."""
    if not path.exists():
        write_secret(path, new_password(nbytes))
    return read_secret(path)
