"""Serving the app with uvicorn: in the foreground (``dashboard serve``) or in a background thread."""

from __future__ import annotations

import ssl
import threading
import time
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI
from pydantic import SecretStr

from streamwise.dashboard.exceptions import DashboardError
from streamwise.platform.certificates import TlsFiles

# Open event streams never end by themselves: give them this long after a stop, then cancel them.
GRACEFUL_S = 2


def server_config(
    app: FastAPI, host: str, port: int, *, log_level: str = "info", tls: TlsFiles | None = None
) -> uvicorn.Config:
    """uvicorn settings shared by both ways of serving (no access log: one SSE request per browser);
    HTTPS with ``tls``'s certificate and key."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_S,
        ssl_certfile=str(tls.cert) if tls else None,
        ssl_keyfile=str(tls.key) if tls else None,
    )


def serve(app: FastAPI, host: str, port: int, *, tls: TlsFiles | None = None) -> None:
    """Serve until SIGINT/SIGTERM (HTTPS with ``tls``)."""
    uvicorn.Server(server_config(app, host, port, tls=tls)).run()


def answers(url: str, *, token: SecretStr | None = None, ca: Path | None = None) -> bool:
    """True when GET ``url`` answers 200 (the readiness probe of the dashboard): with ``token`` as a
    bearer token, and over HTTPS trusting ``ca``."""
    headers = {"Authorization": f"Bearer {token.get_secret_value()}"} if token is not None else {}
    verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(ca)) if ca is not None else True
    try:
        return httpx.get(url, headers=headers, verify=verify, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


class BackgroundServer:
    """The app served by uvicorn in a thread of this process (tests, notebooks); a context manager.
    HTTPS with ``tls``'s certificate and key."""

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 8000, *, tls: TlsFiles | None = None) -> None:
        self.url = f"{'https' if tls else 'http'}://{host}:{port}"
        self._server = uvicorn.Server(server_config(app, host, port, log_level="warning", tls=tls))
        self._thread = threading.Thread(target=self._server.run, name=f"dashboard-{port}", daemon=True)

    def start(self, timeout_s: float = 15.0) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise DashboardError(
                    f"the dashboard did not start on {self.url} within {timeout_s:.0f}s",
                    hint="is the port taken? pick another one",
                )
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=GRACEFUL_S + 5)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
