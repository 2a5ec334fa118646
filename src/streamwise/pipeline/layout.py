"""Where a pipeline's queries live and what they are called, defined once.

A pipeline runs one *main* query (source → decode → watermark → steps → every sink, in one
``foreachBatch``), which also settles each batch's dead letters and late-data ledger. ``plan``,
``verify``, ``status``, the dashboard and ``up`` all take the names and folders from here.

Each sink's writer is identified by the pipeline, the sink's place in the spec and the main
checkpoint's Spark query id (``clickstream.1.postgres@5f3c9a1e``). The id keys the sinks'
idempotency markers (Delta ``txnAppId``, PostgreSQL/Redis marker rows, Kafka transactional ids), so
a fresh checkpoint (batch ids from 0 again) can never be mistaken for a replay of an old one and
silently skip its batches.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from streamwise.pipeline.exceptions import PipelineError
from streamwise.platform.storage import Location
from streamwise.sinks.config import writer_id

MAIN = "main"
SIDE = "side"  # the side query of earlier versions: its checkpoint is no longer read, and harmless
SETTLED = "settled.json"
# The observation (Dataset.observe) the plan attaches to each query: percentiles of batch time minus
# Kafka timestamp, read back by the monitor from the query progress.
LATENCY_METRIC = "latency"


@dataclass(frozen=True)
class PipelineLayout:
    """The query names and checkpoint folders of pipeline ``name`` under the data root ``root`` (the
    state folder unless ``STREAMWISE_DATA_ROOT`` is set: see :mod:`streamwise.platform.storage`)."""

    name: str
    root: Location

    @property
    def main_query(self) -> str:
        """The main query's name: the pipeline's own (its consumer group shows the pipeline's lag)."""
        return self.name

    @property
    def checkpoints(self) -> Location:
        """``ROOT/checkpoints/<pipeline>``: every checkpoint of the pipeline, and nothing else."""
        return self.root / "checkpoints" / self.name

    @property
    def main_checkpoint(self) -> Location:
        return self.checkpoints / MAIN

    @property
    def settled_marker(self) -> Location:
        """The newest main-query batch whose dead letters and ledger entries are written."""
        return self.checkpoints / SETTLED

    def sink_label(self, index: int, sink_type: str) -> str:
        """A sink's stable name within the pipeline, e.g. ``clickstream.1.postgres``."""
        return f"{self.name}.{index}.{sink_type}"

    def sink_writer_id(self, index: int, sink_type: str) -> str:
        """The identity a sink's idempotency markers are keyed by (see the module docstring).

        Known once the main query has started (Spark writes the checkpoint's id before batch 0).
        """
        return writer_id(self.sink_label(index, sink_type), self.query_id(self.main_checkpoint))

    def ledger_writer_id(self) -> str:
        """The identity the late-data ledger's Delta appends are keyed by (``txnAppId``)."""
        return writer_id(f"{self.name}.ledger", self.query_id(self.main_checkpoint))

    def dead_letter_writer_id(self) -> str:
        """The identity of the dead-letter topic's transactional writes (``transactional.id`` and
        the batch marker's group)."""
        return writer_id(f"{self.name}.dlq", self.query_id(self.main_checkpoint))

    def query_id(self, checkpoint: Location) -> str:
        """The id Spark keeps in a checkpoint's ``metadata`` file (stable across restarts)."""
        metadata = checkpoint / "metadata"
        try:
            return str(json.loads(metadata.read_text().splitlines()[0])["id"])
        except FileNotFoundError:
            raise PipelineError(
                f"pipeline {self.name} has not started yet: no {metadata}",
                hint=f"run it once, e.g. `streamwise run {self.name} --once`",
            ) from None
        except (IndexError, KeyError, ValueError) as exc:
            raise PipelineError(
                f"{metadata} is not a Spark checkpoint's metadata ({exc})",
                hint=f"move {checkpoint} away to start the query afresh",
            ) from None

    def check_layout(self) -> None:
        """Refuse checkpoints of the old one-query-per-sink layout, which the main query cannot resume."""
        if not self.checkpoints.is_dir():
            return
        old = sorted(
            p.name for p in self.checkpoints.iterdir() if p.name not in (MAIN, SIDE) and (p / "offsets").is_dir()
        )
        if old:
            raise PipelineError(
                f"pipeline {self.name} has checkpoints from the one-query-per-sink layout ({', '.join(old)} in "
                f"{self.checkpoints}); it now runs one query for all its sinks, which cannot resume them",
                hint=f"move them away to start afresh from startingOffsets: `mv {self.checkpoints} {self.checkpoints}.old` "
                "(sink markers are keyed by the new checkpoint, so nothing is skipped; rows already written "
                "may be written again once)",
            )
