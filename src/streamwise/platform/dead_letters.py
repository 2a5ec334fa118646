"""Where a topic's dead letters go and the headers that say why: one definition for both writers.

The producer (``streamwise.ingest``) dead-letters a record the broker would refuse as too large; a
pipeline (``streamwise.pipeline``) dead-letters a record it cannot use. Both write to the same topic,
``<topic>.dlq``, with the same headers, so one reader of that topic sees every record that did not
make it and why. It lives here, below both, because ingest may not import pipeline.

The sinks that write rows one by one (``streamwise.sinks.dead_letters``) dead-letter a row their store
refuses to ``<name>.dlq`` with the same reason header and three of their own (:data:`SINK`,
:data:`QUERY`, :data:`BATCH_ID`); ``streamwise.verify`` reads both kinds by these names.
"""

from __future__ import annotations

SUFFIX = ".dlq"

REASON = "dlq.reason"  # why the record is a dead letter: what, where, and how to fix it when one can
SOURCE_TOPIC = "dlq.source.topic"  # the topic the record was read from, or was meant for
SOURCE_PARTITION = "dlq.source.partition"  # where a pipeline read it (absent when it never reached the topic)
SOURCE_OFFSET = "dlq.source.offset"
ORIGINAL_SIZE = "dlq.original.size"  # bytes of the original value, when the dead letter holds only a prefix of it
# A sink's dead letters (a row it could not write):
SINK = "dlq.sink"  # the sink's type and where it writes, e.g. "postgres public.page_counts"
QUERY = "dlq.query"  # the sink's writer id: its label and the checkpoint it writes for
BATCH_ID = "dlq.batch_id"  # the micro-batch the row came in


def dlq_topic(topic: str) -> str:
    """The dead-letter topic of ``topic``."""
    return f"{topic}{SUFFIX}"
