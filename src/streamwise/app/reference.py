"""Reference data in PostgreSQL that pipelines enrich from (e.g. ``merchants`` for payments).

Seeded from the same seeded population the generators draw from, so every generated merchant id
has its row. Seeding is an upsert: running it again changes nothing, and an edited row (a merchant's
risk tier, say) can be written back the same way while pipelines run.
"""

from __future__ import annotations

import psycopg

from streamwise.config import Settings
from streamwise.ingest.payments import Payments

MERCHANTS_DDL = """
CREATE TABLE IF NOT EXISTS merchants (
    merchant_id TEXT PRIMARY KEY,
    country     TEXT NOT NULL,
    category    TEXT NOT NULL,
    risk_tier   TEXT NOT NULL CHECK (risk_tier IN ('low', 'medium', 'high'))
)"""


def seed_merchants(settings: Settings, *, seed: int = 7) -> int:
    """Upsert the payments scenario's merchants (seed ``seed``); returns the number of rows."""
    merchants = Payments(seed=seed).merchants()
    rows = list(zip(*merchants.values(), strict=True))
    with psycopg.connect(**settings.postgres.conninfo()) as conn, conn.cursor() as cur:
        cur.execute(MERCHANTS_DDL)
        cur.execute("CREATE TEMP TABLE merchants_in (LIKE merchants) ON COMMIT DROP")
        with cur.copy("COPY merchants_in (merchant_id, country, category, risk_tier) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cur.execute(
            "INSERT INTO merchants SELECT * FROM merchants_in ON CONFLICT (merchant_id) DO UPDATE "
            "SET country = EXCLUDED.country, category = EXCLUDED.category, risk_tier = EXCLUDED.risk_tier"
        )
    return len(rows)
