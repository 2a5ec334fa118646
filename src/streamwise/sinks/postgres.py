"""PostgreSQL sink: upsert by key plus a ``(query, batch_id)`` marker row, in one transaction.

Why the driver and COPY rather than Spark's JDBC writer: JDBC writes each partition in its own
connection and transaction, so the marker cannot commit atomically with the rows, and it has no
``ON CONFLICT``. Batches here are small to medium; one COPY into a temporary table and one
``INSERT ... SELECT ... ON CONFLICT DO UPDATE`` keep the whole batch a single transaction: it
commits with its marker or not at all, and a replayed batch finds its marker and writes nothing.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from streamwise.config import PostgresSettings
from streamwise.sinks._batch import Batch, RowSinkWriter, to_json
from streamwise.sinks.config import PostgresSink
from streamwise.sinks.exceptions import SinkDataError

if TYPE_CHECKING:
    from pyspark.sql.types import DataType, StructType

log = logging.getLogger(__name__)


class PostgresWriter(RowSinkWriter):
    """Writes micro-batches of one query into ``sink.table``."""

    sink_type = "postgres"
    # Connection loss, shutdown, serialization failures and deadlocks are all OperationalError.
    retriable = (psycopg.OperationalError,)

    def __init__(self, sink: PostgresSink, pg: PostgresSettings, query: str) -> None:
        super().__init__(query, sink.retry)
        self.sink = sink
        self.pg = pg
        self._prepared = False

    def write(self, batch: Batch) -> bool:
        try:
            return self._write(batch)
        except psycopg.errors.CardinalityViolation:
            raise SinkDataError(
                f"postgres sink {self.sink.table}: batch {batch.batch_id} holds two rows for one key {self.sink.key}",
                hint="set order_by on the sink so the latest row wins, or de-duplicate in a step",
            ) from None
        except psycopg.Error as exc:
            if isinstance(exc, self.retriable):
                raise
            raise SinkDataError(
                f"postgres sink {self.sink.table}: {str(exc).strip()}",
                hint="the table does not fit the batch; fix the table or the steps",
            ) from exc

    def _write(self, batch: Batch) -> bool:
        with psycopg.connect(**self.pg.conninfo()) as conn:
            if not self._prepared:
                self._prepare(conn, batch.schema)
            marker = _ident(self.sink.marker_table)
            fresh = conn.execute(
                sql.SQL(
                    "INSERT INTO {} (query, batch_id, rows) VALUES (%s, %s, %s) "
                    "ON CONFLICT (query, batch_id) DO NOTHING RETURNING 1"
                ).format(marker),
                (batch.query, batch.batch_id, len(batch.rows)),
            ).fetchone()
            if fresh is None:  # the marker row exists: this batch committed before
                conn.rollback()
                return False
            if batch.rows:
                self._upsert(conn, batch)
        return True  # leaving the block commits rows and marker together

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

    def _upsert(self, conn: psycopg.Connection, batch: Batch) -> None:
        sink = self.sink
        missing = [c for c in (*sink.key, *([sink.order_by] if sink.order_by else [])) if c not in batch.columns]
        if missing:
            raise SinkDataError(
                f"postgres sink {sink.table}: the batch has no column {missing} (it has {batch.columns})"
            )
        cols = [sql.Identifier(c) for c in batch.columns]
        col_list = sql.SQL(", ").join(cols)
        json_cols = {c for c in batch.columns if _is_nested(batch.schema, c)}
        conn.execute(
            sql.SQL("CREATE TEMP TABLE _sw_batch ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA").format(
                col_list, _ident(sink.table)
            )
        )
        with conn.cursor().copy(sql.SQL("COPY _sw_batch ({}) FROM STDIN").format(col_list)) as copy:
            for row in batch.rows:
                copy.write_row([_pg_value(row[c], c in json_cols) for c in batch.columns])
        conn.execute(upsert_sql(sink, batch.columns))


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
