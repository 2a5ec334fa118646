"""The options of ``streamwise produce``, checked together and turned into a source, a pace and disorder.

The CLI only parses; every rule about which options go together lives here, so the Python API and
the command line refuse the same things with the same message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from streamwise.ingest.disorder import Disorder, RateProfile, Spike
from streamwise.ingest.encoding import Format
from streamwise.ingest.exceptions import IngestOptionError
from streamwise.ingest.replay import FileReplay, parse_speedup
from streamwise.ingest.run import Pace, Source
from streamwise.ingest.scenario import create, names, scenario_class

DEFAULT_RATE = 1000.0
# Scenarios send a few late events by default, so that watermarks have work; replays send the file as is.
DEFAULT_LATE_FRACTION = 0.01
DEFAULT_MAX_LATENESS_S = 15.0
_TOPIC = re.compile(r"[^a-zA-Z0-9._-]")


@dataclass(frozen=True)
class ProduceOptions:
    """What the user asked ``produce`` for (None: not given)."""

    scenario: str | None = None
    from_file: Path | None = None
    rate: float | None = None
    duration_s: float | None = None
    count: int | None = None
    topic: str | None = None
    partitions: int | None = None
    format: str = Format.JSON.value
    seed: int = 7
    late_fraction: float | None = None
    max_lateness_s: float | None = None
    out_of_order: float = 0.0
    duplicates: float = 0.0
    hot_key_share: float | None = None  # a scenario with one hot key (clickstream): its share of the events
    spikes: tuple[str, ...] = ()
    event_time: str | None = None
    key: str | None = None
    speedup: str | None = None


@dataclass(frozen=True)
class ProducePlan:
    """The checked options, ready for :func:`streamwise.ingest.run.produce`."""

    source: Source
    pace: Pace
    disorder: Disorder
    topic: str
    format: Format
    label: str  # what is produced, for messages: the scenario's name or the file's


def plan(options: ProduceOptions) -> ProducePlan:
    """Check ``options`` together; IngestOptionError (one clear sentence) for anything that does not fit."""
    o = options
    if o.scenario and o.from_file:
        raise IngestOptionError(f"give a scenario ({o.scenario}) or --from-file, not both")
    if not o.scenario and not o.from_file:
        raise IngestOptionError("name a scenario or give --from-file PATH", hint=f"scenarios: {', '.join(names())}")
    try:
        fmt = Format(o.format)
    except ValueError:
        raise IngestOptionError(f"--format {o.format!r} is not one of {', '.join(f.value for f in Format)}") from None
    for option, value in (("--count", o.count), ("--duration", o.duration_s), ("--rate", o.rate)):
        if value is not None and value < 0:
            raise IngestOptionError(f"{option} must be 0 or more (got {value:g})")
    max_lateness_ms = int(1000 * (o.max_lateness_s if o.max_lateness_s is not None else DEFAULT_MAX_LATENESS_S))
    source: Source
    if o.from_file is not None:
        source, pace, label = _replay(o)
        late_fraction = o.late_fraction or 0.0
    else:
        for option, given in (("--event-time", o.event_time), ("--key", o.key), ("--speedup", o.speedup)):
            if given is not None:
                raise IngestOptionError(
                    f"{option} applies to --from-file only; a scenario has its own event time and key"
                )
        assert o.scenario is not None
        source = _scenario(o)
        pace = RateProfile(DEFAULT_RATE if o.rate is None else o.rate, tuple(Spike.parse(s) for s in o.spikes))
        label = o.scenario
        late_fraction = DEFAULT_LATE_FRACTION if o.late_fraction is None else o.late_fraction
    disorder = Disorder(late_fraction, max_lateness_ms, o.out_of_order, o.duplicates, seed=o.seed)
    topic = o.topic or _TOPIC.sub("_", o.from_file.stem if o.from_file is not None else label)
    return ProducePlan(source, pace, disorder, topic, fmt, label)


def _scenario(o: ProduceOptions) -> Source:
    """The scenario's generator, with its hot key when one is asked for and the scenario has one."""
    assert o.scenario is not None
    if o.hot_key_share is None:
        return create(o.scenario, seed=o.seed)
    shape = getattr(scenario_class(o.scenario), "shape_type", None)
    if shape is None or "hot_key_share" not in getattr(shape, "__dataclass_fields__", {}):
        raise IngestOptionError(f"--hot-key-share applies to the clickstream scenario, not {o.scenario}")
    if not 0.0 <= o.hot_key_share <= 1.0:
        raise IngestOptionError(f"--hot-key-share is a share of the events, from 0 to 1 (got {o.hot_key_share:g})")
    return create(o.scenario, seed=o.seed, hot_key_share=o.hot_key_share)


def _replay(o: ProduceOptions) -> tuple[FileReplay, Pace, str]:
    assert o.from_file is not None
    if o.rate is not None:
        raise IngestOptionError(
            "--rate does not apply to --from-file: the file's event times set the pace",
            hint="use --speedup X (or --speedup max)",
        )
    if o.spikes:
        raise IngestOptionError("--spike does not apply to --from-file: the file's event times set the pace")
    if o.hot_key_share is not None:
        raise IngestOptionError("--hot-key-share applies to a scenario: a replayed file's keys are its own")
    if o.event_time is None and (o.late_fraction or o.max_lateness_s is not None):
        raise IngestOptionError(
            "--late-fraction and --max-lateness need --event-time COLUMN with --from-file",
            hint="lateness moves event times back; name the column that holds them",
        )
    speedup = parse_speedup(o.speedup) if o.speedup is not None else (1.0 if o.event_time else None)
    replay = FileReplay(o.from_file, event_time=o.event_time, key=o.key, speedup=speedup)
    return replay, replay, o.from_file.name
