"""The schema registry's app served by uvicorn in a thread, on a free loopback port: a real HTTP
registry for unit tests, without a broker (its log is kept in memory)."""

from __future__ import annotations

import threading
import time

import uvicorn

from streamwise.platform.ports import free_port
from streamwise.schemas import MemoryLog, SchemaStore, create_app


class Registry:
    """A registry served by uvicorn in a thread, its log kept for a replay."""

    def __init__(self) -> None:
        self.log = MemoryLog()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(SchemaStore(self.log)), host="127.0.0.1", port=self.port, log_level="warning"
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
