"""Card payments: merchants, categories, currencies, card ids, and injected fraud (with ground truth).

Each card has a home country; most payments are domestic, at merchants whose popularity follows a
Zipf law within their country; amounts are log-normal per merchant category, in the country's
currency. About ``fraud_rate`` of the events are fraud (``is_fraud``), in three patterns:

- card testing: a burst of 5 tiny online payments on one card at different merchants;
- high value: one online payment of 10 to 40 times the category's median, abroad, at an
  electronics or jewellery merchant;
- impossible travel: the same card used in two countries within the same second.

Keyed by ``card_id`` (cards are drawn uniformly, so keys spread evenly).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from streamwise.ingest.scenario import EventBatch, GeneratorBase, Sampler, Vocabulary, register

# country: (currency, share of cards, decimals of the currency)
COUNTRIES: dict[str, tuple[str, float, int]] = {
    "US": ("USD", 0.38, 2),
    "GB": ("GBP", 0.12, 2),
    "DE": ("EUR", 0.12, 2),
    "FR": ("EUR", 0.10, 2),
    "ES": ("EUR", 0.07, 2),
    "NL": ("EUR", 0.05, 2),
    "JP": ("JPY", 0.08, 0),
    "CA": ("CAD", 0.05, 2),
    "BR": ("BRL", 0.03, 2),
}
# category: (share of merchants, median amount in USD, log-normal sigma, share of online payments)
CATEGORIES: dict[str, tuple[float, float, float, float]] = {
    "grocery": (0.22, 35.0, 0.7, 0.10),
    "restaurants": (0.20, 28.0, 0.6, 0.05),
    "fuel": (0.08, 45.0, 0.4, 0.0),
    "fashion": (0.12, 60.0, 0.8, 0.45),
    "electronics": (0.07, 180.0, 1.0, 0.60),
    "travel": (0.06, 320.0, 0.9, 0.80),
    "online_services": (0.15, 12.0, 0.6, 1.00),
    "jewellery": (0.02, 250.0, 1.1, 0.30),
    "pharmacy": (0.08, 22.0, 0.6, 0.10),
}
_RATE_TO_USD = {"USD": 1.0, "GBP": 1.27, "EUR": 1.08, "JPY": 0.0067, "CAD": 0.73, "BRL": 0.2}
_DOMESTIC = 0.93
_BURST = 5


@dataclass(frozen=True)
class PaymentsShape:
    """Knobs of the card and merchant population and of the fraud."""

    cards: int = 100_000
    merchants: int = 5_000
    zipf_exponent: float = 1.05
    fraud_rate: float = 0.002
    pattern_shares: tuple[float, float, float] = (0.4, 0.3, 0.3)  # card testing, high value, impossible travel


@register
class Payments(GeneratorBase[PaymentsShape]):
    """Seeded payments; the same seed gives the same cards, merchants, amounts and fraud."""

    name: ClassVar[str] = "payments"
    description: ClassVar[str] = "card payments: merchants, currencies, fraud patterns"
    key_field: ClassVar[str] = "card_id"
    shape_type: ClassVar[type] = PaymentsShape
    truth_flags: ClassVar[tuple[str, ...]] = ("is_fraud",)

    def setup(self) -> None:
        s = self.shape
        rng = self.rng
        countries, categories = list(COUNTRIES), list(CATEGORIES)
        self._cards = Vocabulary.numbered("card-%07d", s.cards)
        self._merchants = Vocabulary.numbered("m-%05d", s.merchants)
        self._countries, self._categories = Vocabulary(countries), Vocabulary(categories)
        self._currencies = Vocabulary([COUNTRIES[c][0] for c in countries])
        self._channels = Vocabulary(["pos", "online"])
        country_share = np.array([COUNTRIES[c][1] for c in countries])
        self.card_country = Sampler(country_share).sample(rng, s.cards)
        self.merchant_country = Sampler(country_share).sample(rng, s.merchants)
        self.merchant_category = Sampler([CATEGORIES[c][0] for c in categories]).sample(rng, s.merchants)
        popularity = np.arange(1, s.merchants + 1, dtype=np.float64) ** -s.zipf_exponent
        rng.shuffle(popularity)  # popular merchants are spread over countries and categories
        self._anywhere = Sampler(popularity)
        self._by_country = []
        for c in range(len(countries)):
            members = np.flatnonzero(self.merchant_country == c)
            self._by_country.append((members, Sampler(popularity[members]) if len(members) else None))
        table = np.array([CATEGORIES[c][1:] for c in categories])
        self._log_median, self._sigma, self._online = np.log(table[:, 0]), table[:, 1], table[:, 2]
        self._usd = np.array([_RATE_TO_USD[COUNTRIES[c][0]] for c in countries])
        self._decimals = np.array([COUNTRIES[c][2] for c in countries])
        self._risky = np.flatnonzero(
            np.isin(self.merchant_category, [categories.index("electronics"), categories.index("jewellery")])
        )

    def merchants(self) -> dict[str, list]:
        """The merchant population as reference data (id, country, category, risk tier), the rows a
        payments pipeline enriches from; electronics and jewellery, fraud's favourites, are high risk."""
        categories, countries = list(CATEGORIES), list(COUNTRIES)
        risky = set(self._risky.tolist())
        medium = {categories.index(c) for c in ("travel", "online_services") if c in categories}
        return {
            "merchant_id": self._merchants.column(np.arange(self.shape.merchants)).to_pylist(),
            "country": [countries[c] for c in self.merchant_country],
            "category": [categories[c] for c in self.merchant_category],
            "risk_tier": [
                "high" if i in risky else "medium" if c in medium else "low"
                for i, c in enumerate(self.merchant_category)
            ],
        }

    def batch(self, n: int, now_ms: int) -> EventBatch:
        """``n`` payments that happened up to ``now_ms``."""
        rng = self.rng
        card = rng.integers(0, self.shape.cards, n)
        home = self.card_country[card]
        merchant = self._anywhere.sample(rng, n)
        domestic = rng.random(n) < _DOMESTIC
        for c, (members, sampler) in enumerate(self._by_country):
            rows = np.flatnonzero(domestic & (home == c))
            if len(rows) and sampler is not None:
                merchant[rows] = members[sampler.sample(rng, len(rows))]
        category = self.merchant_category[merchant]
        usd = np.exp(self._log_median[category] + self._sigma[category] * rng.standard_normal(n))
        online = rng.random(n) < self._online[category]
        fraud = np.zeros(n, dtype=bool)
        self._inject_fraud(n, card, merchant, usd, online, fraud)
        country = self.merchant_country[merchant]
        amount = _round_to(usd / self._usd[country], self._decimals[country])
        ids = self.event_ids(n)
        columns = {
            "event_id": ids,
            "card_id": self._cards.column(card),
            "merchant_id": self._merchants.column(merchant),
            "category": self._categories.column(self.merchant_category[merchant]),
            "amount": amount,
            "currency": self._currencies.column(country),
            "country": self._countries.column(country),
            "channel": self._channels.column(online.astype(np.int8)),
            "event_time": self.event_times(n, now_ms),
        }
        return self.make_batch(columns, self._cards.keys[card], ids, is_fraud=fraud)

    def _inject_fraud(
        self, n: int, card: np.ndarray, merchant: np.ndarray, usd: np.ndarray, online: np.ndarray, fraud: np.ndarray
    ) -> None:
        """Overwrite some rows with the fraud patterns (in place); rows of one pattern share a card."""
        rng, s = self.rng, self.shape
        expected = n * s.fraud_rate
        bursts = rng.poisson(expected * s.pattern_shares[0] / _BURST)
        singles = rng.poisson(expected * s.pattern_shares[1])
        pairs = rng.poisson(expected * s.pattern_shares[2] / 2)
        while bursts * _BURST + singles + pairs * 2 > n:  # a tiny batch cannot hold them all
            bursts, singles, pairs = bursts // 2, singles // 2, pairs // 2
        total = bursts * _BURST + singles + pairs * 2
        if total == 0:
            return
        rows = rng.choice(n, total, replace=False)  # random positions, each group spread over the batch
        burst_rows = np.sort(rows[: bursts * _BURST].reshape(bursts, _BURST), axis=1)  # in time order
        single_rows = rows[bursts * _BURST : bursts * _BURST + singles]
        pair_rows = rows[bursts * _BURST + singles :].reshape(pairs, 2)
        fraud[rows] = True
        victims = rng.integers(0, s.cards, bursts + singles + pairs)
        card[burst_rows] = victims[:bursts, None]
        merchant[burst_rows] = self._anywhere.sample(rng, bursts * _BURST).reshape(bursts, _BURST)
        usd[burst_rows] = rng.uniform(0.5, 2.0, (bursts, _BURST))
        online[burst_rows] = True
        card[single_rows] = victims[bursts : bursts + singles]
        merchant[single_rows] = (
            self._risky[rng.integers(0, len(self._risky), singles)] if len(self._risky) else merchant[single_rows]
        )
        median = np.exp(self._log_median[self.merchant_category[merchant[single_rows]]])
        usd[single_rows] = median * rng.uniform(10, 40, singles)
        online[single_rows] = True
        card[pair_rows] = victims[bursts + singles :, None]
        # The second payment of a pair is at a merchant of another country than the first.
        first_country = self.merchant_country[merchant[pair_rows[:, 0]]]
        other = (first_country + rng.integers(1, len(self._by_country), pairs)) % len(self._by_country)
        for c in np.unique(other):
            members, sampler = self._by_country[c]
            if sampler is not None:
                picked = pair_rows[other == c, 1]
                merchant[picked] = members[sampler.sample(rng, len(picked))]


def _round_to(values: np.ndarray, decimals: np.ndarray) -> np.ndarray:
    """Round each value to its currency's number of decimals."""
    scale = 10.0**decimals
    return np.round(values * scale) / scale
