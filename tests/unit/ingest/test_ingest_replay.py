"""Replay of recorded files: Avro schemas inferred from Arrow types (and clear errors for columns
without a mapping), event times read from timestamps, text or epoch ms, and the send schedule."""

from __future__ import annotations

import datetime as dt
import decimal
import io
import json
from pathlib import Path

import fastavro
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from streamwise.ingest.avro import infer_schema
from streamwise.ingest.encoding import Encoder
from streamwise.ingest.exceptions import EventSchemaError, ReplayError
from streamwise.ingest.replay import FileReplay

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
T0_MS = int(T0.timestamp() * 1000)


def test_infer_schema_maps_arrow_types() -> None:
    """Invariant: each Arrow type gets its Avro counterpart; columns with nulls become unions with
    null first; the event-time column becomes a long timestamp-millis."""
    arrow = pa.schema(
        [
            ("flag", pa.bool_()),
            ("small", pa.int16()),
            ("n", pa.int64()),
            ("u", pa.uint32()),
            ("ratio", pa.float32()),
            ("x", pa.float64()),
            ("name", pa.string()),
            ("blob", pa.binary()),
            ("at", pa.timestamp("us", tz="UTC")),
            ("day", pa.date32()),
            ("cat", pa.dictionary(pa.int32(), pa.string())),
            ("when", pa.string()),
        ]
    )
    schema = infer_schema(arrow, name="my-file", event_time="when", nullable={"x"})
    types = {f["name"]: f["type"] for f in schema["fields"]}
    assert schema["name"] == "my_file" and schema["type"] == "record"
    assert types == {
        "flag": "boolean",
        "small": "int",
        "n": "long",
        "u": "long",
        "ratio": "float",
        "x": ["null", "double"],
        "name": "string",
        "blob": "bytes",
        "at": {"type": "long", "logicalType": "timestamp-micros"},
        "day": {"type": "int", "logicalType": "date"},
        "cat": "string",
        "when": {"type": "long", "logicalType": "timestamp-millis"},
    }


@pytest.mark.parametrize(
    ("arrow_type", "column", "message"),
    [
        (pa.list_(pa.int64()), "tags", "column 'tags' has type list<item: int64>, which has no Avro mapping"),
        (pa.struct([("a", pa.int64())]), "meta", "column 'meta' has type struct<a: int64>, which has no Avro mapping"),
        (pa.decimal128(10, 2), "price", "column 'price' has type decimal128\\(10, 2\\), which has no Avro mapping"),
        (pa.uint64(), "big", "column 'big' has type uint64, which has no Avro mapping"),
        (pa.string(), "user-id", "column 'user-id' is not a valid Avro field name"),
    ],
)
def test_infer_schema_names_the_column_it_cannot_map(arrow_type: pa.DataType, column: str, message: str) -> None:
    with pytest.raises(EventSchemaError, match=message):
        infer_schema(pa.schema([("ok", pa.int64()), (column, arrow_type)]), name="f")


def test_unmappable_column_in_a_file_is_named(tmp_path: Path) -> None:
    """Setup: a Parquet file with a list column. Invariant: the replay refuses it, naming the column."""
    path = tmp_path / "events.parquet"
    pq.write_table(pa.table({"id": [1, 2], "tags": [["a"], ["b", "c"]]}), path)
    with pytest.raises(EventSchemaError, match="column 'tags' has type list<element: string>") as err:
        FileReplay(path)
    assert "cast it" in (err.value.hint or "")


def sample_table(rows: int = 50) -> pa.Table:
    rng = np.random.default_rng(0)
    gaps = rng.integers(0, 2_000, rows)
    return pa.table(
        {
            "ts": pa.array(
                [T0 + dt.timedelta(milliseconds=int(m)) for m in np.cumsum(gaps)], pa.timestamp("ms", tz="UTC")
            ),
            "vendor": [f"v{i % 7}" for i in range(rows)],
            "fare": [None if i % 5 == 0 else round(float(x), 2) for i, x in enumerate(rng.uniform(1, 50, rows))],
            "note": [f'say "hi" {i}\n' for i in range(rows)],
        }
    )


def write(table: pa.Table, path: Path) -> Path:
    if path.suffix == ".parquet":
        pq.write_table(table, path)
    elif path.suffix == ".csv":
        import pyarrow.csv as csv

        csv.write_csv(table, path)
    else:
        rows = table.to_pylist()
        path.write_text("".join(json.dumps({**r, "ts": r["ts"].isoformat()}) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_replay_reads_each_format_into_the_same_events(tmp_path: Path, suffix: str) -> None:
    """Setup: one table written as CSV, Parquet and JSON lines, replayed with --event-time ts
    --key vendor. Invariant: the same rows come out, event times in epoch ms, keyed by vendor; the
    Avro and JSON encodings decode to those rows."""
    table = sample_table()
    replay = FileReplay(write(table, tmp_path / f"trips{suffix}"), event_time="ts", key="vendor", speedup=None)
    batch = replay.batch(1_000, 0)
    assert replay.exhausted and len(batch) == 50
    expected_ms = [int(t.timestamp() * 1000) for t in table.column("ts").to_pylist()]
    assert batch.event_time_ms.tolist() == expected_ms
    assert list(batch.keys) == [v.encode() for v in table.column("vendor").to_pylist()]
    rows = batch.data.to_pylist()
    assert [r["fare"] for r in rows] == table.column("fare").to_pylist()
    assert [r["note"] for r in rows] == table.column("note").to_pylist()
    parsed = fastavro.parse_schema(json.loads(json.dumps(replay.schema).replace("timestamp-millis", "x-plain")))
    for value, row in zip(Encoder(replay.schema, "avro").encode(batch.data), rows, strict=True):
        assert fastavro.schemaless_reader(io.BytesIO(value), parsed) == row
    for value, row in zip(Encoder(replay.schema, "json").encode(batch.data), rows, strict=True):
        assert json.loads(value) == row


def test_replay_schedule_keeps_gaps_scaled_and_never_goes_back(tmp_path: Path) -> None:
    """Setup: event times 0, 10, 4 (out of order), 30 s, replayed at speed 10.
    Invariant: rows are due at 0, 1, 1 and 3 s: gaps divided by 10, an earlier time sent at once."""
    times = [T0 + dt.timedelta(seconds=s) for s in (0, 10, 4, 30)]
    path = write(
        pa.table({"ts": pa.array(times, pa.timestamp("ms", tz="UTC")), "v": [1, 2, 3, 4]}), tmp_path / "t.parquet"
    )
    replay = FileReplay(path, event_time="ts", speedup=10)
    assert replay.schedule_s.tolist() == [0.0, 1.0, 1.0, 3.0]
    assert [replay.due(t) for t in (0, 0.99, 1.0, 2.9, 3.0)] == [1, 1, 3, 3, 4]
    assert replay.time_of(3) == 3.0
    assert FileReplay(path, event_time="ts").unlimited


def test_event_time_as_epoch_ms_or_text(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text(f"ms,text\n{T0_MS},2026-01-01T00:00:01Z\n{T0_MS + 5},2026-01-01T00:00:02Z\n")
    assert FileReplay(path, event_time="ms").batch(10, 0).event_time_ms.tolist() == [T0_MS, T0_MS + 5]
    assert FileReplay(path, event_time="text").batch(10, 0).event_time_ms.tolist() == [T0_MS + 1000, T0_MS + 2000]


def test_unusable_event_time_column_is_explained(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("when,v\nyesterday,1\n")
    with pytest.raises(ReplayError, match="--event-time when: cannot read its values as times"):
        FileReplay(path, event_time="when")
    path.write_text("when,v\n1.5,1\n")
    with pytest.raises(ReplayError, match="a double column cannot hold event times"):
        FileReplay(path, event_time="when")


def test_unknown_suffix_and_decimal_parquet(tmp_path: Path) -> None:
    with pytest.raises(ReplayError, match="unknown file type '.xlsx'"):
        FileReplay(tmp_path / "a.xlsx")
    path = tmp_path / "money.parquet"
    pq.write_table(pa.table({"amount": pa.array([decimal.Decimal("1.10")], pa.decimal128(5, 2))}), path)
    with pytest.raises(EventSchemaError, match="column 'amount' has type decimal128"):
        FileReplay(path)
