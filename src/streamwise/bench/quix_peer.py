"""The peer of ``bench peer``: the clickstream pipeline's windowed count written with Quix Streams.

Run as a script by the benchmark, with the Python of a virtualenv that holds only Quix Streams (its
dependency pins are its own), so this file imports nothing from streamwise. It reads the topic from
the beginning, takes event time from the records (``event_time``, epoch ms), re-keys by page
(``group_by``: Quix windows are per message key, so this is how Quix counts per page), counts views
in 10 s tumbling windows with a 5 s grace (the pipeline's watermark), and emits each window once it
is final, closing windows by the partition's time (as Spark closes them by one watermark). It stops when the windowed stage has seen every record, and writes its figures as JSON.

Usage: python quix_peer.py BOOTSTRAP TOPIC EVENTS STATE_DIR OUT_JSON
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from quixstreams import Application

WINDOW_MS = 10_000
GRACE_MS = 5_000


def main(bootstrap: str, topic: str, events: int, state_dir: str, out: str) -> None:
    app = Application(
        broker_address=bootstrap,
        consumer_group=f"bench-peer-{time.time_ns()}",
        auto_offset_reset="earliest",
        state_dir=state_dir,
        loglevel="WARNING",
        processing_guarantee="at-least-once",
    )
    source = app.topic(
        topic, value_deserializer="json", timestamp_extractor=lambda value, _h, _ts, _t: int(value["event_time"])
    )
    seen: dict[str, Any] = {"records": 0, "windows": 0, "views": 0}

    def counted(value: dict) -> dict:
        seen["records"] += 1
        if seen["records"] >= events:
            app.stop()
        return value

    def emitted(window: dict) -> None:
        seen["windows"] += 1
        seen["views"] += int(window["value"])

    sdf = app.dataframe(source)
    sdf = sdf.group_by("page")
    sdf = sdf.update(counted)
    # "partition": any record moves time for the whole partition, as Spark's one watermark does; Quix's
    # default ("key") closes a page's window only when that page is seen again, so its last windows stay open.
    sdf = sdf.tumbling_window(duration_ms=WINDOW_MS, grace_ms=GRACE_MS).count().final(closing_strategy="partition")
    sdf = sdf.update(emitted)
    started = time.monotonic()
    app.run()
    seen["seconds"] = time.monotonic() - started
    with open(out, "w") as f:
        json.dump(seen, f)


if __name__ == "__main__":
    bootstrap, topic, events, state_dir, out = sys.argv[1:6]
    main(bootstrap, topic, int(events), state_dir, out)
