"""PostgreSQL sink: upsert by key plus a ``(query, batch_id)`` marker row, in one transaction.

Why the driver and COPY rather than Spark's JDBC writer: JDBC writes each partition in its own
connection and transaction, so the marker cannot commit atomically with the rows, and it has no
``ON CONFLICT``. The rows stream from Spark in chunks; each chunk is COPYed into a temporary table
and upserted with ``INSERT ... SELECT ... ON CONFLICT DO UPDATE``, all in the batch's one
transaction: it commits with its marker or not at all, and a replayed batch finds its marker and
writes nothing.

A row PostgreSQL cannot take goes to the sink's dead-letter topic instead of failing the batch on
every replay: the known cases (a null key, a NUL byte in text) are found before writing
(:func:`row_error`); any other value the table refuses (a number out of range, a CHECK or NOT NULL
constraint) is found by writing the chunk under a savepoint and, when PostgreSQL refuses it, its
halves, down to the rows it refuses. The dead letters commit before the rows (see
:mod:`streamwise.sinks.dead_letters` for why that order).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from streamwise.config import KafkaSettings, PostgresSettings
from streamwise.sinks._batch import Batch, RowSinkWriter, chunked, to_json
from streamwise.sinks.config import PostgresSink
from streamwise.sinks.dead_letters import KAFKA_ERRORS, DeadLetters, DeadLetterTopic
from streamwise.sinks.exceptions import SinkDataError

if TYPE_CHECKING:
    from pyspark.sql.types import DataType, StructType

log = logging.getLogger(__name__)

CHUNK_ROWS = 5_000  # rows held on the driver and COPYed at once
# What PostgreSQL says about a value or a row it will not store; other errors are the table's or the server's.
_ROW_REFUSED = (psycopg.DataError, psycopg.IntegrityError)


class PostgresWriter(RowSinkWriter):
    """Writes micro-batches of one query into ``sink.table``; rows it refuses to ``<name>.dlq``."""

    sink_type = "postgres"
    # Connection loss, shutdown, serialization failures and deadlocks are all OperationalError; the
    # dead-letter topic's broker being slow or away is retried the same way.
    retriable = (psycopg.OperationalError, *KAFKA_ERRORS)
    chunk_rows = CHUNK_ROWS

    def __init__(self, sink: PostgresSink, pg: PostgresSettings, query: str, kafka: KafkaSettings) -> None:
        super().__init__(query, sink.retry)
        self.sink = sink
        self.pg = pg
        self.dead_letters = DeadLetterTopic(kafka, query, sink.dead_letter_topic(query), f"postgres {sink.table}")
        self._prepared = False

    def write(self, batch: Batch) -> bool:
        try:
            return self._write(batch)
        except psycopg.errors.CardinalityViolation:
            raise SinkDataError(self._repeated_key(batch), hint=_REPEATED_KEY_HINT) from None
        except psycopg.Error as exc:
            if isinstance(exc, self.retriable):
                raise
            raise SinkDataError(
                f"postgres sink {self.sink.table}: {str(exc).strip()}",
                hint="the table does not fit the batch; fix the table or the steps",
            ) from exc

    def _write(self, batch: Batch) -> bool:
        self._check_columns(batch)
        with psycopg.connect(**self.pg.conninfo()) as conn:
            if not self._prepared:
                self._prepare(conn, batch.schema)
            marker = _ident(self.sink.marker_table)
            fresh = conn.execute(
                sql.SQL(
                    "INSERT INTO {} (query, batch_id, rows) VALUES (%s, %s, 0) "
                    "ON CONFLICT (query, batch_id) DO NOTHING RETURNING 1"
                ).format(marker),
                (batch.query, batch.batch_id),
            ).fetchone()
            if fresh is None:  # the marker row exists: this batch committed before
                conn.rollback()
                return False
            with self.dead_letters.batch(batch.batch_id) as dead:
                written = self._upsert(conn, batch, dead)
            # The dead letters are committed (the block above); the rows and the marker commit when
            # the connection's block ends. ``rows`` counts the rows written, dead letters left out.
            conn.execute(
                sql.SQL("UPDATE {} SET rows = %s WHERE query = %s AND batch_id = %s").format(marker),
                (written, batch.query, batch.batch_id),
            )
        return True

    def _prepare(self, conn: psycopg.Connection, schema: StructType | None) -> None:
        """Create the marker table (and the target table, from the batch's schema) when missing."""
        marker = _ident(self.sink.marker_table)
        statements = [
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (query text NOT NULL, batch_id bigint NOT NULL, "
                "rows integer NOT NULL, committed_at timestamptz NOT NULL DEFAULT now(), "
                "PRIMARY KEY (query, batch_id))"
            ).format(marker),
        ]
        if self.sink.create_table and schema is not None:
            statements.append(create_table_sql(self.sink, schema))
        for statement in statements:
            try:
                conn.execute(statement)
                conn.commit()
            except psycopg.errors.UniqueViolation:
                conn.rollback()  # another writer created it at the same moment: fine
        self._prepared = True

    def _check_columns(self, batch: Batch) -> None:
        sink = self.sink
        missing = [c for c in (*sink.key, *([sink.order_by] if sink.order_by else [])) if c not in batch.columns]
        if missing:
            raise SinkDataError(
                f"postgres sink {sink.table}: the batch has no column {missing} (it has {batch.columns})",
                hint="select them in a step before the sink, or fix the sink's key and order_by",
            )

    def _upsert(self, conn: psycopg.Connection, batch: Batch, dead: DeadLetters) -> int:
        """Upsert the batch's good rows chunk by chunk; the others to ``dead``. Returns the rows written."""
        sink = self.sink
        cols = sql.SQL(", ").join(sql.Identifier(c) for c in batch.columns)
        keys = sql.SQL(", ").join(sql.Identifier(k) for k in sink.key)
        conn.execute(
            sql.SQL("CREATE TEMP TABLE _sw_batch ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA").format(
                cols, _ident(sink.table)
            )
        )
        if sink.order_by is None:
            # Chunks are upserted one by one, so one statement no longer sees every row of the batch:
            # the keys written so far catch a key repeated in two chunks, as ON CONFLICT does in one.
            conn.execute(
                sql.SQL("CREATE TEMP TABLE _sw_keys ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA").format(
                    keys, _ident(sink.table)
                )
            )
            conn.execute(sql.SQL("ALTER TABLE _sw_keys ADD PRIMARY KEY ({})").format(keys))
        chunk_sql = _ChunkSql(
            copy=sql.SQL("COPY _sw_batch ({}) FROM STDIN").format(cols),
            upsert=upsert_sql(sink, batch.columns),
            keys=sql.SQL("INSERT INTO _sw_keys SELECT {} FROM _sw_batch").format(keys)
            if sink.order_by is None
            else None,
            json_cols={c for c in batch.columns if _is_nested(batch.schema, c)},
        )
        written = 0
        for chunk in chunked(batch.rows, self.chunk_rows):
            good = []
            for row in chunk:
                reason = row_error(sink, row)
                if reason is None:
                    good.append(row)
                else:
                    dead.add(row, reason)
            written += self._write_rows(conn, batch, good, chunk_sql, dead)
        return written

    def _write_rows(
        self, conn: psycopg.Connection, batch: Batch, rows: list[dict[str, Any]], q: _ChunkSql, dead: DeadLetters
    ) -> int:
        """Upsert ``rows`` under a savepoint; if PostgreSQL refuses a value, undo and try each half,
        down to single rows, which go to ``dead``. Returns the rows written."""
        pending = [rows]
        written = 0
        while pending:
            part = pending.pop()
            if not part:
                continue
            try:
                with conn.transaction():  # a savepoint: a refusal undoes this part alone
                    conn.execute("TRUNCATE _sw_batch")
                    with conn.cursor().copy(q.copy) as copy:
                        for row in part:
                            copy.write_row([_pg_value(row[c], c in q.json_cols) for c in batch.columns])
                    conn.execute(q.upsert)
            except _ROW_REFUSED as exc:
                if len(part) == 1:
                    dead.add(part[0], refused_reason(self.sink, exc))
                else:
                    mid = len(part) // 2
                    pending += [part[mid:], part[:mid]]  # the first half next: dead letters in batch order
                continue
            if q.keys is not None:
                try:
                    conn.execute(q.keys)
                except psycopg.errors.UniqueViolation:
                    raise SinkDataError(self._repeated_key(batch), hint=_REPEATED_KEY_HINT) from None
            written += len(part)
        return written

    def _repeated_key(self, batch: Batch) -> str:
        return f"postgres sink {self.sink.table}: batch {batch.batch_id} holds two rows for one key {self.sink.key}"


_REPEATED_KEY_HINT = "set order_by on the sink so the latest row wins, or de-duplicate in a step"


class _ChunkSql:
    """The statements that write one chunk, composed once per batch."""

    def __init__(
        self, copy: sql.Composed, upsert: sql.Composed, keys: sql.Composed | None, json_cols: set[str]
    ) -> None:
        self.copy, self.upsert, self.keys, self.json_cols = copy, upsert, keys, json_cols


def row_error(sink: PostgresSink, row: dict[str, Any]) -> str | None:
    """Why PostgreSQL cannot store ``row`` as it stands, or None: a null key column, or a NUL byte in
    a string (text and jsonb cannot hold one, and PostgreSQL would refuse the whole COPY)."""
    where = f"postgres sink {sink.table}"
    for column in sink.key:
        if row.get(column) is None:
            return f"{where}: key column {column} is null"
    for column, value in row.items():
        if isinstance(value, str):
            if "\x00" in value:
                return f"{where}: text column {column} holds a NUL byte (PostgreSQL text cannot store \\x00)"
        elif isinstance(value, dict | list) and any("\x00" in s for s in _strings(value)):
            return f"{where}: column {column} holds a NUL byte in a string (PostgreSQL jsonb cannot store \\u0000)"
    return None


def refused_reason(sink: PostgresSink, exc: psycopg.Error) -> str:
    """The reason for a row PostgreSQL refused, naming the column or constraint when it says which."""
    diag = exc.diag
    message = diag.message_primary or str(exc).strip().splitlines()[0]
    column = diag.column_name or _copy_column(diag.context)
    details = [f"column {column}"] if column else []
    if diag.constraint_name:
        details.append(f"constraint {diag.constraint_name}")
    suffix = f" ({', '.join(details)})" if details else ""
    return f"postgres sink {sink.table}: PostgreSQL refused the row: {message}{suffix}"


def _copy_column(context: str | None) -> str | None:
    # A value refused during COPY: the context reads 'COPY _sw_batch, line 1, column n: "…"'.
    match = re.search(r"COPY \w+, line \d+, column (\w+)", context or "")
    return match.group(1) if match else None


def _strings(value: Any) -> Iterator[str]:
    """Every string in a nested value, keys of maps included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def upsert_sql(sink: PostgresSink, columns: list[str]) -> sql.Composed:
    """INSERT the temp table's rows (one per key: the highest ``order_by``) with ON CONFLICT DO UPDATE.

    With ``order_by``, a stored row is replaced only by one at least as recent, so an older batch
    replayed late cannot move a key back in time.
    """
    keys = sql.SQL(", ").join(sql.Identifier(k) for k in sink.key)
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    order = (
        sql.SQL(" ORDER BY {}, {} DESC NULLS LAST").format(keys, sql.Identifier(sink.order_by))
        if sink.order_by
        else sql.SQL("")
    )
    distinct = sql.SQL("DISTINCT ON ({}) ").format(keys) if sink.order_by else sql.SQL("")
    others = [c for c in columns if c not in sink.key]
    action: sql.Composable
    if others:
        action = sql.SQL("DO UPDATE SET {}").format(
            sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in others)
        )
        if sink.order_by:
            action += sql.SQL(" WHERE _sw_target.{0} IS NULL OR _sw_target.{0} <= EXCLUDED.{0}").format(
                sql.Identifier(sink.order_by)
            )
    else:
        action = sql.SQL("DO NOTHING")
    return sql.SQL(
        "INSERT INTO {table} AS _sw_target ({cols}) SELECT {distinct}{cols} FROM _sw_batch{order} ON CONFLICT ({keys}) {action}"
    ).format(table=_ident(sink.table), cols=cols, distinct=distinct, order=order, keys=keys, action=action)


def create_table_sql(sink: PostgresSink, schema: StructType) -> sql.Composed:
    """CREATE TABLE IF NOT EXISTS with one column per batch column and the key as primary key."""
    columns = [sql.SQL("{} {}").format(sql.Identifier(f.name), sql.SQL(pg_type(f.dataType))) for f in schema.fields]
    missing = [k for k in sink.key if k not in schema.fieldNames()]
    if missing:
        raise SinkDataError(
            f"postgres sink {sink.table}: key column(s) {missing} are not in the batch ({schema.fieldNames()})",
            hint="select them in a step before the sink, or fix the sink's key",
        )
    pk = sql.SQL("PRIMARY KEY ({})").format(sql.SQL(", ").join(sql.Identifier(k) for k in sink.key))
    return sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(_ident(sink.table), sql.SQL(", ").join([*columns, pk]))


def pg_type(dtype: DataType) -> str:
    """The PostgreSQL column type for a Spark type; nested types become jsonb."""
    from pyspark.sql import types as T  # sinks config is read without Spark (specs, verify)

    simple: dict[type, str] = {
        T.StringType: "text",
        T.LongType: "bigint",
        T.IntegerType: "integer",
        T.ShortType: "smallint",
        T.ByteType: "smallint",
        T.DoubleType: "double precision",
        T.FloatType: "real",
        T.BooleanType: "boolean",
        T.TimestampType: "timestamptz",
        T.TimestampNTZType: "timestamp",
        T.DateType: "date",
        T.BinaryType: "bytea",
    }
    if isinstance(dtype, T.DecimalType):
        return f"numeric({dtype.precision},{dtype.scale})"
    if isinstance(dtype, T.StructType | T.ArrayType | T.MapType):
        return "jsonb"
    for spark_type, name in simple.items():
        if isinstance(dtype, spark_type):
            return name
    raise SinkDataError(
        f"no PostgreSQL type for Spark type {dtype.simpleString()}", hint="cast the column in a step before the sink"
    )


def _is_nested(schema: StructType | None, column: str) -> bool:
    return schema is not None and pg_type(schema[column].dataType) == "jsonb"


def _pg_value(value: Any, nested: bool) -> Any:
    return Jsonb(value, dumps=to_json) if nested and value is not None else value


def _ident(name: str) -> sql.Identifier:
    return sql.Identifier(*name.split("."))
