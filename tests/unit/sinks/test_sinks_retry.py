"""The sinks' retry policy: the exact backoff schedule, jitter bounds, and bounded retrying."""

from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from streamwise.sinks import RetryPolicy, SinkUnavailableError, call_with_retries


def test_backoff_doubles_from_initial_and_is_capped() -> None:
    """Setup: 6 attempts, 0.5 s initial, x2, capped at 4 s, no jitter. Invariant: the 5 waits are
    exactly 0.5, 1, 2, 4, 4 and the worst case is their sum, 11.5 s."""
    policy = RetryPolicy(attempts=6, initial_backoff_s=0.5, multiplier=2, max_backoff_s=4, jitter=0)
    assert policy.delays() == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert policy.worst_case_s == 11.5


def test_default_policy_schedule() -> None:
    """Setup: the defaults. Invariant: 8 attempts, waits 0.5 1 2 4 8 10 10 without jitter (35.5 s)."""
    assert RetryPolicy().worst_case_s == 35.5
    assert RetryPolicy(jitter=0).delays() == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_jitter_only_shortens_each_wait_by_at_most_its_fraction() -> None:
    """Setup: jitter 0.25 with a seeded generator. Invariant: each wait lies in [0.75 d, d] of the
    unjittered wait d, and the same seed gives the same schedule."""
    policy = RetryPolicy(attempts=8, initial_backoff_s=0.1, multiplier=3, max_backoff_s=5, jitter=0.25)
    plain = RetryPolicy(**{**policy.model_dump(), "jitter": 0}).delays()
    jittered = policy.delays(random.Random(7))
    assert all(0.75 * d <= j <= d for j, d in zip(jittered, plain, strict=True))
    assert jittered == policy.delays(random.Random(7))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"attempts": 0}, "greater than or equal to 1"),
        ({"attempts": 101}, "less than or equal to 100"),
        ({"initial_backoff_s": 2, "max_backoff_s": 1}, "max_backoff_s must be at least initial_backoff_s"),
        ({"multiplier": 0.5}, "greater than or equal to 1"),
        ({"jitter": 1.0}, "less than 1"),
        ({"retries": 3}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_policies_are_refused(fields: dict, message: str) -> None:
    """Setup: out-of-range or unknown fields. Invariant: validation fails naming the rule."""
    with pytest.raises(ValidationError, match=message):
        RetryPolicy(**fields)


def test_retries_follow_the_schedule_then_succeed() -> None:
    """Setup: a call failing twice with ConnectionError, then returning 42. Invariant: the result is 42,
    the sleeps are the schedule's first two waits, and on_retry saw attempts 1 and 2."""
    policy = RetryPolicy(attempts=5, initial_backoff_s=0.1, jitter=0)
    outcomes = [ConnectionError("down"), ConnectionError("still down"), 42]
    slept: list[float] = []
    told: list[tuple[int, str, float]] = []

    def call() -> int:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    result = call_with_retries(
        call,
        policy,
        retriable=(ConnectionError,),
        what="test sink",
        sleep=slept.append,
        on_retry=lambda n, exc, d: told.append((n, str(exc), d)),
    )
    assert result == 42
    assert slept == [0.1, 0.2]
    assert told == [(1, "down", 0.1), (2, "still down", 0.2)]


def test_exhausted_retries_raise_sink_unavailable_with_the_cause() -> None:
    """Setup: 3 attempts that all fail. Invariant: exactly 3 calls and 2 sleeps, then a
    SinkUnavailableError naming the sink and the attempts, chained to the last error."""
    calls: list[int] = []
    slept: list[float] = []

    def call() -> None:
        calls.append(1)
        raise TimeoutError(f"timeout {len(calls)}")

    with pytest.raises(SinkUnavailableError, match=r"^redis sink: still failing after 3 attempts") as err:
        call_with_retries(
            call, RetryPolicy(attempts=3, jitter=0), retriable=(TimeoutError,), what="redis sink", sleep=slept.append
        )
    assert (len(calls), slept) == (3, [0.5, 1.0])
    assert str(err.value.__cause__) == "timeout 3"
    assert "replays it from the checkpoint" in err.value.hint


def test_errors_that_are_not_retriable_pass_through_at_once() -> None:
    """Setup: a call raising ValueError with only ConnectionError retriable. Invariant: one call, no sleep."""
    slept: list[float] = []
    with pytest.raises(ValueError, match="bad row"):
        call_with_retries(
            lambda: (_ for _ in ()).throw(ValueError("bad row")),
            RetryPolicy(),
            retriable=(ConnectionError,),
            what="x",
            sleep=slept.append,
        )
    assert slept == []
