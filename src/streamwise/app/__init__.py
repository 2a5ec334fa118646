"""The local platform as one application: ``up``/``down``, the reference data pipelines enrich from,
and the wiring of every service (broker, registry, PostgreSQL, Redis, generator, pipeline, dashboard).

Owns: :mod:`~streamwise.app.local` (start and stop the whole platform by pid) and
:mod:`~streamwise.app.reference` (seeding PostgreSQL). May import every layer below it (config,
platform, schemas, ingest, sinks, pipeline, monitor, verify, dashboard); only ``cli`` imports it.
"""

from streamwise.app.local import dashboard_for, down, needs_database, start_generator, start_pipeline, up
from streamwise.app.reference import seed_merchants

__all__ = ["dashboard_for", "down", "needs_database", "seed_merchants", "start_generator", "start_pipeline", "up"]
