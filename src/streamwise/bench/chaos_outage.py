"""Chaos drill R3, sink outage: PostgreSQL, then Redis, down while events flow.

The flow (see :mod:`streamwise.bench.chaos`) writes every event to three sinks: a PostgreSQL table
keyed by ``event_id`` (``order_by`` event_time), Redis hashes ``<name>:{event_id}`` and a Delta
table. Once the pipeline keeps up, PostgreSQL is stopped (a fast shutdown: open transactions roll
back, connections drop) for ``down_s`` seconds and started again; once the pipeline has caught up
again, Redis the same way (TERM: it flushes its append-only file and exits).

While a store is down, the batch being written waits in its sink's retries (``retry`` of the
PostgreSQL and Redis sinks, by default a budget above a minute, see
:func:`streamwise.sinks.config.store_retry`) and the next batches queue behind it in Kafka. Once
the store is back the batch commits and the backlog drains in bounded batches. Should the budget be
shorter than the outage, the batch fails, the driver exits, the supervisor restarts it and the
restarted driver replays the batch from its checkpoint: slower, still exact, and counted in
``pipeline_restarts``.

Recovery of one outage: the store's restart (it answers again) until the pipeline commits its
next batch. At the end, once the pipeline has caught up, verify counts, per sink, every
acknowledged event found once, never or twice.
"""

from __future__ import annotations

import logging
import re
import time
from functools import partial
from typing import Any

from streamwise.bench.chaos import SAFETY_S, DrillResult, Flow, flowing, grew, wait_until
from streamwise.bench.chaos_load import Backlog
from streamwise.bench.exceptions import BenchError
from streamwise.config import Settings
from streamwise.platform.process import Service
from streamwise.platform.services import PostgresServer, RedisServer
from streamwise.platform.supervise import SupervisorRecord
from streamwise.sinks import PostgresSink, RetryPolicy

log = logging.getLogger(__name__)

NAME = "r3_sink_outage"
# The writer's warning, e.g. "postgres sink 'q', batch 3: attempt 2/12 failed (...)"; the log's
# console may wrap it anywhere between words.
_RETRY_LINE = re.compile(r"\b(postgres|redis)\s+sink\s+'[^']*',\s+batch\s+\d+:\s+attempt\s")


def outage_sinks(name: str, retry: RetryPolicy | None = None) -> list[dict[str, Any]]:
    """PostgreSQL keyed by event_id, Redis hashes per event_id, and Delta: three sinks verify
    checks event by event. ``retry`` replaces the stores' default retry policy."""
    policy = {"retry": retry.model_dump()} if retry is not None else {}
    return [
        {"type": "postgres", "table": f"{name}_events", "key": ["event_id"], "order_by": "event_time", **policy},
        {"type": "redis", "key": f"{name}:{{event_id}}", **policy},
        {"type": "delta", "path": f"{name}/events"},
    ]


def sink_outage(
    settings: Settings,
    *,
    down_s: float = 30,
    rate: float = 500,
    warmup_s: float = 15,
    gap_s: float = 10,
    after_s: float = 15,
    caught_up_s: float = 5,
    retry: RetryPolicy | None = None,
) -> DrillResult:
    """R3: while events flow at ``rate``/s, PostgreSQL down ``down_s`` s, then Redis down ``down_s``
    s; events flow ``after_s`` s more, then, once the pipeline has caught up, verify. ``settings`` name a running broker,
    PostgreSQL and Redis. ``retry``: the stores' sinks' retry policy (default: theirs), e.g. a short
    one to see the supervisor restart the driver instead.

    Three sinks written from the driver (PostgreSQL, Redis) and Delta take far fewer events per
    second than Delta alone: ``rate`` must leave the pipeline headroom to catch up after an outage
    (measured on 2 busy shared cores: at 300/s it caught up within 35 s of a 30 s outage, at 1,000/s
    its batches fell further behind); at a rate it cannot sustain, the drill stops with a BenchError
    after SAFETY_S.

    Each store is stopped only once the pipeline has caught up (at most ``caught_up_s`` seconds of
    events not committed), ``warmup_s`` s after the first batch and ``gap_s`` s after the previous
    outage: an outage that began while a long catch-up batch was still in an earlier sink would end
    before the batch reached the stopped store, and test nothing.

    ``recovery_s``: per store, its restart until the pipeline's next committed batch. Extra fields:
    ``store_catch_up_s`` (restart until caught up again), ``down_s``, the sinks' retry budget
    ``retry_worst_case_s``, per store the failed attempts the driver logged (``postgres_retries``,
    ``redis_retries``) and the causes of the supervisor's restarts."""
    stores: list[PostgresServer | RedisServer] = [PostgresServer(settings), RedisServer(settings)]
    for store in stores:
        if not store.answers():
            raise BenchError(f"R3 needs {store.title} running on {store.address}", hint="streamwise services start")
    sinks = outage_sinks(NAME, retry)
    log_from = _log_size(settings)
    started = time.monotonic()
    with flowing(settings, NAME, rate=rate, sinks=sinks) as flow:
        backlog, caught_up = Backlog(flow), max(1, int(rate * caught_up_s))
        wait_until(partial(grew, flow.committed_batches, 0), "the pipeline's first batch")
        time.sleep(warmup_s)
        recovery: list[float] = []
        catch_up: list[float] = []
        for number, store in enumerate(stores):
            if number:
                time.sleep(gap_s)
            _wait_lag(backlog, caught_up, f"the pipeline to catch up before {store.title} is stopped")
            back, caught = _outage(flow, backlog, store, down_s, caught_up)
            recovery.append(back)
            catch_up.append(caught)
        time.sleep(after_s)
        causes = _restart_causes(flow)
        logged = _retries_logged(flow, log_from)
        result = flow.finish("R3 sink outage", faults=len(recovery), recovery_s=recovery, started=started)
    result.extra.update(
        down_s=down_s,
        store_catch_up_s=[round(s, 1) for s in catch_up],
        retry_worst_case_s=round(PostgresSink.model_validate(sinks[0]).retry.worst_case_s, 1),
        postgres_retries=logged.get("postgres", 0),
        redis_retries=logged.get("redis", 0),
        restart_causes=causes,
    )
    log.info("chaos R3: %s", result.row())
    return result


def _outage(
    flow: Flow, backlog: Backlog, store: PostgresServer | RedisServer, down_s: float, caught_up: int
) -> tuple[float, float]:
    """Stop ``store`` for ``down_s`` s and start it; seconds from its restart to the next committed
    batch, and to the lag being back at ``caught_up`` records or fewer."""
    log.info("chaos R3: stopping %s for %.0fs", store.title, down_s)
    store.stop()
    time.sleep(down_s)
    store.start()  # returns once it answers
    restarted_at = time.monotonic()
    batches = flow.committed_batches()
    wait_until(partial(grew, flow.committed_batches, batches), f"a batch committed after {store.title} came back")
    committed = time.monotonic() - restarted_at
    _wait_lag(backlog, caught_up, f"the pipeline to catch up after {store.title} came back")
    caught = time.monotonic() - restarted_at
    log.info("chaos R3: %s back; a batch committed %.1fs later, caught up %.1fs later", store.title, committed, caught)
    return committed, caught


def _wait_lag(backlog: Backlog, records: int, what: str) -> None:
    """Until the pipeline has at most ``records`` in Kafka it has not committed (a safety net of SAFETY_S)."""
    deadline = time.monotonic() + SAFETY_S
    while backlog.lag()[1] > records:
        if time.monotonic() > deadline:
            raise BenchError(f"chaos R3: still waiting for {what} after {SAFETY_S:.0f}s")
        time.sleep(1.0)


def _restart_causes(flow: Flow) -> list[str]:
    record = SupervisorRecord.read(flow.pipeline.supervisor_file)
    return [r.cause for r in record.recent] if record else []


def _log_size(settings: Settings) -> int:
    """Where the pipeline's log ends now: the drill reads only what its own run adds."""
    log_file = Service("pipeline", settings.state).log_file
    return log_file.stat().st_size if log_file.is_file() else 0


def _retries_logged(flow: Flow, offset: int) -> dict[str, int]:
    """Failed write attempts per store, as the driver logged them (``attempt n/m failed``) after ``offset``."""
    counts: dict[str, int] = {}
    try:
        with flow.pipeline.log_file.open("rb") as f:
            f.seek(offset)
            text = f.read().decode(errors="replace")
    except FileNotFoundError:
        return counts
    for match in _RETRY_LINE.finditer(text):
        counts[match.group(1)] = counts.get(match.group(1), 0) + 1
    return counts
