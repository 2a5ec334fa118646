"""``bench peer``: the clickstream pipeline beside the same windowed count written with Quix Streams,
on the same topic and broker, in one run.

N clickstream events are produced once (as ``bench overhead`` produces them). Then:

- ``streamwise``: ``pipelines/clickstream.yaml`` on the topic, ``run --once``'s path (see
  :func:`streamwise.bench.overhead.run_streamwise`), timed from start to the end of its query,
  ``repeat`` times on fresh checkpoints (the median run counts: one run takes seconds, and the
  first after start-up still pays the JVM's compilation);
- ``quixstreams``: :mod:`streamwise.bench.quix_peer` in its own process and virtualenv (Quix
  Streams pinned below, installed once into the cache folder), timed from ``app.run()`` until its
  windowed stage has seen every record.

Both read the topic from the beginning, count views per page in 10 s tumbling event-time windows
with 5 s of lateness allowed, and emit each window once. Neither count includes its runtime's start
(the SparkSession, the Python imports), and streamwise runs once untimed on a small topic first, as
in ``bench overhead``: a running platform's JVM is warm. The ratio is streamwise's events/s over Quix's.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

from streamwise.bench.exceptions import BenchError
from streamwise.bench.overhead import WARMUP_EVENTS, clickstream_spec, produce_clickstream, run_streamwise, warm_up
from streamwise.bench.registry import BenchContext, BenchReport, Column, register

QUIX_VERSION = "3.28.1"
GOAL_RATIO = 5.0  # issue 11: at least 5x a single-process Python stream processor
QUIX_TIMEOUT_S = 1_800


# The report's table.
_COLUMNS = [
    Column("case", "case"),
    Column("seconds", "wall s", "{:.1f}"),
    Column("events_per_s", "events/s", "{:,.0f}"),
    Column("ratio", "× quixstreams", "{:.2f}"),
    Column("windows", "windows", "{:,}"),
    Column("views", "views", "{:,}"),
]


# What the figures mean, printed under the table.
_NOTES = [
    "windows and views differ by design: Spark keeps one watermark for the whole query, Quix keeps "
    "one stream time per partition of its repartition topic and drops a record more than the grace "
    "behind it, so records from a partition read later than the others are dropped there",
    "streamwise: SparkSession start excluded; Quix: Python start and imports excluded",
]


@register
class PeerBenchmark:
    """streamwise against Quix Streams on the same topic."""

    name: ClassVar[str] = "peer"
    description: ClassVar[str] = "the clickstream pipeline vs the same windowed count in Quix Streams"

    def run(self, context: BenchContext) -> BenchReport:
        options = context.options
        events = int(options.get("events", 1_000_000))
        partitions = int(options.get("partitions", 3))
        event_rate = float(options.get("event_rate", 2_000.0))  # event times paced as a live generator's
        # streamwise's runs (fresh checkpoints) take seconds each, Quix's one run a minute
        repeat = int(options.get("repeat", 3))
        on_step = options.get("on_step") or (lambda _msg: None)
        settings = context.settings
        topic, folder = context.scratch(self.name)
        try:
            on_step(f"Quix Streams {QUIX_VERSION}: its own virtualenv in the cache (first run only)")
            python = quix_python(settings.cache)
            on_step(f"producing {events:,} clickstream events into {topic} ({partitions} partitions)")
            records = produce_clickstream(settings, topic, events, partitions, event_rate)
            spark = context.spark("peer")
            on_step(f"warm-up: streamwise over {WARMUP_EVENTS:,} events, untimed (JVM class loading, JIT)")
            warm_up(spark, settings, f"{topic}.warmup", folder / "warmup")
            runs = []
            for i in range(repeat):
                on_step(f"streamwise ({i + 1}/{repeat}): pipelines/clickstream.yaml, as run --once")
                runs.append(run_streamwise(spark, settings, clickstream_spec(), topic, folder / f"streamwise_{i}"))
            ours = sorted(runs, key=lambda run: run.seconds)[len(runs) // 2]  # the median run
            table = spark.read.format("delta").load(str(ours.table))
            total = table.agg({"views": "sum"}).first()
            if total is None:  # a global aggregate has one row, even over an empty table
                raise BenchError(f"summing the views of {ours.table} returned no row")
            views = int(total[0] or 0)
            windows = table.count()
            on_step("quixstreams: the same count, one process")
            theirs = run_quix(python, settings.kafka.bootstrap, topic, records, folder / "quix")
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        ours_rate, theirs_rate = records / ours.seconds, records / theirs["seconds"]
        rows = [
            {
                "case": "streamwise",
                "seconds": ours.seconds,
                "events_per_s": ours_rate,
                "ratio": ours_rate / theirs_rate,
                "windows": windows,
                "views": views,
            },
            {
                "case": f"quixstreams {QUIX_VERSION}",
                "seconds": theirs["seconds"],
                "events_per_s": theirs_rate,
                "ratio": 1.0,
                "windows": theirs["windows"],
                "views": theirs["views"],
            },
        ]
        return BenchReport(
            name=self.name,
            rows=rows,
            columns=list(_COLUMNS),
            config={
                "events": records,
                "partitions": partitions,
                "event_rate": event_rate,
                "topic": topic,
                "quixstreams": QUIX_VERSION,
                "streamwise_seconds": [round(run.seconds, 2) for run in runs],
            },
            goals={
                "streamwise ÷ Quix Streams (events/s)": {
                    "target": GOAL_RATIO,
                    "value": ours_rate / theirs_rate,
                    "met": ours_rate / theirs_rate >= GOAL_RATIO,
                }
            },
            checks={
                "both saw every record": {
                    "passed": theirs["records"] >= records,
                    "detail": f"Quix's windowed stage saw {theirs['records']:,} of {records:,}",
                }
            },
            notes=list(_NOTES),
        )


def quix_python(cache: Path) -> Path:
    """The Python of a virtualenv holding only Quix Streams ``QUIX_VERSION`` (made once, in the cache)."""
    venv = cache / "peer" / f"quixstreams-{QUIX_VERSION}"
    python = venv / "bin" / "python"
    if not (venv / ".installed").is_file():
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        done = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", f"quixstreams=={QUIX_VERSION}"],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise BenchError(
                f"could not install quixstreams {QUIX_VERSION} into {venv}: {done.stderr.strip().splitlines()[-1:]}",
                hint="bench peer needs PyPI once; later runs reuse the virtualenv",
            )
        (venv / ".installed").write_text(QUIX_VERSION)
    return python


def run_quix(python: Path, bootstrap: str, topic: str, events: int, folder: Path) -> dict[str, Any]:
    """Run the Quix peer over ``topic`` until its windowed stage has seen ``events`` records."""
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "result.json"
    script = Path(__file__).with_name("quix_peer.py")
    done = subprocess.run(
        [str(python), str(script), bootstrap, topic, str(events), str(folder / "state"), str(out)],
        capture_output=True,
        text=True,
        timeout=QUIX_TIMEOUT_S,
    )
    if done.returncode != 0 or not out.is_file():
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise BenchError(f"the Quix Streams peer failed (exit {done.returncode}): {tail}")
    return json.loads(out.read_text())
