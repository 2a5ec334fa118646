"""Event sources and the producer that delivers them to Kafka.

- scenarios (``clickstream``, ``iot``, ``payments``, ``logs``, ``social``): seeded, vectorised
  generators of :class:`EventBatch` columns, each with an Avro schema in ``schemas/`` and a key that
  spreads load evenly; :func:`create` / :func:`scenario_names` reach them by name;
- :class:`FileReplay`: a CSV, Parquet or JSON-lines file replayed at its own pace;
- :class:`Disorder` and :class:`RateProfile`: late, out-of-order and duplicated events, rate spikes;
- :class:`Encoder`: column-wise JSON or Avro binary record values;
- :class:`EventProducer` and :func:`produce`: the tuned producer and the paced run loop;
- :func:`confluent_header`: Avro values' schema registered once under ``<topic>-value``, its id framed in;
- :class:`GroundTruthWriter` / :func:`read_ground_truth`: what was sent, as Parquet.

Owns producing events into Kafka. May import schemas (the wire format and registry client),
platform and config; it never imports sinks or anything above them.
"""

import importlib
from typing import Any

# Public name -> module. Imported on first use, so that the CLI starts without numpy and Arrow.
_EXPORTS = {
    "infer_schema": "avro",
    "load_schema": "avro",
    "Clickstream": "clickstream",
    "ClickstreamGenerator": "clickstream",
    "ClickstreamShape": "clickstream",
    "Disorder": "disorder",
    "RateProfile": "disorder",
    "Spike": "disorder",
    "Encoder": "encoding",
    "Format": "formats",
    "DeliveryError": "exceptions",
    "IngestError": "exceptions",
    "IngestOptionError": "exceptions",
    "RegistrationError": "exceptions",
    "ReplayError": "exceptions",
    "EventSchemaError": "exceptions",
    "UnknownScenarioError": "exceptions",
    "confluent_header": "framing",
    "ProduceOptions": "options",
    "ProducePlan": "options",
    "plan": "options",
    "DeliveryStats": "producer",
    "EventProducer": "producer",
    "FileReplay": "replay",
    "ProduceReport": "run",
    "Progress": "run",
    "ensure_topic": "run",
    "produce": "run",
    "EventBatch": "scenario",
    "Scenario": "scenario",
    "create": "scenario",
    "register": "scenario",
    "scenario_names": "scenario",
    "GroundTruthWriter": "truth",
    "read_ground_truth": "truth",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'streamwise.ingest' has no attribute {name!r}")
    value = getattr(
        importlib.import_module(f"streamwise.ingest.{module}"), "names" if name == "scenario_names" else name
    )
    globals()[name] = value
    return value


# One list, so the exports and __all__ cannot drift apart.
__all__ = sorted(_EXPORTS)
