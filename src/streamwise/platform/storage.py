"""Where checkpoints and Delta tables live: the data root (``Settings.data``), local or remote.

A :data:`Location` is a :class:`pathlib.Path` for a local root, as before, or a :class:`HadoopPath`
for a Hadoop URI (``hdfs://``, ``s3a://``, ``abfss://``, ``gs://``). A HadoopPath offers the few
pathlib operations streamwise's checkpoint readers use (join, read, list, exists, mtime), through the
Hadoop FileSystem client in the JVM of this process's Spark driver: every scheme Spark can write,
Python can read back, with the same jars and ``spark.hadoop.*`` credentials. Spark itself takes the
URI as it is (``checkpointLocation``, Delta paths), and the Delta tables are also read by delta-rs,
which speaks these schemes without a JVM.

A process without a Spark driver (``status``, the dashboard) never reads a checkpoint; one that does
and has no driver fails with a :class:`StorageError` that says so.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streamwise.platform.exceptions import StorageError

if TYPE_CHECKING:
    from streamwise.config import Settings

_MISSING = ("java.io.FileNotFoundException",)


@dataclass(frozen=True)
class FileStat:
    """What :meth:`HadoopPath.stat` tells, named as :func:`os.stat` names it."""

    st_mtime: float
    st_size: int


@dataclass(frozen=True, order=True)
class HadoopPath:
    """A file or folder on a Hadoop file system, by its URI (no trailing slash)."""

    uri: str

    def __str__(self) -> str:
        return self.uri

    def __truediv__(self, name: str) -> HadoopPath:
        return HadoopPath(f"{self.uri.rstrip('/')}/{name}")

    @property
    def name(self) -> str:
        return posixpath.basename(self.uri.rstrip("/"))

    @property
    def parent(self) -> HadoopPath:
        return HadoopPath(self.uri.rstrip("/").rsplit("/", 1)[0])

    def with_suffix(self, suffix: str) -> HadoopPath:
        stem, _ = posixpath.splitext(self.name)
        return self.parent / f"{stem}{suffix}"

    def read_text(self, encoding: str | None = None, errors: str | None = None) -> str:
        jvm, fs, path = _client(self)
        stream = _call(self, fs.open, path)
        try:
            data = bytes(jvm.org.apache.commons.io.IOUtils.toByteArray(stream))
        finally:
            stream.close()
        return data.decode(encoding or "utf-8", errors or "strict")

    def write_text(self, data: str) -> int:
        """Create or overwrite the file (not atomically: see :func:`write_atomic`)."""
        _, fs, path = _client(self)
        raw = data.encode()
        out = _call(self, fs.create, path, True)
        try:
            out.write(bytearray(raw))
        finally:
            out.close()
        return len(raw)

    def exists(self) -> bool:
        _, fs, path = _client(self)
        return bool(_call(self, fs.exists, path))

    def _status(self) -> Any:
        _, fs, path = _client(self)
        try:
            return _call(self, fs.getFileStatus, path)
        except FileNotFoundError:
            return None

    def is_dir(self) -> bool:
        status = self._status()
        return status is not None and bool(status.isDirectory())

    def is_file(self) -> bool:
        status = self._status()
        return status is not None and bool(status.isFile())

    def stat(self) -> FileStat:
        status = self._status()
        if status is None:
            raise FileNotFoundError(self.uri)
        return FileStat(st_mtime=status.getModificationTime() / 1000, st_size=int(status.getLen()))

    def iterdir(self) -> Iterator[HadoopPath]:
        _, fs, path = _client(self)
        for status in _call(self, fs.listStatus, path):
            yield self / str(status.getPath().getName())

    def glob(self, pattern: str) -> Iterator[HadoopPath]:
        """The paths under this one matching ``pattern`` (Hadoop's glob syntax, e.g. ``*/0``)."""
        jvm, fs, _ = _client(self)
        found = _call(self, fs.globStatus, jvm.org.apache.hadoop.fs.Path(f"{self.uri.rstrip('/')}/{pattern}"))
        prefix = f"{self.uri.rstrip('/')}/"
        for status in found or []:
            # globStatus qualifies what it finds (hdfs://host:port/...): keep this root's spelling.
            relative = _relative(str(status.getPath().toString()), self.uri)
            yield HadoopPath(prefix + relative)


Location = Path | HadoopPath


def location(root: Path | str) -> Location:
    """A Hadoop URI as a HadoopPath, a local folder as an absolute Path."""
    if isinstance(root, str) and "://" in root:
        return HadoopPath(root.rstrip("/"))
    return Path(root).expanduser().resolve()


def data_root(settings: Settings) -> Location:
    """The root of the pipelines' checkpoints and Delta tables (``STREAMWISE_DATA_ROOT``)."""
    return location(settings.data)


def write_atomic(target: Location, text: str) -> None:
    """Replace ``target``'s content with ``text`` so that a reader sees the old content or the new,
    never a part: written beside it, then renamed over it (HDFS renames atomically, as Spark's own
    checkpoint files are committed; an object store's rename is a copy of one small object)."""
    if isinstance(target, Path):
        local = target.with_suffix(".tmp")
        local.write_text(text)
        local.replace(target)
        return
    tmp = target.with_suffix(".tmp")
    tmp.write_text(text)
    jvm, _, _ = _client(target)
    gateway = _context(target)._gateway
    conf = _context(target)._jsc.hadoopConfiguration()
    source, dest = jvm.org.apache.hadoop.fs.Path(tmp.uri), jvm.org.apache.hadoop.fs.Path(target.uri)
    files = jvm.org.apache.hadoop.fs.FileContext.getFileContext(dest.toUri(), conf)
    options = gateway.new_array(jvm.org.apache.hadoop.fs.Options.Rename, 1)
    options[0] = jvm.org.apache.hadoop.fs.Options.Rename.OVERWRITE
    _call(target, files.rename, source, dest, options)


def _relative(found: str, root: str) -> str:
    """``found`` (a qualified URI under ``root``) relative to ``root``, which may be spelt shorter."""
    root_path = root.split("://", 1)[-1].split("/", 1)[-1].rstrip("/")
    found_path = found.split("://", 1)[-1].split("/", 1)[-1]
    return found_path[len(root_path) :].lstrip("/") if found_path.startswith(root_path) else found_path


def _context(where: HadoopPath) -> Any:
    from pyspark import SparkContext  # only a remote root needs pyspark here

    context = SparkContext._active_spark_context
    if context is None:
        raise StorageError(
            f"{where} is on a Hadoop file system, which streamwise reads through a Spark driver's Hadoop "
            "client, and this process runs no Spark driver",
            hint="read it where a pipeline runs (run, verify with Spark), or set STREAMWISE_DATA_ROOT to a local folder",
        )
    return context


def _client(where: HadoopPath) -> tuple[Any, Any, Any]:
    """The JVM, the Hadoop FileSystem of ``where`` (cached by Hadoop per scheme and authority) and its Path."""
    context = _context(where)
    jvm = context._jvm
    path = jvm.org.apache.hadoop.fs.Path(where.uri)
    return jvm, _call(where, path.getFileSystem, context._jsc.hadoopConfiguration()), path


def _call(where: HadoopPath, method: Any, *args: Any) -> Any:
    """``method(*args)`` in the JVM; a missing file raises FileNotFoundError as pathlib's does, any
    other failure a StorageError naming the location."""
    from py4j.protocol import Py4JJavaError  # type: ignore[import-untyped]

    try:
        return method(*args)
    except Py4JJavaError as exc:
        error = exc.java_exception
        kind = str(error.getClass().getName())
        if kind in _MISSING:
            raise FileNotFoundError(f"{where} is missing") from None
        raise StorageError(
            f"{where}: {kind}: {error.getMessage()}",
            hint="check the data root (STREAMWISE_DATA_ROOT), that its file system is reachable, and its "
            "credentials (spark.hadoop.* in STREAMWISE_SPARK_CONF)",
        ) from None
