"""Bounded retries with exponential backoff, shared by every sink."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from streamwise.sinks.exceptions import SinkUnavailableError

T = TypeVar("T")


class RetryPolicy(BaseModel):
    """How often and how patiently a sink retries: ``attempts`` tries, waits growing by ``multiplier``.

    The wait before try n+1 is ``min(max_backoff_s, initial_backoff_s * multiplier**(n-1))``, shortened
    by up to ``jitter`` (a fraction) so that many writers do not retry in step.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    attempts: int = Field(default=8, ge=1, le=100, description="tries in all, the first included")
    initial_backoff_s: float = Field(default=0.5, gt=0, le=600)
    multiplier: float = Field(default=2.0, ge=1.0, le=10.0)
    max_backoff_s: float = Field(default=10.0, gt=0, le=3600)
    jitter: float = Field(default=0.1, ge=0.0, lt=1.0)

    @model_validator(mode="after")
    def _ordered(self) -> RetryPolicy:
        if self.max_backoff_s < self.initial_backoff_s:
            raise ValueError("max_backoff_s must be at least initial_backoff_s")
        return self

    def delays(self, rng: random.Random | None = None) -> list[float]:
        """The waits between tries (``attempts - 1`` of them)."""
        rng = rng or random.Random()
        out = []
        for n in range(self.attempts - 1):
            delay = min(self.max_backoff_s, self.initial_backoff_s * self.multiplier**n)
            out.append(delay * (1.0 - self.jitter * rng.random()) if self.jitter else delay)
        return out

    @property
    def worst_case_s(self) -> float:
        """The longest a write can wait in all (no jitter), to size against an expected outage."""
        return sum(RetryPolicy(**{**self.model_dump(), "jitter": 0.0}).delays())


def call_with_retries(
    fn: Callable[[], T],
    policy: RetryPolicy,
    *,
    retriable: tuple[type[BaseException], ...],
    what: str,
    on_retry: Callable[[int, BaseException, float], None] = lambda _n, _exc, _delay: None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """``fn()``, retried on ``retriable`` errors per ``policy``; then SinkUnavailableError naming ``what``.

    ``on_retry(attempt, error, delay)`` is told of each failed try before the wait.
    """
    delays = policy.delays()
    started = time.monotonic()
    for attempt in range(1, policy.attempts + 1):
        try:
            return fn()
        except retriable as exc:
            if attempt == policy.attempts:
                raise SinkUnavailableError(
                    f"{what}: still failing after {attempt} attempts over {time.monotonic() - started:.1f}s: "
                    f"{type(exc).__name__}: {str(exc).strip()[:300]}",
                    hint="the batch is not committed; Spark replays it from the checkpoint when the query restarts",
                ) from exc
            delay = delays[attempt - 1]
            on_retry(attempt, exc, delay)
            sleep(delay)
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover
