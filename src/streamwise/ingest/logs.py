"""Application logs: structured lines from services and their hosts, with levels and error bursts.

Services log at different volumes; a line's level, HTTP status, latency and message follow its
service's state. Each service has error bursts: they start as a Poisson process (mean gap
``mean_burst_gap_s``) and last an exponential time (mean ``mean_burst_s``); during one, the service
logs three times as much, mostly WARN and ERROR with 5xx statuses and slow responses, and its lines
carry ``is_error_burst``. Requests span several lines (geometric, mean ``lines_per_trace``) sharing
a ``trace_id``, the key: hashed ids, so keys spread evenly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pyarrow as pa

from streamwise.ingest.scenario import EventBatch, GeneratorBase, Sampler, Vocabulary, register

# service: (share of lines, median latency in ms)
SERVICES: dict[str, tuple[float, float]] = {
    "api-gateway": (0.20, 12.0),
    "auth": (0.10, 8.0),
    "users": (0.08, 15.0),
    "orders": (0.10, 40.0),
    "payments": (0.07, 120.0),
    "inventory": (0.07, 25.0),
    "search": (0.12, 60.0),
    "recommendations": (0.08, 90.0),
    "notifications": (0.05, 30.0),
    "shipping": (0.04, 45.0),
    "cart": (0.06, 18.0),
    "reviews": (0.03, 22.0),
}
LEVELS = ("DEBUG", "INFO", "WARN", "ERROR")
_NORMAL_LEVELS = (0.15, 0.75, 0.08, 0.02)
_BURST_LEVELS = (0.05, 0.45, 0.15, 0.35)
_STATUS = {"DEBUG": (200, 201, 204), "INFO": (200, 201, 204), "WARN": (400, 404, 429), "ERROR": (500, 502, 503, 504)}
_MESSAGES = {
    "DEBUG": ("cache lookup", "query plan chosen", "feature flag evaluated", "retry budget checked"),
    "INFO": ("request served", "user authenticated", "order created", "item added to cart", "search completed"),
    "WARN": ("slow response from upstream", "retrying request", "rate limit close", "deprecated endpoint called"),
    "ERROR": ("upstream timeout", "database connection refused", "unhandled exception", "circuit breaker open"),
}
HOSTS_PER_SERVICE = 8
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


@dataclass(frozen=True)
class LogsShape:
    """Knobs of the service landscape and its incidents."""

    mean_burst_gap_s: float = 120.0
    mean_burst_s: float = 15.0
    burst_volume: float = 3.0
    lines_per_trace: float = 4.0


@register
class Logs(GeneratorBase[LogsShape]):
    """Seeded log lines; the same seed (and the same batch times) gives the same lines and bursts."""

    name: ClassVar[str] = "logs"
    description: ClassVar[str] = "service logs: levels, services, error bursts"
    key_field: ClassVar[str] = "trace_id"
    shape_type: ClassVar[type] = LogsShape
    truth_flags: ClassVar[tuple[str, ...]] = ("is_error_burst",)

    def setup(self) -> None:
        services = list(SERVICES)
        self._services = Vocabulary(services)
        self._hosts = Vocabulary([f"{s}-{i}" for s in services for i in range(HOSTS_PER_SERVICE)])
        self._levels = Vocabulary(list(LEVELS))
        messages = [(level, text) for level in LEVELS for text in _MESSAGES[level]]
        self._messages = Vocabulary([text for _, text in messages])
        self._message_range = {lv: [i for i, (level, _) in enumerate(messages) if level == lv] for lv in LEVELS}
        self._share = np.array([SERVICES[s][0] for s in services])
        self._log_latency = np.log([SERVICES[s][1] for s in services])
        self._levels_normal, self._levels_burst = Sampler(_NORMAL_LEVELS), Sampler(_BURST_LEVELS)
        self._samplers: dict[bytes, Sampler] = {}
        self._burst_until = np.zeros(len(services), dtype=np.int64)
        self._next_burst: np.ndarray | None = None
        self._trace = 0
        self._salt = np.uint64(self.rng.integers(0, 2**63))

    def bursting(self, now_ms: int) -> np.ndarray:
        """Whether each service is in an error burst at ``now_ms`` (advancing the burst schedule)."""
        s, rng = self.shape, self.rng
        if self._next_burst is None:
            self._next_burst = now_ms + rng.exponential(1000 * s.mean_burst_gap_s, len(self._share)).astype(np.int64)
        for i in np.flatnonzero(self._next_burst <= now_ms):
            while self._next_burst[i] <= now_ms:  # a long pause between batches may skip whole bursts
                start = self._next_burst[i]
                self._burst_until[i] = start + int(rng.exponential(1000 * s.mean_burst_s))
                self._next_burst[i] = self._burst_until[i] + int(rng.exponential(1000 * s.mean_burst_gap_s))
        return self._burst_until > now_ms

    def batch(self, n: int, now_ms: int) -> EventBatch:
        """``n`` log lines written up to ``now_ms``."""
        rng = self.rng
        burst = self.bursting(now_ms)
        sampler = self._samplers.get(burst.tobytes())
        if sampler is None:  # one per combination of bursting services: building a table is not free
            sampler = self._samplers[burst.tobytes()] = Sampler(
                self._share * np.where(burst, self.shape.burst_volume, 1.0)
            )
        service = sampler.sample(rng, n)
        in_burst = burst[service]
        level = self._levels_normal.sample(rng, n)
        if in_burst.any():
            level[in_burst] = self._levels_burst.sample(rng, int(in_burst.sum()))
        status = np.empty(n, dtype=np.int32)
        message = np.empty(n, dtype=np.int32)
        for lv, name in enumerate(LEVELS):
            rows = np.flatnonzero(level == lv)
            codes, choices = np.array(_STATUS[name]), np.array(self._message_range[name])
            status[rows] = codes[rng.integers(0, len(codes), len(rows))]
            message[rows] = choices[rng.integers(0, len(choices), len(rows))]
        slow = np.where(in_burst, np.log(5.0), 0.0)
        latency = np.round(np.exp(self._log_latency[service] + slow + 0.5 * rng.standard_normal(n)), 2)
        host = service * HOSTS_PER_SERVICE + rng.integers(0, HOSTS_PER_SERVICE, n)
        trace_hex = self._trace_ids(n)
        ids = self.event_ids(n)
        columns = {
            "event_id": ids,
            "trace_id": pa.Array.from_buffers(
                pa.string(),
                n,
                [None, pa.py_buffer(np.arange(0, 16 * (n + 1), 16, dtype=np.int32)), pa.py_buffer(trace_hex)],
            ),
            "service": self._services.column(service),
            "host": self._hosts.column(host),
            "level": self._levels.column(level),
            "status": status,
            "latency_ms": latency,
            "message": self._messages.column(message),
            "event_time": self.event_times(n, now_ms),
        }
        keys = trace_hex.view("S16").ravel().astype(object)
        return self.make_batch(columns, keys, ids, is_error_burst=in_burst)

    def _trace_ids(self, n: int) -> np.ndarray:
        """16 hex digits per line, as an (n, 16) byte matrix; consecutive lines share a trace."""
        new = self.rng.random(n) < 1.0 / self.shape.lines_per_trace
        trace = self._trace + np.cumsum(new)
        self._trace = int(trace[-1]) if n else self._trace
        h = _splitmix64(trace.astype(np.uint64) ^ self._salt)
        shifts = np.arange(60, -1, -4, dtype=np.uint64)
        return _HEX[((h[:, None] >> shifts) & np.uint64(0xF)).astype(np.intp)]


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """A bijective 64-bit mix: sequential trace numbers become random-looking, evenly hashed ids."""
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))
