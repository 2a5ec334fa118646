"""Event sources (scenario generators) and the producer that delivers them to Kafka."""

from streamwise.ingest.clickstream import ClickstreamGenerator, ClickstreamShape, PageViews
from streamwise.ingest.exceptions import DeliveryError, IngestError
from streamwise.ingest.producer import DeliveryStats, EventProducer
from streamwise.ingest.run import ProduceReport, produce_clickstream

__all__ = [
    "ClickstreamGenerator",
    "ClickstreamShape",
    "DeliveryError",
    "DeliveryStats",
    "EventProducer",
    "IngestError",
    "PageViews",
    "ProduceReport",
    "produce_clickstream",
]
