"""What every event source shares: the columnar batch, the Scenario protocol and the registry.

A scenario is a seeded generator: the same seed and the same sequence of ``batch(n, now_ms)`` calls
give the same events. It returns an :class:`EventBatch`: the payload as Arrow columns named after
its Avro schema's fields, one Kafka key per event, and ground-truth flags (``is_anomaly``,
``is_fraud`` ...) that travel beside the payload, never inside it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

import numpy as np
import pyarrow as pa

from streamwise.ingest.avro import load_schema
from streamwise.ingest.exceptions import UnknownScenarioError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

# Built-in scenarios, in the order the CLI lists them; each lives in streamwise.ingest.<name>.
BUILTIN = ("clickstream", "iot", "payments", "logs", "social")
_REGISTRY: dict[str, type[Scenario]] = {}


@dataclass(frozen=True)
class EventBatch:
    """Events as columns, with the Kafka key and the ground truth of each row."""

    data: pa.RecordBatch
    keys: np.ndarray  # object array of bytes (None: no key)
    event_ids: np.ndarray  # int64, unique within a run
    time_field: str | None = "event_time"  # None: the events have no event time (a replayed file without one)
    flags: dict[str, np.ndarray] = field(default_factory=dict)  # bool arrays, aligned with the rows

    def __len__(self) -> int:
        return self.data.num_rows

    @property
    def event_time_ms(self) -> np.ndarray | None:
        return None if self.time_field is None else self.data.column(self.time_field).to_numpy()

    def take(self, rows: np.ndarray) -> EventBatch:
        """The rows at ``rows`` (in that order; an index may repeat)."""
        indices = pa.array(rows)
        return replace(
            self,
            data=self.data.take(indices),
            keys=self.keys[rows],
            event_ids=self.event_ids[rows],
            flags={name: values[rows] for name, values in self.flags.items()},
        )

    def with_event_time(self, event_time_ms: np.ndarray) -> EventBatch:
        """The same events with other event times (disorder shifts some of them back)."""
        if self.time_field is None:
            raise ValueError("these events have no event time")
        position = self.data.schema.get_field_index(self.time_field)
        return replace(self, data=self.data.set_column(position, self.time_field, pa.array(event_time_ms)))

    def with_flags(self, **flags: np.ndarray) -> EventBatch:
        return replace(self, flags={**self.flags, **flags})


class Scenario(Protocol):
    """A seeded source of realistic events of one kind."""

    name: ClassVar[str]
    description: ClassVar[str]
    key_field: ClassVar[str]  # the field whose value is the Kafka key; chosen to spread load evenly
    truth_flags: ClassVar[tuple[str, ...]]  # ground-truth flags this scenario sets
    schema: dict[str, Any]
    stamp_event_time: ClassVar[bool]  # Kafka timestamp = event time (else: the time it is sent)

    def batch(self, n: int, now_ms: int) -> EventBatch:
        """``n`` events that happened up to ``now_ms`` (epoch milliseconds)."""
        ...


def register(cls: type[Scenario]) -> type[Scenario]:
    """Class decorator: make a scenario available to ``produce`` and the bench by its name."""
    _REGISTRY[cls.name] = cls
    return cls


def names() -> list[str]:
    """Every scenario's name: the built-in ones first, then any registered by other code."""
    return list(BUILTIN) + sorted(set(_REGISTRY) - set(BUILTIN))


def scenario_class(name: str) -> type[Scenario]:
    """The class registered as ``name``; UnknownScenarioError lists the known ones."""
    if name in BUILTIN and name not in _REGISTRY:
        importlib.import_module(f"streamwise.ingest.{name}")
    if name not in _REGISTRY:
        raise UnknownScenarioError(f"unknown scenario {name!r}", hint=f"available: {', '.join(names())}")
    return _REGISTRY[name]


def create(name: str, seed: int = 7, **shape: Any) -> Scenario:
    """A new generator of scenario ``name``; ``shape`` overrides fields of its shape dataclass."""
    cls: Callable[..., Scenario] = scenario_class(name)
    return cls(seed=seed, **shape)


ShapeT = TypeVar("ShapeT", bound="DataclassInstance")  # shapes are frozen dataclasses, overridden with replace()


class GeneratorBase(Generic[ShapeT]):
    """What the built-in scenarios share: the seeded RNG, the shape (their knobs, a frozen dataclass
    given whole or field by field), event ids and times, id vocabularies. Subclasses set
    ``shape_type`` and build their state in :meth:`setup`."""

    name: ClassVar[str]
    shape_type: ClassVar[type]
    stamp_event_time: ClassVar[bool] = True
    first_span_ms: ClassVar[int] = 100  # the first batch's events happened within this span before now

    def __init__(self, seed: int = 7, shape: ShapeT | None = None, **overrides: Any) -> None:
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.schema = load_schema(self.name)
        self.shape: ShapeT = replace(shape or self.shape_type(), **overrides)
        self._next_id = 0
        self._last_now: int | None = None
        self.setup()

    def setup(self) -> None:
        """Build the scenario's population (users, sensors, cards ...) from ``self.shape``."""

    def event_ids(self, n: int) -> np.ndarray:
        ids = np.arange(self._next_id, self._next_id + n, dtype=np.int64)
        self._next_id += n
        return ids

    def event_times(self, n: int, now_ms: int) -> np.ndarray:
        """Times of ``n`` events spread as a Poisson process over the span since the previous batch.

        They come out ascending: disorder is injected on purpose and flagged (see ``Disorder``).
        """
        since = self._last_now if self._last_now is not None else now_ms - self.first_span_ms
        since = min(since, now_ms)
        self._last_now = now_ms
        gaps = np.cumsum(self.rng.standard_exponential(n + 1))
        return since + ((now_ms - since) * (gaps[:-1] / gaps[-1])).astype(np.int64) + (1 if now_ms > since else 0)

    def make_batch(
        self, columns: dict[str, pa.Array | np.ndarray], keys: np.ndarray, ids: np.ndarray, **flags: np.ndarray
    ) -> EventBatch:
        """An EventBatch with the columns in schema order."""
        names_ = [f["name"] for f in self.schema["fields"]]
        data = pa.RecordBatch.from_arrays(
            [pa.array(columns[n]) if isinstance(columns[n], np.ndarray) else columns[n] for n in names_], names=names_
        )
        return EventBatch(data, keys, ids, flags=flags)


class Vocabulary:
    """Names for entity ids (``u17``, ``card-0000017``) as an Arrow dictionary plus their key bytes."""

    def __init__(self, names: list[str]) -> None:
        self.values = pa.array(names, pa.string())
        self.keys = np.array([n.encode() for n in names], dtype=object)

    @classmethod
    def numbered(cls, template: str, count: int) -> Vocabulary:
        return cls([template % i for i in range(count)])

    def __len__(self) -> int:
        return len(self.values)

    def column(self, ids: np.ndarray) -> pa.DictionaryArray:
        """A categorical column naming ``ids`` (the dictionary is shared, so it is encoded once)."""
        return pa.DictionaryArray.from_arrays(pa.array(ids.astype(np.int32, copy=False)), self.values)


class Sampler:
    """Draws indices with given weights by looking up a quantile table (faster than a search per draw).

    The table has 2**16 cells for up to 256 choices and 2**20 beyond: each index's probability is
    exact to within one cell (1.5e-5, or 1e-6), and a small table stays in the CPU cache.
    """

    def __init__(self, weights: np.ndarray | Sequence[float]) -> None:
        w = np.asarray(weights, dtype=np.float64)
        self.p = w / w.sum()
        self.cells = 1 << (16 if len(w) <= 256 else 20)
        quantiles = (np.arange(self.cells) + 0.5) / self.cells
        table = np.minimum(np.searchsorted(np.cumsum(self.p), quantiles, side="right"), len(w) - 1)
        self._table = table.astype(np.int16 if len(w) < 32_768 else np.int32)

    @classmethod
    def zipf(cls, count: int, exponent: float) -> Sampler:
        """Ranks 0..count-1 with probability proportional to (rank + 1) ** -exponent."""
        return cls(np.arange(1, count + 1, dtype=np.float64) ** -exponent)

    def __len__(self) -> int:
        return len(self.p)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self._table[rng.integers(0, self.cells, n, dtype=np.int32)]
