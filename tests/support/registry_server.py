"""The schema registry's app served by uvicorn in a thread, on a free loopback port: a real HTTP
registry for unit tests, without a broker (its log is kept in memory)."""

from __future__ import annotations

import threading
import time
from typing import Any

import uvicorn

from streamwise.config import RegistrySettings
from streamwise.platform.ports import free_port
from streamwise.schemas import MemoryLog, SchemaStore, create_app


class Registry:
    """A registry served by uvicorn in a thread, its log kept for a replay; ``settings`` are
    RegistrySettings fields (users_dir, TLS files, max_body_bytes...), the port is a free one."""

    def __init__(self, log: MemoryLog | None = None, **settings: Any) -> None:
        self.log = log if log is not None else MemoryLog()
        self.port = free_port()
        self.settings = RegistrySettings(port=self.port, **settings)
        self.url = self.settings.url
        config = uvicorn.Config(
            create_app(SchemaStore(self.log), self.settings),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            ssl_certfile=str(self.settings.tls_cert_file) if self.settings.tls_cert_file else None,
            ssl_keyfile=str(self.settings.tls_key_file) if self.settings.tls_key_file else None,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Registry:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
