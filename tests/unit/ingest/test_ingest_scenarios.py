"""The scenarios' statistical shapes, from seeded runs, checked against their configured knobs; and
what every scenario shares: reproducibility, a schema with event_time, keys that name the entity."""

from __future__ import annotations

import numpy as np
import pyarrow.compute as pc
import pytest

from streamwise.ingest import scenario as registry
from streamwise.ingest.iot import Iot, IotShape
from streamwise.ingest.logs import Logs, LogsShape
from streamwise.ingest.payments import _RATE_TO_USD, COUNTRIES, Payments
from streamwise.ingest.social import CITIES, VERSIONS, Social

NOW = 1_800_000_000_000


def indices(batch, name: str) -> np.ndarray:
    return batch.data.column(name).indices.to_numpy()


@pytest.mark.parametrize("name", registry.names())
def test_every_scenario_is_seeded_keyed_and_has_event_time(name: str) -> None:
    """Setup: two generators with seed 11 and one with seed 12, three batches each.
    Invariant: equal seeds give equal batches; the key is the key field's value; event ids are
    consecutive; event times lie within the span since the previous batch; the schema declares
    event_time as a long timestamp-millis."""
    a, b, c = registry.create(name, seed=11), registry.create(name, seed=11), registry.create(name, seed=12)
    previous = NOW - 100
    for step in range(3):
        now = NOW + step * 1000
        x, y, z = a.batch(5_000, now), b.batch(5_000, now), c.batch(5_000, now)
        assert x.data.equals(y.data) and list(x.keys) == list(y.keys)
        assert not x.data.equals(z.data)
        assert list(x.keys) == [v.encode() for v in pc.cast(x.data.column(a.key_field), "string").to_pylist()]
        assert np.array_equal(x.event_ids, np.arange(step * 5_000, (step + 1) * 5_000))
        times = x.event_time_ms
        assert previous < times.min() and times.max() <= now and np.all(np.diff(times) >= 0)
        previous = now
    event_time = next(f for f in a.schema["fields"] if f["name"] == "event_time")
    assert event_time["type"] == {"type": "long", "logicalType": "timestamp-millis"}
    assert set(a.truth_flags) == set(x.flags)


def test_iot_readings_follow_base_drift_cycle_and_noise() -> None:
    """Setup: 200 batches of 3,000 readings, 15 simulated minutes apart (50 hours).
    Invariant: without anomalies and missing values, value - (base + drift*h + daily cycle) has
    the kind's sigma (within 3%); per-sensor slopes fitted from the data match each sensor's drift."""
    iot = Iot(seed=3, shape=IotShape(sensors=2_000))
    start = None
    residuals, sensors, hours, detrended = [], [], [], []
    for i in range(200):
        now = NOW + i * 900_000
        batch = iot.batch(3_000, now)
        start = start or now
        s = indices(batch, "sensor_id")
        t = batch.event_time_ms
        ok = ~batch.flags["is_anomaly"] & ~batch.flags["is_missing"]
        value = batch.data.column("value").to_numpy(zero_copy_only=False).astype(float)
        h = (t - start) / 3_600_000
        daily = iot._amplitude[s] * np.sin(2 * np.pi * (t % 86_400_000) / 86_400_000 + iot._phase[s])
        residuals.append(((value - iot.base[s] - iot.drift[s] * h - daily) / iot.sigma[s])[ok])
        sensors.append(s[ok]), hours.append(h[ok]), detrended.append((value - iot.base[s] - daily)[ok])
    assert abs(np.std(np.concatenate(residuals)) - 1.0) < 0.03
    s, h, y = np.concatenate(sensors), np.concatenate(hours), np.concatenate(detrended)
    fitted = []
    for sensor in range(200):
        rows = s == sensor
        fitted.append(np.polyfit(h[rows], y[rows], 1)[0])
    assert np.corrcoef(fitted, iot.drift[:200])[0, 1] > 0.95


def test_iot_anomalies_dropouts_and_missing_values() -> None:
    """Setup: 300 batches of 2,000 readings, 1 s apart; anomaly rate 0.2%, 2% of sensors offline,
    0.5% of values missing. Invariant: the flagged shares are within 4 binomial sigmas (anomalies)
    or 15% (the rest) of the knobs; flagged readings are 6 to 10 sigma off the sensor's model
    (8 on average), unflagged ones under 6; no reading comes from a sensor offline at that batch;
    missing values are exactly the nulls."""
    shape = IotShape(
        sensors=5_000, anomaly_rate=0.002, offline_fraction=0.02, missing_fraction=0.005, mean_offline_s=20
    )
    iot = Iot(seed=4, shape=shape)
    start = NOW
    missing = total = 0
    offline_share, flagged_dev, normal_dev = [], [], []
    for i in range(300):
        now = NOW + i * 1000
        batch = iot.batch(2_000, now)
        offline = iot._offline_until > now
        offline_share.append(offline.mean())
        s = indices(batch, "sensor_id")
        assert not offline[s].any()
        nulls = batch.data.column("value").is_null().to_numpy(zero_copy_only=False)
        assert np.array_equal(nulls, batch.flags["is_missing"])
        t = batch.event_time_ms
        model = iot.base[s] + iot.drift[s] * (t - start) / 3_600_000
        model += iot._amplitude[s] * np.sin(2 * np.pi * (t % 86_400_000) / 86_400_000 + iot._phase[s])
        deviation = (
            np.abs(batch.data.column("value").to_numpy(zero_copy_only=False).astype(float) - model) / iot.sigma[s]
        )
        flagged = batch.flags["is_anomaly"]
        flagged_dev.append(deviation[flagged])
        normal_dev.append(deviation[~flagged & ~nulls])
        missing, total = missing + nulls.sum(), total + len(batch)
    flagged_dev = np.concatenate(flagged_dev)
    expected = shape.anomaly_rate * (1 - shape.missing_fraction)
    assert abs(len(flagged_dev) / total - expected) < 4 * np.sqrt(expected / total)
    assert abs(flagged_dev.mean() - 8.0) < 0.3 and np.concatenate(normal_dev).max() < 6.0
    assert abs(missing / total - shape.missing_fraction) < 0.15 * shape.missing_fraction
    assert abs(np.mean(offline_share[50:]) - shape.offline_fraction) < 0.15 * shape.offline_fraction


def test_payments_fraud_rate_and_patterns() -> None:
    """Setup: 100 batches of 5,000 payments, fraud rate 0.2%. Invariant: the fraud share is within
    20% of 0.2% (the patterns come in groups); every card-testing burst is 5 online payments of at
    most 2 USD on one card; each payment's currency is its merchant country's; at least 93% of
    honest payments are domestic."""
    payments = Payments(seed=5)
    fraud = total = domestic = honest = bursts = 0
    for i in range(100):
        batch = payments.batch(5_000, NOW + i * 100)
        flags = batch.flags["is_fraud"]
        fraud, total = fraud + flags.sum(), total + len(batch)
        countries = batch.data.column("country").dictionary.to_pylist()
        currencies = batch.data.column("currency").dictionary.to_pylist()
        country, currency = indices(batch, "country"), indices(batch, "currency")
        for c, k in set(zip(country.tolist(), currency.tolist(), strict=True)):
            assert COUNTRIES[countries[c]][0] == currencies[k]
        card, merchant = indices(batch, "card_id"), indices(batch, "merchant_id")
        honest_rows = ~flags
        domestic += (payments.merchant_country[merchant] == payments.card_country[card])[honest_rows].sum()
        honest += honest_rows.sum()
        usd = batch.data.column("amount").to_numpy() * np.array([_RATE_TO_USD[c] for c in currencies])[currency]
        online = indices(batch, "channel") == batch.data.column("channel").dictionary.to_pylist().index("online")
        cards, counts = np.unique(card[flags], return_counts=True)
        for c in cards[counts == 5]:
            group = flags & (card == c)
            bursts += 1
            assert online[group].all()
            assert usd[group].max() <= 2.01  # up to 2 USD, rounded to the currency's decimals
    assert abs(fraud / total - 0.002) < 0.2 * 0.002
    assert bursts > 0
    assert domestic / honest >= 0.93


def test_logs_error_bursts_raise_errors_and_volume() -> None:
    """Setup: 600 batches of 1,000 lines, 1 s apart, bursts every ~60 s lasting ~10 s.
    Invariant: ERROR lines are about 35% of burst lines and 2% of the others; every service has
    a burst; traces span ~4 lines on average; a burst line belongs to a service in burst."""
    logs = Logs(seed=6, shape=LogsShape(mean_burst_gap_s=60, mean_burst_s=10))
    levels, flags, services = [], [], []
    for i in range(600):
        batch = logs.batch(1_000, NOW + i * 1000)
        levels.append(batch.data.column("level").to_numpy(zero_copy_only=False))
        flags.append(batch.flags["is_error_burst"])
        services.append(indices(batch, "service"))
        assert np.array_equal(batch.flags["is_error_burst"], logs._burst_until[services[-1]] > NOW + i * 1000)
    level, burst, service = np.concatenate(levels), np.concatenate(flags), np.concatenate(services)
    assert abs((level[burst] == "ERROR").mean() - 0.35) < 0.02
    assert abs((level[~burst] == "ERROR").mean() - 0.02) < 0.005
    assert len(np.unique(service[burst])) == 12
    trace = np.concatenate([logs.batch(50_000, NOW + 700_000).keys])
    assert abs(len(trace) / len(np.unique(trace)) - 4.0) < 0.2


def test_social_versions_crashes_and_geo() -> None:
    """Setup: 100 batches of 5,000 app events, upgrade rate 2%. Invariant: the newest version's
    share grows; the buggy version crashes 7 to 13 times as often as the others; every position is
    within 1 degree (latitude) or 2 (longitude) of its city, and the city is in the event's country."""
    social = Social(seed=7, upgrade_rate=0.02)
    latest = len(VERSIONS) - 1
    start_share = (social.version == latest).mean()
    crashes = {True: [0, 0], False: [0, 0]}
    city_lat = np.array([c[1] for c in CITIES.values()])
    city_lon = np.array([c[2] for c in CITIES.values()])
    for i in range(100):
        batch = social.batch(5_000, NOW + i * 100)
        versions = batch.data.column("app_version").dictionary.to_pylist()
        types = batch.data.column("event_type").dictionary.to_pylist()
        buggy = indices(batch, "app_version") == versions.index(social.shape.buggy_version)
        crash = indices(batch, "event_type") == types.index("crash")
        for flag in (True, False):
            crashes[flag][0] += crash[buggy == flag].sum()
            crashes[flag][1] += (buggy == flag).sum()
        city = indices(batch, "city")
        assert np.all(np.abs(batch.data.column("lat").to_numpy() - city_lat[city]) < 1)
        assert np.all(np.abs(batch.data.column("lon").to_numpy() - city_lon[city]) < 2)
        cities, countries = (
            batch.data.column("city").dictionary.to_pylist(),
            batch.data.column("country").dictionary.to_pylist(),
        )
        for c, k in set(zip(city.tolist(), indices(batch, "country").tolist(), strict=True)):
            assert CITIES[cities[c]][0] == countries[k]
    assert (social.version == latest).mean() > start_share + 0.05
    ratio = (crashes[True][0] / crashes[True][1]) / (crashes[False][0] / crashes[False][1])
    assert 7 < ratio < 13
