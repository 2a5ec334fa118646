"""A pipeline as data: the pydantic models a YAML file is validated against, and the Python API.

``PipelineSpec(...)`` built in Python and a YAML file loaded with :func:`load_pipeline` give the same
object, so both build the same Spark plan.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from streamwise.pipeline.exceptions import PipelineError
from streamwise.platform.storage import Location, location
from streamwise.sinks.config import Sink

_INTERVAL = re.compile(r"^\d+\s+(millisecond|second|minute|hour|day|week)s?$")


def _interval(value: str) -> str:
    if not _INTERVAL.match(value.strip()):
        raise ValueError(f"{value!r} is not a duration; write it as Spark does, e.g. '10 seconds' or '5 minutes'")
    return value.strip()


Interval = Annotated[str, Field(description="a Spark interval such as '10 seconds'")]
_UNIT_MS = {
    "millisecond": 1,
    "second": 1_000,
    "minute": 60_000,
    "hour": 3_600_000,
    "day": 86_400_000,
    "week": 604_800_000,
}


def interval_ms(value: str) -> int:
    """Milliseconds in a validated interval ('5 seconds' -> 5000)."""
    amount, unit = value.split()
    return int(amount) * _UNIT_MS[unit.rstrip("s")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# A backlog is read in batches of at most this many records. At 20,000 events/s on a 1 s trigger a
# batch holds ~20,000, so the bound leaves 5x headroom and never slows a pipeline keeping up; a backlog
# of millions (a restart after an outage, a first run from earliest) then drains in bounded batches of
# ~100,000 (~20 MB of JSON values), each one small enough for a laptop's driver and executors and
# committed on its own, instead of one batch holding all of it that must finish (or be redone) as a whole.
DEFAULT_MAX_OFFSETS_PER_TRIGGER = 100_000


class KafkaSource(_Model):
    """Where events come from: one topic, decoded from JSON with a schema, or from Avro in the
    Confluent wire format with the schema registry's versions of ``subject``."""

    topic: str
    format: Literal["json", "avro"] = "json"
    schema_ddl: str | None = Field(
        default=None, alias="schema", description="json: Spark DDL, e.g. 'user_id STRING, event_time LONG'"
    )
    subject: str | None = Field(
        default=None, description="avro: the registry subject of the values; default <topic>-value"
    )
    required: list[str] = Field(default_factory=list, description="fields that must be present")
    require_key: bool = Field(
        default=False,
        description="make a record without a Kafka key a dead letter (for streams keyed by entity); "
        "off by default, as keyless streams are common",
    )
    starting_offsets: Literal["earliest", "latest"] = "earliest"
    max_offsets_per_trigger: Annotated[int, Field(ge=1)] | Literal["unbounded"] = Field(
        default=DEFAULT_MAX_OFFSETS_PER_TRIGGER,
        description="records read per micro-batch at most, across partitions (Spark's maxOffsetsPerTrigger; "
        "run --once too), so a backlog drains in bounded batches; 'unbounded' reads everything there is "
        "in one batch. Not applied in mode: realtime, where Spark refuses it",
    )
    min_partitions: int | None = Field(
        default=None,
        ge=1,
        description="Spark tasks that read each micro-batch at least (Spark's minPartitions): a Kafka partition "
        "holding more than its share of the batch (a hot key) is split by offsets over several tasks; "
        "default one task per Kafka partition. Not applied in mode: realtime",
    )

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _default_subject(cls, data: object) -> object:
        # Filled in before validation (the model is frozen), so spec.source.subject is always concrete for avro.
        if isinstance(data, dict) and data.get("format") == "avro" and data.get("subject") is None and "topic" in data:
            return {**data, "subject": f"{data['topic']}-value"}
        return data

    @model_validator(mode="after")
    def _fits_format(self) -> KafkaSource:
        if self.format == "json" and self.schema_ddl is None:
            raise ValueError(
                "a json source needs schema: the Spark DDL of its values, e.g. "
                "'user_id STRING, event_time LONG' (or format: avro, whose schema is in the registry)"
            )
        if self.format == "json" and self.subject is not None:
            raise ValueError("subject applies to format: avro; a json source is decoded with its schema")
        if self.format == "avro" and self.schema_ddl is not None:
            raise ValueError(
                f"an avro source reads its schema from the registry (subject {self.subject}, the latest "
                "version when the query starts); remove schema"
            )
        return self


class EventTime(_Model):
    """Which field carries event time (epoch milliseconds on the wire) and how late data may be."""

    field: str = "event_time"
    watermark: Interval = "10 seconds"
    max_future: Interval = Field(
        default="1 hour",
        description="how far past its Kafka timestamp an event time may lie; "
        "a record further ahead is a dead letter, as it would move the watermark",
    )

    _check = field_validator("watermark", "max_future")(lambda cls, v: _interval(v))


class FilterStep(_Model):
    """Keep rows where a Spark SQL condition holds."""

    type: Literal["filter"]
    where: str


class SelectStep(_Model):
    """Project columns: each output name maps to a Spark SQL expression."""

    type: Literal["select"]
    columns: dict[str, str]


class WithColumnsStep(_Model):
    """Add or replace columns computed by Spark SQL expressions."""

    type: Literal["with_columns"]
    columns: dict[str, str]


class SqlStep(_Model):
    """Any Spark SQL query over the step's input, which it names ``{input}``."""

    type: Literal["sql"]
    query: str

    @field_validator("query")
    @classmethod
    def _names_input(cls, value: str) -> str:
        if "{input}" not in value:
            raise ValueError("the query must read from {input}, e.g. 'SELECT page FROM {input}'")
        return value


class WindowStep(_Model):
    """Event-time aggregation in tumbling, sliding or session windows (emitted when the watermark passes)."""

    type: Literal["window"]
    kind: Literal["tumbling", "sliding", "session"] = "tumbling"
    duration: Interval | None = Field(default=None, description="window length (tumbling, sliding)")
    slide: Interval | None = Field(default=None, description="sliding windows: how often one starts")
    gap: Interval | None = Field(default=None, description="session windows: inactivity that closes one")
    by: list[str] = Field(default_factory=list, description="grouping columns besides the window")
    salt: int | None = Field(
        default=None,
        ge=2,
        le=1024,
        description="aggregate in two stages for hot keys: first by (window, by, one of `salt` buckets), "
        "then by (window, by); same rows as without. Tumbling and sliding windows, aggregates "
        "count, sum, min, max, avg of one expression. Spark already aggregates these partially in each "
        "reading task, so salt seldom evens the load (`streamwise bench hotkey`); a hot Kafka partition "
        "is evened by the source's min_partitions",
    )
    aggregates: dict[str, str] = Field(min_length=1, description="output column -> aggregate, e.g. views: count(*)")

    @field_validator("duration", "slide", "gap")
    @classmethod
    def _intervals(cls, value: str | None) -> str | None:
        return None if value is None else _interval(value)

    @field_validator("salt")
    @classmethod
    def _salt_fits_kind(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and info.data.get("kind") == "session":
            raise ValueError(
                "salt splits a key's rows into buckets aggregated apart, and a session window's extent "
                "depends on all of the key's rows: salt applies to tumbling and sliding windows only"
            )
        return value

    @field_validator("aggregates")
    @classmethod
    def _aggregates_split(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        if info.data.get("salt") is None:
            return value
        for name, expr in value.items():
            if split_aggregate(expr) is None:
                raise ValueError(
                    f"{name}: {expr!r} cannot be aggregated in two stages; with salt each aggregate is one of "
                    f"{', '.join(f'{f}(expr)' for f in SALTABLE)} (count(*) too), without DISTINCT or FILTER"
                )
        return value

    @model_validator(mode="after")
    def _fits_kind(self) -> WindowStep:
        needs = {"tumbling": ("duration",), "sliding": ("duration", "slide"), "session": ("gap",)}[self.kind]
        missing = [name for name in needs if getattr(self, name) is None]
        if missing:
            raise ValueError(f"a {self.kind} window needs {' and '.join(missing)}")
        return self

    def interval(self, name: Literal["duration", "slide", "gap"]) -> str:
        """``duration``, ``slide`` or ``gap``, one the window's kind needs (so validation made it present)."""
        value: str | None = getattr(self, name)
        if value is None:
            raise PipelineError(f"a {self.kind} window has no {name}")
        return value


# Aggregates that salting computes in two stages: each merges its partial results exactly.
SALTABLE = ("count", "sum", "min", "max", "avg", "mean")


def split_aggregate(expr: str) -> tuple[str, str] | None:
    """``(function, argument)`` of an aggregate salting can split (``sum(amount * 2)`` ->
    ``('sum', 'amount * 2')``), None for anything else (two aggregates, DISTINCT, FILTER, a call
    wrapped in another expression). The argument is taken as written; Spark checks it when the plan
    is built."""
    match = re.fullmatch(r"\s*([A-Za-z_]+)\s*\((.*)\)\s*", expr, flags=re.DOTALL)
    if match is None or match.group(1).lower() not in SALTABLE:
        return None
    argument = match.group(2).strip()
    depth = 0
    for char in argument:  # the call's closing parenthesis must be the last one: 'sum(a) + sum(b)' is refused
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            return None
    if depth != 0 or not argument or re.match(r"(?i)distinct\b", argument):
        return None
    if argument == "*" and match.group(1).lower() != "count":
        return None
    return match.group(1).lower(), argument


class RepartitionStep(_Model):
    """Spread rows over ``partitions`` Spark tasks for the steps after it: round-robin, or by the
    hash of ``by`` (rows of one key together), with ``salt`` a hot key's rows over up to ``salt``
    tasks. A stateful step after it shuffles by its own keys again: for a skewed aggregation use the
    window step's ``salt``, for a skewed Kafka partition the source's ``min_partitions``."""

    type: Literal["repartition"]
    partitions: int = Field(ge=1, le=100_000, description="Spark tasks after this step")
    by: list[str] = Field(default_factory=list, description="hash these columns; default round-robin")
    salt: int | None = Field(default=None, ge=2, le=1024, description="buckets each value of `by` is split into")

    @field_validator("salt")
    @classmethod
    def _salt_needs_by(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and not info.data.get("by"):
            raise ValueError(
                "salt splits the rows of each value of `by`; without by, rows are spread round-robin already"
            )
        return value


class DeduplicateStep(_Model):
    """Drop repeats of the same keys seen within the watermark (state is bounded by it)."""

    type: Literal["deduplicate"]
    keys: list[str] = Field(min_length=1)


class AnomalyStep(_Model):
    """Per-key anomaly detection on a numeric column: EWMA baseline and variance in Spark state,
    a reading flagged when |z| exceeds ``threshold`` after ``warmup`` readings of its key."""

    type: Literal["anomaly"]
    key: list[str] = Field(min_length=1, description="columns identifying the entity, e.g. [sensor_id]")
    value: str = Field(description="the numeric column to watch")
    alpha: float = Field(default=0.05, gt=0, le=1, description="EWMA weight of the newest reading")
    threshold: float = Field(default=4.0, gt=0, description="|z-score| above which a reading is anomalous")
    warmup: int = Field(default=30, ge=0, description="readings per key before any is flagged")
    state_ttl: Interval = Field(
        default="1 hour", description="event time after a key's last reading that its state is kept"
    )
    emit: Literal["anomalies", "all"] = "anomalies"

    _check = field_validator("state_ttl")(lambda cls, v: _interval(v))


class StreamSide(_Model):
    """The other side of a stream-stream join: a second topic with its own schema and watermark."""

    kind: Literal["stream"]
    topic: str
    schema_ddl: str = Field(alias="schema")
    required: list[str] = Field(default_factory=list)
    watermark: Interval = "1 minute"
    starting_offsets: Literal["earliest", "latest"] = "earliest"

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    _check = field_validator("watermark")(lambda cls, v: _interval(v))


class DeltaSide(_Model):
    """History or reference data in a Delta table; each micro-batch joins its latest version."""

    kind: Literal["delta"]
    path: str = Field(description="absolute (or a Hadoop URI), or relative to the data root's warehouse/")


class JdbcSide(_Model):
    """A reference table in a database, re-read every micro-batch, so a changed row is picked up
    without a restart. The default URL is the platform's PostgreSQL, read as the sinks' role.

    Another database never receives the platform's credentials: it is read as ``user`` with the
    password in the environment variable ``password_env`` (a spec is a file people share, so it
    never holds the password itself).
    """

    kind: Literal["jdbc"]
    table: str = Field(description="table name or a '(SELECT ...) AS t' subquery")
    url: str | None = Field(
        default=None, description="jdbc:postgresql://host:port/db; default: streamwise's PostgreSQL"
    )
    user: str | None = Field(default=None, description="login for a database other than the platform's")
    password_env: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="the environment variable holding user's password (for a database other than the platform's)",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_inline_password(cls, data: object) -> object:
        if isinstance(data, dict) and "password" in data:
            raise ValueError(
                "a jdbc join takes no inline password (a spec is shared and logged): put it in an "
                "environment variable and name it in password_env"
            )
        return data


class JoinStep(_Model):
    """Join each row with another stream (time-bounded), a Delta table or a database table.

    ``condition`` is Spark SQL over ``l`` (this pipeline's rows) and ``r`` (the other side; not ``on``, which YAML reads as true);
    the other side's columns come out renamed with ``prefix``.
    """

    type: Literal["join"]
    right: Annotated[StreamSide | DeltaSide | JdbcSide, Field(discriminator="kind")]
    condition: str = Field(
        description="e.g. l.user_id = r.user_id AND r.event_time BETWEEN l.event_time AND l.event_time + INTERVAL 10 MINUTES"
    )
    how: Literal["inner", "left", "left_outer", "right", "right_outer", "full_outer", "left_semi", "left_anti"] = (
        "inner"
    )
    prefix: str = Field(
        default="r_", pattern=r"^([a-z_][a-z0-9_]*)?$", description="may be empty when names do not clash"
    )
    columns: list[str] | None = Field(default=None, description="keep only these columns of the other side")


class ScoreStep(_Model):
    """Apply a Spark ML model trained on history (``streamwise train``): adds its positive-class
    probability as ``output``."""

    type: Literal["score"]
    model: str = Field(description="saved model folder; absolute, or relative to the state folder's models/")
    output: str = "score"


class TopNStep(_Model):
    """Keep the ``n`` best rows of each group (e.g. the trending items of each window): a ranking over
    every row of a group, so it runs per micro-batch, on rows a window step emitted complete."""

    type: Literal["top_n"]
    partition_by: list[str] = Field(default_factory=lambda: ["window_start", "window_end"])
    order_by: str = Field(description="Spark SQL ordering, e.g. 'views DESC, page'")
    n: int = Field(default=10, ge=1)
    rank_as: str = "rank"


Step = Annotated[
    FilterStep
    | SelectStep
    | WithColumnsStep
    | SqlStep
    | WindowStep
    | DeduplicateStep
    | AnomalyStep
    | JoinStep
    | ScoreStep
    | TopNStep
    | RepartitionStep,
    Field(discriminator="type"),
]
STEP_TYPES = (
    "filter",
    "select",
    "with_columns",
    "sql",
    "window",
    "deduplicate",
    "anomaly",
    "join",
    "score",
    "top_n",
    "repartition",
)
BATCH_STEPS = (TopNStep,)  # need all rows of a micro-batch at once: applied in foreachBatch


class LateRecords(_Model):
    """The late-data ledger: records behind the watermark are kept here (with how late they were),
    not silently dropped. Only pipelines with a stateful step (window, deduplicate) drop late data."""

    enabled: bool = True
    path: str | None = Field(default=None, description="Delta table; default <pipeline>/late_records")


REALTIME_STEPS = (FilterStep, SelectStep, WithColumnsStep)  # what Spark's real-time mode runs here


class PipelineSpec(_Model):
    """A whole pipeline: source, event time, steps in order, sinks, trigger."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="snake_case; names queries and checkpoints")
    description: str = ""
    source: KafkaSource
    event_time: EventTime = Field(default_factory=EventTime)
    steps: list[Step] = Field(default_factory=list)
    sinks: list[Sink] = Field(min_length=1)
    trigger: Interval = "1 second"  # seconds of latency on 2 cores; see SparkSettings for the measurements
    mode: Literal["microbatch", "realtime"] = Field(
        default="microbatch",
        description=(
            "realtime: Spark's real-time mode (each record processed as it arrives, ~0.1 s instead of ~1 s), "
            "for stateless steps (filter, select, with_columns) into one Kafka sink, written at least once; "
            "the trigger is then how often it checkpoints. run --once always runs micro-batches"
        ),
    )
    output_mode: Literal["append", "update", "complete"] = "append"
    late_records: LateRecords = Field(default_factory=LateRecords)

    _check = field_validator("trigger")(lambda cls, v: _interval(v))

    @model_validator(mode="after")
    def _realtime_fits(self) -> PipelineSpec:
        if self.mode != "realtime":
            return self
        for i, step in enumerate(self.steps):
            if not isinstance(step, REALTIME_STEPS):
                raise ValueError(
                    f"mode: realtime runs stateless steps only (filter, select, with_columns); "
                    f"steps[{i}] is {step.type}: use mode: microbatch"
                )
        if len(self.sinks) != 1 or self.sinks[0].type not in ("kafka", "kafka_alerts"):
            raise ValueError(
                f"mode: realtime writes one Kafka sink (kafka or kafka_alerts); this pipeline has "
                f"{', '.join(sink.type for sink in self.sinks)}: use mode: microbatch"
            )
        return self

    @model_validator(mode="after")
    def _salt_appends(self) -> PipelineSpec:
        salted = [i for i, step in enumerate(self.steps) if isinstance(step, WindowStep) and step.salt is not None]
        if salted and self.output_mode != "append":
            raise ValueError(
                f"steps[{salted[0]}].salt chains two streaming aggregations, which Spark runs in output_mode "
                f"append only (this pipeline has {self.output_mode}): remove salt or use append"
            )
        return self

    @model_validator(mode="after")
    def _batch_steps_last(self) -> PipelineSpec:
        kinds = [isinstance(step, BATCH_STEPS) for step in self.steps]
        if any(kinds) and kinds.index(True) < len(kinds) - sum(kinds):
            raise ValueError("top_n runs per micro-batch, so it must come after every streaming step")
        return self

    @property
    def streaming_steps(self) -> list[Step]:
        return [step for step in self.steps if not isinstance(step, BATCH_STEPS)]

    @property
    def batch_steps(self) -> list[Step]:
        return [step for step in self.steps if isinstance(step, BATCH_STEPS)]

    @property
    def drops_late_data(self) -> bool:
        """True when a step keeps state bounded by the watermark, so rows behind it are dropped."""
        stream_joins = [s for s in self.steps if isinstance(s, JoinStep) and isinstance(s.right, StreamSide)]
        return bool(stream_joins) or any(isinstance(s, WindowStep | DeduplicateStep | AnomalyStep) for s in self.steps)

    @property
    def late_records_path(self) -> str:
        return self.late_records.path or f"{self.name}/late_records"


def model_path(spec_path: str, state: Path) -> Location:
    """A model's folder: absolute or a Hadoop URI as given, else under ``STATE/models``. Spark reads a
    model's files on the executors as it loads it: on a cluster, give a URI or a shared mount's path."""
    if "://" in spec_path:
        return location(spec_path)
    path = Path(spec_path)
    return path if path.is_absolute() else state / "models" / path
