"""Web clickstream: page views by users in sessions, generated a batch at a time with numpy.

Page popularity follows a Zipf law. Views come from a pool of concurrently active sessions; each
view ends its session with probability ``1 / mean_session_views`` (so session lengths are geometric
with that mean) and the slot is taken over at once by a new session of a random user. Keyed by
``user_id``: users are drawn uniformly, so keys spread evenly over partitions while one user's
views stay in order on one partition. With ``hot_key_share`` that share of the views comes from one
user, ``u0`` (a crawler, a load test, a bot): one hot key, so one partition of the topic and one
group of any aggregation by user receive that share of the load. The JSON form keeps the fields the clickstream pipeline
reads (``user_id``, ``page``, ``event_time`` in epoch ms).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from streamwise.ingest.scenario import EventBatch, GeneratorBase, Sampler, Vocabulary, register

TOPIC = "clickstream"


@dataclass(frozen=True)
class ClickstreamShape:
    """Knobs of the generated traffic."""

    users: int = 20_000
    pages: int = 200
    zipf_exponent: float = 1.2
    active_sessions: int = 5_000
    mean_session_views: float = 8.0
    hot_key_share: float = 0.0  # share of the views by user u0 (0: none); its views belong to session s-1

    def __post_init__(self) -> None:
        if not 0.0 <= self.hot_key_share <= 1.0:
            raise ValueError(f"hot_key_share is a share of the events, from 0 to 1 (got {self.hot_key_share:g})")


@register
class Clickstream(GeneratorBase[ClickstreamShape]):
    """Seeded source of page views; the same seed gives the same users, sessions, pages and delays."""

    name: ClassVar[str] = "clickstream"
    description: ClassVar[str] = "page views: Zipf page popularity, user sessions"
    key_field: ClassVar[str] = "user_id"
    shape_type: ClassVar[type] = ClickstreamShape
    truth_flags: ClassVar[tuple[str, ...]] = ()

    def setup(self) -> None:
        self._pages_by_rank = Sampler.zipf(self.shape.pages, self.shape.zipf_exponent)
        self._users = Vocabulary.numbered("u%d", self.shape.users)
        self._pages = Vocabulary.numbered("/page/%d", self.shape.pages)
        slots = self.shape.active_sessions
        self._slot_session = np.arange(slots, dtype=np.int64)
        self._slot_user = self.rng.integers(0, self.shape.users, slots, dtype=np.int64)
        self._next_session = slots

    def batch(self, n: int, now_ms: int) -> EventBatch:
        """``n`` page views that happened up to ``now_ms``."""
        session, user = self._sessions(n)
        if self.shape.hot_key_share > 0:
            hot = self.rng.random(n) < self.shape.hot_key_share
            user[hot], session[hot] = 0, -1
        page = self._pages_by_rank.sample(self.rng, n)
        ids = self.event_ids(n)
        columns = {
            "event_id": ids,
            "user_id": self._users.column(user),
            "session_id": _prefixed("s", session),
            "page": self._pages.column(page),
            "event_time": self.event_times(n, now_ms),
        }
        return self.make_batch(columns, self._users.keys[user], ids)

    def _sessions(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Session and user of each of ``n`` views, advancing the pool of active sessions."""
        rng, slots = self.rng, self.shape.active_sessions
        slot = rng.integers(0, slots, n)
        ends = rng.random(n) < 1.0 / self.shape.mean_session_views
        # Per slot, in send order (a stable sort of small ints is a radix sort in numpy).
        order = np.argsort(slot.astype(np.int16) if slots <= 32_767 else slot, kind="stable")
        s_slot, s_ends = slot[order], ends[order]
        ends_before: np.ndarray = np.cumsum(s_ends) - s_ends  # ends earlier in the sorted order (all slots)
        first = np.searchsorted(s_slot, s_slot, side="left")
        in_new: np.ndarray = ends_before > ends_before[first]  # an earlier view of this slot ended its session
        # Each end starts a session numbered in order of the ends; a view after an end belongs to
        # the session the latest end of its slot started.
        created = int(ends.sum())
        new_users = rng.integers(0, self.shape.users, created, dtype=np.int64)
        latest = np.maximum(ends_before - 1, 0)
        s_session = np.where(in_new, self._next_session + latest, self._slot_session[s_slot])
        s_user = np.where(in_new, new_users[latest] if created else 0, self._slot_user[s_slot])
        if created:  # the last end of each slot leaves its new session active for the next batch
            end_slots = s_slot[s_ends]  # sorted by slot; the ranks of ends are 0..created-1 in this order
            last = np.append(end_slots[1:] != end_slots[:-1], True)
            self._slot_session[end_slots[last]] = self._next_session + np.flatnonzero(last)
            self._slot_user[end_slots[last]] = new_users[last]
            self._next_session += created
        session, user = np.empty(n, np.int64), np.empty(n, np.int64)
        session[order], user[order] = s_session, s_user
        return session, user


def _prefixed(prefix: str, numbers: np.ndarray) -> pa.Array:
    """``prefix`` followed by each number, as a string column."""
    return pc.binary_join_element_wise(prefix, pc.cast(pa.array(numbers), pa.string()), "")


# The name the first version exported.
ClickstreamGenerator = Clickstream
