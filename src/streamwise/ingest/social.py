"""Social/mobile app events: devices with app versions, OS, network and geo, doing things in the app.

Each device lives in a city (weighted by population) and reports positions scattered around it,
a few percent of events from another city (travel). Devices run one app version; newer versions
gain share as devices upgrade (each event has an ``upgrade_rate`` chance to move its device to the
newest version first). One version (``buggy_version``) crashes ten times as often as the others.
Keyed by ``device_id`` (devices are drawn uniformly, so keys spread evenly).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from streamwise.ingest.scenario import EventBatch, GeneratorBase, Sampler, Vocabulary, register

# city: (country, latitude, longitude, weight)
CITIES: dict[str, tuple[str, float, float, float]] = {
    "New York": ("US", 40.71, -74.01, 8.3),
    "Los Angeles": ("US", 34.05, -118.24, 3.9),
    "Chicago": ("US", 41.88, -87.63, 2.7),
    "Sao Paulo": ("BR", -23.55, -46.63, 12.3),
    "London": ("GB", 51.51, -0.13, 8.9),
    "Berlin": ("DE", 52.52, 13.40, 3.6),
    "Paris": ("FR", 48.86, 2.35, 2.1),
    "Madrid": ("ES", 40.42, -3.70, 3.3),
    "Lagos": ("NG", 6.52, 3.38, 15.4),
    "Mumbai": ("IN", 19.08, 72.88, 20.4),
    "Delhi": ("IN", 28.70, 77.10, 16.8),
    "Tokyo": ("JP", 35.68, 139.69, 13.9),
    "Seoul": ("KR", 37.57, 126.98, 9.7),
    "Jakarta": ("ID", -6.21, 106.85, 10.6),
    "Sydney": ("AU", -33.87, 151.21, 5.3),
    "Mexico City": ("MX", 19.43, -99.13, 9.2),
}
VERSIONS = ("4.0.0", "4.1.0", "4.1.1", "4.2.0", "4.3.0", "4.4.0", "4.5.0")
_INSTALLED = (0.03, 0.05, 0.07, 0.12, 0.18, 0.25, 0.30)  # share of each version when the run starts
# event type: weight (crash is added from the crash rate)
EVENT_TYPES: dict[str, float] = {
    "app_open": 0.14,
    "screen_view": 0.45,
    "like": 0.15,
    "comment": 0.05,
    "share": 0.04,
    "follow": 0.03,
    "notification_open": 0.10,
    "purchase": 0.01,
}
_OS = ("android", "ios")
_NETWORKS = ("wifi", "5g", "4g", "3g")
_NETWORK_SHARE = (0.55, 0.2, 0.22, 0.03)


@dataclass(frozen=True)
class SocialShape:
    """Knobs of the device population."""

    devices: int = 100_000
    ios_share: float = 0.3
    travel_fraction: float = 0.03
    scatter_km: float = 8.0
    upgrade_rate: float = 0.0005
    crash_rate: float = 0.002
    buggy_version: str = "4.4.0"


@register
class Social(GeneratorBase[SocialShape]):
    """Seeded app events; the same seed gives the same devices, places, versions and actions."""

    name: ClassVar[str] = "social"
    description: ClassVar[str] = "mobile app events: app versions, OS, network, geo"
    key_field: ClassVar[str] = "device_id"
    shape_type: ClassVar[type] = SocialShape
    truth_flags: ClassVar[tuple[str, ...]] = ()

    def setup(self) -> None:
        s = self.shape
        rng = self.rng
        cities = list(CITIES)
        self._devices = Vocabulary.numbered("d-%06d", s.devices)
        self._cities = Vocabulary(cities)
        countries = sorted({c[0] for c in CITIES.values()})
        self._countries = Vocabulary(countries)
        self._city_country = np.array([countries.index(CITIES[c][0]) for c in cities])
        self._lat, self._lon = np.array([CITIES[c][1] for c in cities]), np.array([CITIES[c][2] for c in cities])
        self._city_sampler = Sampler([CITIES[c][3] for c in cities])
        self._versions, self._os, self._networks = (
            Vocabulary(list(VERSIONS)),
            Vocabulary(list(_OS)),
            Vocabulary(list(_NETWORKS)),
        )
        types = [*EVENT_TYPES, "crash"]
        self._types = Vocabulary(types)
        self._type_sampler = Sampler(list(EVENT_TYPES.values()))
        self._crash = types.index("crash")
        self._buggy = VERSIONS.index(s.buggy_version)
        self._network_sampler = Sampler(_NETWORK_SHARE)
        self.home = self._city_sampler.sample(rng, s.devices)
        self.version = Sampler(_INSTALLED).sample(rng, s.devices).astype(np.int8)
        self.os = (rng.random(s.devices) < s.ios_share).astype(np.int8)

    def batch(self, n: int, now_ms: int) -> EventBatch:
        """``n`` app events that happened up to ``now_ms``."""
        rng, s = self.rng, self.shape
        device = rng.integers(0, s.devices, n)
        upgrade = device[rng.random(n) < s.upgrade_rate]
        self.version[upgrade] = len(VERSIONS) - 1
        version = self.version[device]
        kind = self._type_sampler.sample(rng, n)
        crash_p = np.where(version == self._buggy, 10 * s.crash_rate, s.crash_rate)
        kind[rng.random(n) < crash_p] = self._crash
        city = self.home[device]
        travel = rng.random(n) < s.travel_fraction
        city[travel] = self._city_sampler.sample(rng, int(travel.sum()))
        degrees = s.scatter_km / 111.0  # ~111 km per degree of latitude
        lat = np.round(self._lat[city] + degrees * rng.standard_normal(n), 5)
        lon = np.round(self._lon[city] + degrees * rng.standard_normal(n) / np.cos(np.radians(self._lat[city])), 5)
        ids = self.event_ids(n)
        columns = {
            "event_id": ids,
            "device_id": self._devices.column(device),
            "event_type": self._types.column(kind),
            "app_version": self._versions.column(version),
            "os": self._os.column(self.os[device]),
            "network": self._networks.column(self._network_sampler.sample(rng, n)),
            "country": self._countries.column(self._city_country[city]),
            "city": self._cities.column(city),
            "lat": lat,
            "lon": lon,
            "event_time": self.event_times(n, now_ms),
        }
        return self.make_batch(columns, self._devices.keys[device], ids)
