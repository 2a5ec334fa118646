"""``bench ingest`` beside ProducerPerformance: the payload file the perf tool sends from, reading its
final summary, and refusing a run in which it sent fewer records than asked."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamwise.bench.exceptions import BenchError
from streamwise.bench.ingest import record_size, sample_values
from streamwise.bench.perf import PerfResult, check_records_sent, mean_record_bytes, parse_summary, write_payload_file
from streamwise.ingest.formats import Format

# Kafka 4.1's output with --payload-file: what it read, a line per 5 s window (same start as the
# summary, but counting only that window), then the final summary with percentiles.
OUTPUT = """\
Reading payloads from: /tmp/state/bench/ingest-1-2/clickstream.json.payloads
Number of messages read: 16384
1406086 records sent, 281217.2 records/sec (27.08 MB/sec), 29.6 ms avg latency, 243.0 ms max latency.
1000000 records sent, 290697.7 records/sec (28.02 MB/sec), 27.71 ms avg latency, 243.00 ms max latency, 21 ms 50th, 64 ms 95th, 96 ms 99th, 191 ms 99.9th.
"""


def test_payload_file_holds_the_encoded_sample_one_per_line(tmp_path: Path) -> None:
    """Setup: the clickstream JSON sample written as a payload file (into a folder not yet made).
    Invariants: split on newlines as the perf tool splits it, the file gives back exactly the
    sample's values, in order; the reported count and mean size are the sample's, equal to
    record_size()."""
    values = sample_values("clickstream", Format.JSON)
    payload = write_payload_file(tmp_path / "bench" / "clickstream.json.payloads", values)
    read_back = payload.path.read_bytes().decode("utf-8").split("\n")
    assert read_back[-1] == "" and [v.encode() for v in read_back[:-1]] == values
    assert payload.records == len(values) >= 10_000
    assert payload.mean_bytes == record_size("clickstream", Format.JSON) == round(sum(map(len, values)) / len(values))


def test_the_sample_is_spread_evenly_over_the_run() -> None:
    """Setup: the sample for a 50,000-event clickstream run (every 3rd event; 16,384 per chunk is not
    a multiple of 3) beside all 50,000 encoded in the producer's chunks.
    Invariants: the sample is exactly events 0, 3, 6, ... of the run; its mean size is the run's to
    within half a byte, where the run's first 16,384 events alone are smaller (ids grow)."""
    from streamwise.ingest.encoding import Encoder
    from streamwise.ingest.run import CHUNK
    from streamwise.ingest.scenario import create

    source = create("clickstream", seed=7)
    encoder = Encoder(source.schema, Format.JSON)
    run = [
        v
        for start in range(0, 50_000, CHUNK)
        for v in encoder.encode(source.batch(min(CHUNK, 50_000 - start), 1_800_000_000_000).data)
    ]
    sample = sample_values("clickstream", Format.JSON, 50_000)
    assert sample == run[::3] and len(sample) == 16_667
    assert abs(sum(map(len, sample)) / len(sample) - sum(map(len, run)) / len(run)) < 0.5
    assert record_size("clickstream", Format.JSON) < record_size("clickstream", Format.JSON, 50_000)


@pytest.mark.parametrize(
    ("values", "why"),
    [
        ([b'{"a":1}', b'{"a":\n2}'], "newline"),  # the tool would read two payloads from the second
        ([b'{"a":1}', b""], "empty"),
        ([b'{"a":1}', b"\x02\xff\x80"], "UTF-8"),  # the tool would read U+FFFD, 3 bytes each, for these
    ],
)
def test_payload_file_refuses_values_the_perf_tool_would_alter(tmp_path: Path, values: list[bytes], why: str) -> None:
    """Setup: values with a newline, an empty one, and binary bytes that are not UTF-8.
    Invariant: BenchError naming the problem, with a hint; no file is left behind."""
    path = tmp_path / "bad.payloads"
    with pytest.raises(BenchError, match=why) as raised:
        write_payload_file(path, values)
    assert raised.value.hint and not path.exists()


def test_avro_samples_cannot_be_a_payload_file(tmp_path: Path) -> None:
    """Setup: the clickstream sample in Avro binary. Invariant: refused (a string of length 5 is
    written as the byte 0x0a, a newline; other bytes are not UTF-8), which is why the benchmark
    gives the perf tool --record-size for Avro."""
    with pytest.raises(BenchError, match="newline|UTF-8"):
        write_payload_file(tmp_path / "avro.payloads", sample_values("clickstream", Format.AVRO))


def test_mean_record_bytes_rounds_to_a_whole_positive_byte() -> None:
    """Invariant: the mean size rounded; never 0 (--record-size must be positive); no values is an error."""
    assert mean_record_bytes([b"ab", b"abcd", b"abcdef"]) == 4
    assert mean_record_bytes([b"a", b"ab"]) == 2  # 1.5 rounds to even
    assert mean_record_bytes([b"", b""]) == 1
    with pytest.raises(BenchError):
        mean_record_bytes([])


def test_parse_summary_reads_the_final_line_not_a_window_line() -> None:
    """Setup: output with a 5 s window line counting more records than the whole run's summary.
    Invariant: the summary's figures; bytes/record from its own MB/s (2^20 bytes) over records/s."""
    result = parse_summary(OUTPUT)
    assert result == PerfResult(
        records=1_000_000, records_per_s=290697.7, mb_per_s=28.02, avg_latency_ms=27.71, max_latency_ms=243.0
    )
    assert result.bytes_per_record == pytest.approx(101.07, abs=0.01)


def test_parse_summary_without_a_final_line_is_none() -> None:
    """Setup: a run that printed a window line and died. Invariant: None (the caller reports the failure)."""
    window_only = "\n".join(OUTPUT.splitlines()[:3])
    assert parse_summary(window_only) is None
    assert parse_summary("") is None


def test_check_records_sent_passes_the_exact_count_and_refuses_any_other() -> None:
    """Setup: a summary of 1,000,000 records sent. Invariants: asked for 1,000,000, no error; asked
    for more (some sends failed; the tool still exits 0), BenchError with both counts, the output's
    last lines and a hint."""
    result = parse_summary(OUTPUT)
    assert result is not None
    check_records_sent(result, 1_000_000, OUTPUT)
    with pytest.raises(BenchError, match=r"sent 1,000,000 of the 1,000,500 records") as raised:
        check_records_sent(
            result, 1_000_500, OUTPUT + "org.apache.kafka.common.errors.TimeoutException: Expiring 500 record(s)"
        )
    assert "TimeoutException" in raised.value.message and raised.value.hint
