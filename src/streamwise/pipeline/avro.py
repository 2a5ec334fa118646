"""Decode Confluent-framed Avro in Spark, in the JVM: every writer version into the latest shape.

The 5-byte header is split with column expressions; each writer schema id of the subject gets its
own ``from_avro(body, writerSchema, {"mode": "PERMISSIVE", "avroSchema": readerSchema})`` and the
branches are chosen per row by id, so v1 and v2 records interleaved on one topic come out as one
table in the reader (latest) shape, v1 rows with v2's defaults. No Python UDF runs per record.

The output has the shape of :func:`streamwise.pipeline.decode.parse_json`, so ``decode.valid`` and
``decode.dead_letters`` apply unchanged: a record that cannot be decoded keeps its bytes and gets a
``dead_letter_reason`` instead of failing the query.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pyspark.sql import functions as F
from pyspark.sql.avro.functions import from_avro
from pyspark.sql.types import LongType, StructType, TimestampNTZType, TimestampType

from streamwise.pipeline.decode import KAFKA_COLUMNS, kafka_record, key_reason, millis_to_timestamp, value_reason
from streamwise.schemas.avro import parse_avro
from streamwise.schemas.client import RegistryClient
from streamwise.schemas.exceptions import RegistryError, SchemaError

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

DECODED = "__streamwise_decoded"


@dataclass(frozen=True)
class SubjectSchemas:
    """What decoding a subject needs: every writer schema by id, and the reader (latest) schema."""

    subject: str
    reader: str
    writers: Mapping[int, str]

    @classmethod
    def from_registry(cls, registry: RegistryClient | str, subject: str) -> SubjectSchemas:
        """Fetch them from a registry; soft-deleted versions are kept as writers, since records
        written with them may still be on the topic."""
        if isinstance(registry, str):
            with RegistryClient(registry) as client:
                return cls.from_registry(client, subject)
        client = registry
        try:
            numbers = client.versions(subject, deleted=True)
        except RegistryError as exc:
            if exc.code != 40401:
                raise
            raise SchemaError(
                f"subject {subject} has no schema in the registry at {client.url}, so its records cannot be decoded",
                hint=f"produce with --format avro (it registers the schema), or `streamwise schema register FILE --subject {subject}`",
            ) from None
        writers = {}
        for number in numbers:
            entry = client.version(subject, number, deleted=True)
            if entry.schema_type != "AVRO":
                raise SchemaError(f"{subject} version {number} is {entry.schema_type}; Spark decoding reads Avro")
            writers[entry.id] = entry.schema
        return cls(subject, client.version(subject, "latest").schema, writers)


def decode_avro(
    raw: DataFrame,
    schemas: SubjectSchemas,
    *,
    required: Sequence[str] = (),
    time_field: str = "event_time",
    require_key: bool = False,
) -> DataFrame:
    """Decode a Kafka source's ``value`` column (Confluent wire format, Avro) with ``schemas``.

    Columns: key, value, topic, partition, offset, kafka_timestamp, the reader record's fields,
    event_time (from ``time_field``: epoch millis or an Avro timestamp; the Kafka timestamp when the
    schema has no such field) and dead_letter_reason (null for a good record). ``required`` fields
    that decode to null make a record a dead letter too, and so does a missing key with ``require_key``.

    Writer schemas registered after the query started are unknown to it: their records go to the
    dead letters as "unknown schema id N"; restart the query to pick them up.
    """
    fields = [f["name"] for f in parse_avro(schemas.reader).record_fields]
    if not fields:
        raise SchemaError(f"the latest schema of {schemas.subject} is not an Avro record; Spark decoding needs one")
    if not schemas.writers:
        raise SchemaError(f"{schemas.subject} has no schema versions to decode with")
    value = F.col("kafka_value")
    schema_id = F.conv(F.hex(F.substring(value, 2, 4)), 16, 10).cast("long")
    body = F.expr("substring(kafka_value, 6)")  # everything after the 5-byte header
    options = {"mode": "PERMISSIVE", "avroSchema": _flagged(schemas.reader)}
    # One CASE WHEN branch per writer id: only the matching branch decodes a row.
    branches = [(schema_id == wid, from_avro(body, writer, options)) for wid, writer in sorted(schemas.writers.items())]
    decoded = F.when(*branches[0])
    for condition, branch in branches[1:]:
        decoded = decoded.when(condition, branch)
    header_ok = (F.length(value) >= 5) & (F.hex(F.substring(value, 1, 1)) == "00")
    framed = kafka_record(raw).select(
        *KAFKA_COLUMNS,
        schema_id.alias("_schema_id"),
        F.when(header_ok, decoded).alias("v"),
    )
    record = framed.schema["v"].dataType
    if not isinstance(record, StructType):  # from_avro of a record schema (checked above) is a struct
        raise SchemaError(f"{schemas.subject} decodes to {record.simpleString()}, not a record")
    time_type = record[time_field].dataType if time_field in fields else None
    if time_type is None:
        event_time = F.col("kafka_timestamp")
    elif isinstance(time_type, TimestampType | TimestampNTZType):
        event_time = F.col(f"v.{time_field}").cast("timestamp")
    elif isinstance(time_type, LongType):
        event_time = millis_to_timestamp(F.col(f"v.{time_field}"))
    else:
        raise SchemaError(
            f"field '{time_field}' of {schemas.subject} is {time_type.simpleString()}; "
            "it must be a long (epoch millis) or an Avro timestamp"
        )
    return framed.select(
        *KAFKA_COLUMNS,
        *[F.col(f"v.{name}").alias(name) for name in fields if name != time_field],
        event_time.alias("event_time"),
        _reason(schemas, required, time_field if time_type is not None else None, require_key).alias(
            "dead_letter_reason"
        ),
    )


def _flagged(reader: str) -> str:
    """The reader schema plus a boolean field that only a successful decode fills (from its default).

    PERMISSIVE ``from_avro`` answers a row of nulls, not a null struct, for a body it cannot decode;
    that row would be indistinguishable from a record whose fields are all null, but the flag is not.
    """
    schema = json.loads(reader)
    schema["fields"] = [*schema["fields"], {"name": DECODED, "type": "boolean", "default": True}]
    return json.dumps(schema)


def _reason(schemas: SubjectSchemas, required: Sequence[str], time_field: str | None, require_key: bool) -> Column:
    """Why a record cannot be used, in the words of :func:`streamwise.schemas.wire.unframe`."""
    value, schema_id = F.col("kafka_value"), F.col("_schema_id")
    reason = value_reason("a Confluent-framed Avro event")
    reason = reason.when(
        F.length(value) < 5,
        F.concat(
            F.lit("truncated: "),
            F.length(value).cast("string"),
            F.lit(" bytes, shorter than the 5-byte Confluent header"),
        ),
    )
    reason = reason.when(
        F.hex(F.substring(value, 1, 1)) != "00",
        F.concat(
            F.lit("wrong magic byte 0x"),
            F.lower(F.hex(F.substring(value, 1, 1))),
            F.lit(" (expected 0x00, Confluent wire format)"),
        ),
    )
    reason = reason.when(
        ~schema_id.isin(list(schemas.writers)),
        F.concat(F.lit("unknown schema id "), schema_id.cast("string"), F.lit(f" for subject {schemas.subject}")),
    )
    reason = reason.when(
        F.col("v").isNull() | F.col(f"v.{DECODED}").isNull(),
        F.concat(F.lit("truncated or undecodable Avro body for schema id "), schema_id.cast("string")),
    )
    for name in [*([time_field] if time_field else []), *required]:
        reason = reason.when(F.col(f"v.{name}").isNull(), F.lit(f"missing field '{name}'"))
    return key_reason(reason, require_key=require_key)
