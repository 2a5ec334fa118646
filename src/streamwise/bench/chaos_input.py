"""R4 bad input: fuzzed records of every kind a pipeline or a sink refuses, mixed into valid events.

The valid events are the clickstream generator's (recorded in the ground truth); the bad ones are
produced beside them while the pipeline runs, each kind with the reason its dead letter must give.
Bad records carry negative event ids, which the generator never uses, so every id found anywhere
says where it came from. Afterwards, counted exactly:

- every valid event is in each sink once (Delta, the transactional Kafka topic, PostgreSQL);
- every record the decoder refuses is in ``<topic>.dlq`` once, with its kind's reason; a record
  too large for the topic is there too, put by the producer;
- a record that decodes but holds a value PostgreSQL cannot store (a NUL byte in text) is in Delta
  and Kafka, and in the PostgreSQL sink's own dead-letter topic instead of its table;
- the supervisor never had to restart the pipeline (no query stopped), and the watermark is no
  further than the valid events took it (a far-future record would have moved it).
"""

from __future__ import annotations

import json
import random
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from streamwise.bench.chaos import DrillResult, Flow, flowing
from streamwise.config import KafkaSettings, Settings
from streamwise.ingest.producer import EventProducer
from streamwise.ingest.truth import read_ground_truth
from streamwise.pipeline import load_pipeline
from streamwise.pipeline.decode import MAX_EPOCH_MS
from streamwise.pipeline.spec import interval_ms
from streamwise.platform import dead_letters as dlq
from streamwise.platform.storage import data_root
from streamwise.sinks import warehouse_path
from streamwise.verify import readers

DAY_MS = 86_400_000


@dataclass(frozen=True)
class Kind:
    """One kind of bad record: how to make its value, and the words its dead letter's reason must hold."""

    name: str
    make: Callable[[int, int, random.Random], bytes | None]  # (event id, now ms, rng) -> value
    reason: str
    keyless: bool = False
    at: str = "pipeline"  # whose dead-letter topic holds it: "pipeline" (<topic>.dlq) or "postgres"


def _event(event_id: int, event_time: Any, page: Any = "/fuzz", **extra: Any) -> bytes:
    return json.dumps(
        {"event_id": event_id, "user_id": "fuzz", "page": page, "event_time": event_time, **extra}
    ).encode()


KINDS = (
    Kind("garbage", lambda i, now, rng: b"#" + rng.randbytes(rng.randint(8, 200)), "not valid JSON"),
    Kind("invalid_utf8", lambda i, now, rng: b"\xff\xfe\xfd" + _event(i, now), "not valid JSON"),
    Kind("truncated_json", lambda i, now, rng: _event(i, now)[:-9], "not valid JSON"),
    Kind("wrong_type", lambda i, now, rng: _event(i, "yesterday"), "not valid JSON for the schema"),
    Kind("missing_field", lambda i, now, rng: _event(i, now, page=None), "mistyped field 'page'"),
    Kind("empty_value", lambda i, now, rng: b"", "empty value"),
    Kind("tombstone", lambda i, now, rng: None, "tombstone"),
    Kind("null_key", lambda i, now, rng: _event(i, now), "null key", keyless=True),
    Kind("negative_time", lambda i, now, rng: _event(i, -rng.randint(1, DAY_MS)), "before 1970"),
    Kind("overflow_time", lambda i, now, rng: _event(i, MAX_EPOCH_MS + rng.randint(1, 10**6)), "out of range"),
    Kind("far_future", lambda i, now, rng: _event(i, now + rng.randint(2, 30) * DAY_MS), "max_future"),
    Kind("oversize", lambda i, now, rng: _event(i, now, blob="x" * 1_100_000), "too large"),
    Kind("nul_in_text", lambda i, now, rng: _event(i, now, page="/a\u0000b"), "NUL", at="postgres"),
)
_ID_IN_VALUE = re.compile(rb'"event_id":\s*(-?\d+)')


def bad_input(
    settings: Settings, *, bad: int = 10_000, rate: float = 2_000, seconds: float = 60, seed: int = 4
) -> DrillResult:
    """R4: ``bad`` fuzzed records (every kind in :data:`KINDS`, in turn) spread over ``seconds`` s
    among valid events at ``rate``/s; everything counted as the module says. Needs PostgreSQL."""
    name = "r4_bad_input"
    sinks: list[dict[str, Any]] = [
        {"type": "delta", "path": f"{name}/events"},
        {"type": "kafka_alerts", "topic": f"chaos_{name}_out", "key": "user_id"},
        {"type": "postgres", "name": f"{name}_pg", "table": name, "key": ["event_id"], "order_by": "event_time"},
    ]
    rng = random.Random(seed)
    started = time.monotonic()
    with flowing(settings, name, rate=rate, sinks=sinks) as flow:
        sent = _fuzz(EventProducer(settings.kafka, flow.topic), bad=bad, seconds=seconds, rng=rng)
        never_stopped = flow.restarts() == 0 and flow.driver() is not None
        result = flow.finish("R4 bad input", faults=bad, recovery_s=[], started=started, verify=False)
    truth = read_ground_truth(settings.state, flow.topic)
    return _count(settings, flow, result, truth, sent, never_stopped)


def _fuzz(producer: EventProducer, *, bad: int, seconds: float, rng: random.Random) -> dict[int, Kind]:
    """Send ``bad`` records, every kind in turn, in 20 rounds over ``seconds`` s; their kinds by id.
    A record's key names its id (``fuzz:-17``), so its dead letter is found whatever its value."""
    sent: dict[int, Kind] = {}
    rounds = 20
    for r in range(rounds):
        now = int(time.time() * 1000)
        batch: list[tuple[bytes | None, Any, int | None]] = []
        for n in range(r * bad // rounds, (r + 1) * bad // rounds):
            kind = KINDS[n % len(KINDS)]
            event_id = -(n + 1)
            sent[event_id] = kind
            batch.append((None if kind.keyless else f"fuzz:{event_id}".encode(), kind.make(event_id, now, rng), None))
        producer.send_many(batch)
        producer.poll(0)
        time.sleep(seconds / rounds)
    producer.flush()
    return sent


def _count(
    settings: Settings, flow: Flow, result: DrillResult, truth: pa.Table, sent: dict[int, Kind], never_stopped: bool
) -> DrillResult:
    """Fill ``result`` with the exact counts the module's docstring promises."""
    kafka, name = settings.kafka, flow.name
    valid = Counter(truth.column("event_id").to_pylist())
    decodable = Counter(i for i, kind in sent.items() if kind.at == "postgres")  # in Delta and Kafka too
    expected = {"delta": valid + decodable, "kafka": valid + decodable, "postgres": valid}
    delta = readers.delta_rows(warehouse_path(f"{name}/events", data_root(settings)), ["event_id"])
    out = readers.json_rows(readers.topic_records(kafka, f"{flow.topic}_out"), ["event_id"])
    table = readers.postgres_rows(settings.postgres, name, ["event_id"])
    found = {
        "delta": Counter(int(i) for i in delta["event_id"]),
        "kafka": Counter(int(i) for i in out["event_id"]),
        "postgres": Counter(int(i) for i in table["event_id"]),
    }
    letters = _dead_letters(kafka, dlq.dlq_topic(flow.topic)) + _dead_letters(kafka, f"{name}_pg.dlq")
    wrong = [(i, reason) for i, reason in letters if i not in sent or sent[i].reason not in reason]
    lettered = Counter(i for i, _ in letters)
    spec = load_pipeline(flow.spec_path)
    watermark = readers.batch_watermark(flow.checkpoint)
    newest_valid = int(pc.max(truth.column("event_time")).as_py().timestamp() * 1000)
    result.consumed = {sink: sum(c.values()) for sink, c in found.items()}
    result.lost = sum(sum((expected[s] - found[s]).values()) for s in found)
    result.duplicated = sum(sum((found[s] - expected[s]).values()) for s in found)
    result.dead_lettered = len(letters)
    result.expected = {sink: sum(c.values()) for sink, c in expected.items()}
    watermark_ok = watermark is not None and watermark <= newest_valid - interval_ms(spec.event_time.watermark)
    result.checks |= {
        "every bad record dead-lettered once": all(lettered[i] == 1 for i in sent) and len(letters) == len(sent),
        "every dead letter with its kind's reason": not wrong,
        "no query stopped": never_stopped,
        "watermark unmoved by the bad records": watermark_ok,
    }
    result.extra |= {
        "valid_sent": sum(valid.values()),
        "bad_sent": len(sent),
        "bad_kinds": len(KINDS),
        "bad_lettered_once": sum(1 for i in sent if lettered[i] == 1),
        "dead_letters_with_wrong_reason": len(wrong),
        "never_stopped": never_stopped,
        "watermark_ms": watermark,
        "watermark_unmoved_by_bad": watermark_ok,
        "wrong_sample": [f"{i}: {reason[:80]}" for i, reason in wrong[:5]],
    }
    return result


def _dead_letters(kafka: KafkaSettings, topic: str) -> list[tuple[int, str]]:
    """(event id, reason) of every dead letter in ``topic``: the id from the key (``fuzz:-17``), else
    from the value (a keyless record, a sink's row); 0 when neither names one."""
    letters = []
    for msg in readers.topic_records(kafka, topic):
        reason = next((v.decode(errors="replace") for k, v in msg.headers() or [] if k == dlq.REASON and v), "")
        key = msg.key() or b""
        found = _ID_IN_VALUE.search(msg.value() or b"")
        event_id = int(key[5:]) if key.startswith(b"fuzz:") else int(found.group(1)) if found else 0
        letters.append((event_id, reason))
    return letters
