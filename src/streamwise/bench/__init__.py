"""Benchmarks, a family: each is registered by name, writes ``DIR/<name>.json`` and prints a table.

- ``ingest``: events/s per scenario into Kafka beside Kafka's own ProducerPerformance.
- ``delta``: many small micro-batches into a Delta sink, with and without compaction: files and read times.
- ``overhead``: the clickstream pipeline against the same query hand-written in PySpark and Spark's own
  Kafka read of the topic, in one run: wall seconds, events/s and ratios.
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
