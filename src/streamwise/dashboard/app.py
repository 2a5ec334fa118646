"""The dashboard's web app: the page, Prometheus ``/metrics``, a JSON snapshot and server-sent events.

With ``tls`` on (the secure profile) every route is behind the login token (:mod:`.auth`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from importlib import resources
from typing import Annotated

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from streamwise.config import Settings
from streamwise.dashboard.auth import TokenAuth, dashboard_token
from streamwise.dashboard.exceptions import DashboardError
from streamwise.dashboard.settings import DashboardSettings, dashboard_settings
from streamwise.dashboard.snapshot import Snapshot, Snapshots, Sources
from streamwise.monitor.prometheus import render

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def page_html() -> str:
    """The single static page (inline CSS and JS: nothing to build, nothing fetched from elsewhere)."""
    try:
        return resources.files("streamwise.dashboard").joinpath("static/index.html").read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DashboardError(
            "the dashboard page static/index.html is missing from the installed package",
            hint="reinstall streamwise (pip install -e .)",
        ) from None


def sse_frame(event: str, data: str, event_id: int) -> str:
    """One server-sent event; ``data`` must be a single line (compact JSON is)."""
    return f"id: {event_id}\nevent: {event}\ndata: {data}\n\n"


def create_app(
    settings: Settings, dashboard: DashboardSettings | None = None, *, sources: Sources | None = None
) -> FastAPI:
    """The app for these settings; ``sources`` defaults to the live platform (Kafka, state folder, Delta).

    When the dashboard serves HTTPS (``tls``, on in the secure profile), every route needs its token."""
    dash = dashboard or dashboard_settings(settings)
    snapshots = Snapshots(sources or Sources.live(settings, dash), dash, settings.kafka.bootstrap)
    html = page_html()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        snapshots.sources.close()  # the long-lived Kafka consumer of the progress topic

    app = FastAPI(
        title="streamwise dashboard", summary="Throughput, latency, lag, results and alerts, live.", lifespan=lifespan
    )
    app.state.snapshots = snapshots
    if dash.tls:
        app.add_middleware(TokenAuth, token=dashboard_token(settings))

    @app.get("/", response_class=HTMLResponse, summary="The live dashboard page")
    def index() -> HTMLResponse:
        return HTMLResponse(html)

    @app.get("/metrics", summary="Prometheus text format: the latest metrics of each query")
    async def metrics() -> Response:
        latest = await run_in_threadpool(snapshots.latest_metrics)
        return Response(render(latest), media_type=CONTENT_TYPE_LATEST)

    @app.get("/api/snapshot", summary="Everything the page shows, as JSON")
    async def snapshot() -> Snapshot:
        return await run_in_threadpool(snapshots.current)

    @app.get("/events", summary="Server-sent events: a fresh snapshot every push interval")
    async def events(request: Request, limit: Annotated[int | None, Query(ge=1)] = None) -> StreamingResponse:
        """``limit`` ends the stream after that many snapshots (for scripts: ``curl /events?limit=1``)."""

        async def stream() -> AsyncIterator[str]:
            # Tell EventSource to reconnect quickly if the server restarts.
            yield f"retry: {int(dash.push_interval_s * 1000)}\n\n"
            sent = 0
            while limit is None or sent < limit:
                snap = await run_in_threadpool(snapshots.current)
                sent += 1
                yield sse_frame("snapshot", snap.model_dump_json(), sent)
                if limit is not None and sent >= limit:
                    break
                await asyncio.sleep(dash.push_interval_s)
                if await request.is_disconnected():
                    break

        return StreamingResponse(stream(), media_type="text/event-stream", headers=SSE_HEADERS)

    return app
