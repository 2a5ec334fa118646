"""IoT sensors: readings with drift, noise, dropouts and injected anomalies (with ground truth).

Each sensor measures one kind (temperature, humidity, pressure, vibration) at one site. Its reading
is ``base + drift * hours + daily cycle + noise``: the base and the drift rate are the sensor's own,
the noise is Gaussian with the kind's sigma. Sensors drop out: an online sensor goes silent for an
exponential time (mean ``mean_offline_s``) so that about ``offline_fraction`` are silent at any time,
and a reading sometimes arrives without a value (``is_missing``). Anomalies are spikes of 6 to 10
sigma on a ``anomaly_rate`` fraction of readings (``is_anomaly``). Keyed by ``sensor_id``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pyarrow as pa

from streamwise.ingest.scenario import EventBatch, GeneratorBase, Vocabulary, register

# kind: (unit, typical base, spread of bases between sensors, noise sigma, daily amplitude)
KINDS: dict[str, tuple[str, float, float, float, float]] = {
    "temperature": ("C", 21.0, 4.0, 0.25, 2.5),
    "humidity": ("%", 45.0, 10.0, 1.0, 6.0),
    "pressure": ("hPa", 1013.0, 8.0, 0.4, 1.5),
    "vibration": ("mm/s", 2.0, 0.8, 0.15, 0.3),
}
_DAY_MS = 86_400_000


@dataclass(frozen=True)
class IotShape:
    """Knobs of the sensor fleet."""

    sensors: int = 10_000
    sites: int = 20
    drift_per_hour: float = 0.05  # sigma of each sensor's drift rate, in the kind's noise sigmas
    offline_fraction: float = 0.02
    mean_offline_s: float = 30.0
    missing_fraction: float = 0.005
    anomaly_rate: float = 0.002
    anomaly_sigmas: tuple[float, float] = (6.0, 10.0)


@register
class Iot(GeneratorBase[IotShape]):
    """Seeded sensor fleet; the same seed gives the same sensors, drifts, dropouts and anomalies."""

    name: ClassVar[str] = "iot"
    description: ClassVar[str] = "sensor readings: drift, noise, dropouts, anomalies"
    key_field: ClassVar[str] = "sensor_id"
    shape_type: ClassVar[type] = IotShape
    truth_flags: ClassVar[tuple[str, ...]] = ("is_anomaly", "is_missing")

    def setup(self) -> None:
        s = self.shape
        rng = self.rng
        kinds = list(KINDS)
        self._sensors = Vocabulary.numbered("sensor-%05d", s.sensors)
        self._sites = Vocabulary.numbered("site-%02d", s.sites)
        self._kinds = Vocabulary(kinds)
        self._units = Vocabulary([KINDS[k][0] for k in kinds])
        self.kind = rng.integers(0, len(kinds), s.sensors)
        self.site = rng.integers(0, s.sites, s.sensors)
        table = np.array([KINDS[k][1:] for k in kinds])  # base, spread, sigma, amplitude per kind
        self.sigma = table[self.kind, 2]
        self.base = table[self.kind, 0] + table[self.kind, 1] * rng.standard_normal(s.sensors)
        self.drift = s.drift_per_hour * self.sigma * rng.standard_normal(s.sensors)  # per hour
        self._amplitude = table[self.kind, 3]
        self._phase = rng.uniform(0, 2 * np.pi, s.sensors)
        self._battery = rng.uniform(0.3, 1.0, s.sensors)
        self._offline_until = np.zeros(s.sensors, dtype=np.int64)
        self._start_ms: int | None = None
        self._last_dropout_ms: int | None = None

    def online(self, now_ms: int) -> np.ndarray:
        """Indices of the sensors sending at ``now_ms`` (starting new dropouts since the last call)."""
        s, rng = self.shape, self.rng
        if s.offline_fraction > 0 and self._last_dropout_ms is not None and now_ms > self._last_dropout_ms:
            # Online spells are exponential too, with the mean that gives the asked offline fraction.
            mean_online_ms = 1000 * s.mean_offline_s * (1 - s.offline_fraction) / s.offline_fraction
            up = self._offline_until <= now_ms
            drop = up & (rng.random(s.sensors) < -np.expm1(-(now_ms - self._last_dropout_ms) / mean_online_ms))
            spells = rng.exponential(1000 * s.mean_offline_s, int(drop.sum())).astype(np.int64)
            self._offline_until[drop] = now_ms + spells
        elif self._last_dropout_ms is None and s.offline_fraction > 0:
            # Start in the steady state: that fraction is already silent for part of a spell.
            drop = rng.random(s.sensors) < s.offline_fraction
            self._offline_until[drop] = now_ms + rng.exponential(1000 * s.mean_offline_s, int(drop.sum())).astype(
                np.int64
            )
        self._last_dropout_ms = now_ms
        return np.flatnonzero(self._offline_until <= now_ms)

    def batch(self, n: int, now_ms: int) -> EventBatch:
        """``n`` readings from the sensors online at ``now_ms``."""
        s, rng = self.shape, self.rng
        if self._start_ms is None:
            self._start_ms = now_ms
        online = self.online(now_ms)
        sensor = online[rng.integers(0, len(online), n)] if len(online) else rng.integers(0, s.sensors, n)
        times = self.event_times(n, now_ms)
        hours = (times - self._start_ms) / 3_600_000
        daily = self._amplitude[sensor] * np.sin(2 * np.pi * (times % _DAY_MS) / _DAY_MS + self._phase[sensor])
        sigma = self.sigma[sensor]
        value = self.base[sensor] + self.drift[sensor] * hours + daily + sigma * rng.standard_normal(n)
        anomaly = rng.random(n) < s.anomaly_rate
        k = int(anomaly.sum())
        if k:
            low, high = s.anomaly_sigmas
            value[anomaly] += rng.choice([-1.0, 1.0], k) * rng.uniform(low, high, k) * sigma[anomaly]
        missing = rng.random(n) < s.missing_fraction
        battery = np.round(np.maximum(self._battery[sensor] - hours * 0.001, 0.0), 3)
        ids = self.event_ids(n)
        columns = {
            "event_id": ids,
            "sensor_id": self._sensors.column(sensor),
            "site": self._sites.column(self.site[sensor]),
            "kind": self._kinds.column(self.kind[sensor]),
            "value": pa.array(np.round(value, 3), mask=missing),
            "unit": self._units.column(self.kind[sensor]),
            "battery": battery,
            "event_time": times,
        }
        return self.make_batch(
            columns, self._sensors.keys[sensor], ids, is_anomaly=anomaly & ~missing, is_missing=missing
        )
