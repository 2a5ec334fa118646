"""Exactly-once audit: what the generator sent (its ground truth) against what each sink holds.

``verify_pipeline(spec, settings)`` returns a :class:`VerifyReport` with, per sink, the records
expected, found, lost, duplicated, held by the late-data ledger and dead-lettered. The rules are in
:mod:`streamwise.verify.audit` (what is expected where) and :mod:`streamwise.verify.rules` (the
arithmetic). ``streamwise verify PIPELINE`` prints it and exits non-zero on any loss, duplicate or
row it cannot classify (``unknown``), and when no sink could be checked: a report is ``ok`` only when
at least one sink was checked and every checked sink is exact.

Owns the audit. May import monitor, pipeline, sinks, ingest (the ground truth), platform and
config; ``testing``, ``app`` and ``cli`` import it.
"""

from streamwise.verify.audit import Shape, SinkReport, VerifyReport, shape_of, verify_pipeline
from streamwise.verify.exceptions import VerifyError
from streamwise.verify.rules import Tally

__all__ = ["Shape", "SinkReport", "Tally", "VerifyError", "VerifyReport", "shape_of", "verify_pipeline"]
