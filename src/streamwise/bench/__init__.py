"""Benchmarks, a family: each is registered by name, writes ``DIR/<name>.json`` and prints a table.

- ``ingest``: events/s per scenario into Kafka beside Kafka's own ProducerPerformance.
- ``delta``: many small micro-batches into a Delta sink, with and without compaction: files and read times.
- ``overhead``: the clickstream pipeline against the same query hand-written in PySpark and Spark's own
  Kafka read of the topic, in one run: wall seconds, events/s and ratios.
- ``hotkey``: one hot key's load per Kafka partition and per Spark task, plain, salted and split.
- ``peer``, ``process``, ``latency``, ``scaling``: the same pipeline beside a peer engine, events/s of
  ``run --once``, end-to-end latency per offered rate, and events/s by cores and partitions.
- ``cluster``: ``local[2]`` vs a 2-worker standalone cluster (events/s, tasks per executor), and a
  worker SIGKILLed mid-run that must leave exactly the same rows.

Owns the benchmarks and their report. May import every layer below it, including ``app`` (``latency``
drives the whole local platform as a user would); only ``cli`` imports it.
"""

from streamwise.bench.exceptions import BenchError
from streamwise.bench.registry import (
    BenchContext,
    Benchmark,
    BenchReport,
    Column,
    bench_settings,
    benchmarks,
    get,
    register,
    scratch_broker,
)

# The built-in benchmarks register themselves on import; importing them here, after the registry,
# makes every one available wherever the package is used.
from streamwise.bench import cluster, delta, hotkey, ingest, latency, overhead, peer, process, scaling  # noqa: F401  isort: skip

__all__ = [
    "BenchContext",
    "BenchError",
    "BenchReport",
    "Benchmark",
    "Column",
    "bench_settings",
    "benchmarks",
    "get",
    "register",
    "scratch_broker",
]
