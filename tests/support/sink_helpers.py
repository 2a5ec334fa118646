"""Helpers of the sink tests: known events, a typed event stream, availableNow runs, topic reads."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from streamwise.config import Settings
from streamwise.platform.topics import read_to_end

EVENT_SCHEMA = "user_id STRING, seq BIGINT, amount DOUBLE, page STRING, event_time BIGINT"
T0_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
# Page counts with no ties, so a top-N is exact: /a 9, /b 8, /c 7, /d 6, /e 5, /f 4, /g 1 (40 events).
PAGE_COUNTS = {"/a": 9, "/b": 8, "/c": 7, "/d": 6, "/e": 5, "/f": 4, "/g": 1}


def make_events(n: int = 40) -> list[dict[str, Any]]:
    """``n`` (≤ 40) deterministic events: 5 users round robin, seq = position, pages per PAGE_COUNTS."""
    pages = [page for page, count in PAGE_COUNTS.items() for _ in range(count)]
    order = sorted(range(len(pages)), key=lambda i: (i * 17) % len(pages))  # interleave the pages
    return [
        {
            "user_id": f"u{i % 5}",
            "seq": i,
            "amount": round(10 + ((i * 37) % 100) * 1.25, 2),
            "page": pages[order[i]],
            "event_time": T0_MS + i * 1000,
        }
        for i in range(n)
    ]


def events_stream(spark: Any, settings: Settings, topic: str, per_batch: int) -> Any:
    """The topic as typed events; ``per_batch`` records per micro-batch (maxOffsetsPerTrigger)."""
    from pyspark.sql import functions as F

    raw = (
        spark.readStream.format("kafka")
        .options(**settings.kafka.spark_options())
        .option("subscribe", topic)
        .option("startingOffsets", "earliest")
        .option("maxOffsetsPerTrigger", str(per_batch))
        .load()
    )
    parsed = raw.select(F.from_json(F.col("value").cast("string"), EVENT_SCHEMA).alias("e")).select("e.*")
    return parsed.withColumn("event_time", F.timestamp_millis("event_time"))


def run_available_now(
    df: Any, writer: Callable, checkpoint: Path, name: str, *, output_mode: str = "append", timeout_s: float = 120
) -> None:
    """Run a foreachBatch query with availableNow until it has caught up; re-raise its failure."""
    query = (
        df.writeStream.queryName(name)
        .foreachBatch(writer)
        .outputMode(output_mode)
        .option("checkpointLocation", str(checkpoint))
        .trigger(availableNow=True)
        .start()
    )
    try:
        finished = query.awaitTermination(timeout_s)
    finally:
        if query.isActive:
            query.stop()
    assert finished, f"query {name} did not finish within {timeout_s}s"


def forget_last_commit(checkpoint: Path) -> int:
    """Delete the newest entry of the checkpoint's commit log, as if the driver died after the sink
    wrote the batch but before Spark recorded it; the restarted query replays that batch id."""
    commits = sorted((p for p in (checkpoint / "commits").iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    last = commits[-1]
    last.unlink()
    (last.parent / f".{last.name}.crc").unlink(missing_ok=True)
    return int(last.name)


def read_topic(
    settings: Settings, topic: str, *, isolation: str = "read_committed", timeout_s: float = 30
) -> list[Any]:
    """Every record of ``topic`` up to its end, as a consumer with ``isolation`` sees it."""
    return read_to_end(settings.kafka, topic, committed=isolation == "read_committed", timeout_s=timeout_s)


def dead_letters(settings: Settings, topic: str) -> list[tuple[dict[str, Any], dict[str, str]]]:
    """A sink's dead-letter topic as committed: each record's row (its JSON value) and its headers."""
    return [
        (json.loads(m.value()), {k: v.decode() for k, v in (m.headers() or [])}) for m in read_topic(settings, topic)
    ]


class Receiver:
    """A real webhook receiver: an HTTP server in a thread on a loopback port.

    It answers 503 to its first ``fail_first`` calls, then ``status_for(payload)`` when that gives a
    status, else 200. It honours ``Idempotency-Key``: a key it accepted before is answered 200 again
    but not recorded twice, as a careful receiver does.
    """

    def __init__(
        self, port: int, *, fail_first: int = 0, status_for: Callable[[Any], int | None] = lambda _p: None
    ) -> None:
        self.port, self.fail_first, self.status_for = port, fail_first, status_for
        self.calls = 0
        self.accepted: dict[str, Any] = {}
        self.repeats = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def __enter__(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                key = self.headers["Idempotency-Key"]
                with receiver._lock:
                    receiver.calls += 1
                    status = 503 if receiver.calls <= receiver.fail_first else (receiver.status_for(payload) or 200)
                    if status == 200:
                        if key in receiver.accepted:
                            receiver.repeats += 1
                        receiver.accepted.setdefault(key, payload)
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"no" if status >= 300 else b"ok")

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
