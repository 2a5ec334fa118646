"""A real HDFS on loopback for tests of a remote data root: a NameNode and a DataNode in one JVM.

Hadoop's own ``MiniDFSClusterManager`` (in ``hadoop-client-minicluster``, the ``hdfs`` jar profile)
runs them, formatted afresh under ``STATE/hdfs``, with the NameNode's RPC on a port given here and
every other port (DataNode, web UIs) picked by the OS on 127.0.0.1. It is a :class:`Service`:
pid file, log, stopped by pid. Not for production data: one DataNode, no redundancy.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from streamwise.platform import jars
from streamwise.platform.java import require_java
from streamwise.platform.process import Service

NAME = "hdfs"
MAIN_CLASS = "org.apache.hadoop.test.MiniDFSClusterManager"
START_TIMEOUT_S = 180.0  # a bound on a busy machine; it takes ~20 s on 2 shared cores


@dataclass(frozen=True)
class MiniHdfs:
    """The test HDFS of the state folder ``state``, its NameNode on ``127.0.0.1:port``."""

    state: Path
    cache: Path
    port: int
    heap: str = "384m"

    @property
    def uri(self) -> str:
        """The file system's root, ``hdfs://127.0.0.1:PORT``."""
        return f"hdfs://127.0.0.1:{self.port}"

    @property
    def service(self) -> Service:
        return Service(NAME, self.state)

    @property
    def folder(self) -> Path:
        return self.state / NAME

    def start(self) -> int:
        """Format and start it; ready once the NameNode serves and the DataNode has registered (the
        manager writes its details file then). Returns the pid."""
        running = self.service.process()
        if running is not None:
            return running.pid
        jars.cached_jars(self.cache, NAME)
        shutil.rmtree(self.folder, ignore_errors=True)  # formatted afresh: a test HDFS keeps nothing
        self.folder.mkdir(parents=True)
        details = self.folder / "details.json"
        cmd = [
            str(require_java()),
            f"-Xmx{self.heap}",
            "-cp",
            str(jars.jar_dir(self.cache, NAME) / "*"),
            MAIN_CLASS,
            "-format",
            "-datanodes",
            "1",
            "-nnport",
            str(self.port),
            "-D",
            f"hdfs.minidfs.basedir={self.folder / 'data'}",
            "-writeDetails",
            str(details),
        ]

        def serving() -> bool:
            return details.is_file() and json.loads(details.read_text()).get("namenode_port") == self.port

        return self.service.start(cmd, ready=serving, timeout_s=START_TIMEOUT_S, cwd=self.folder)

    def stop(self) -> bool:
        """Stop the JVM by pid; True if it ran."""
        return self.service.stop()
