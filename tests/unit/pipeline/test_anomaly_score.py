"""The EWMA scoring behind the anomaly step, against a plain per-reading loop of the same recurrences."""

from __future__ import annotations

import numpy as np

from streamwise.pipeline.anomaly import score


def reference(values: list[float], count: int, mean: float, var: float, alpha: float) -> tuple[list[float], ...]:
    before, stds, zs = [], [], []
    if count == 0:
        mean, var = values[0], 0.0
    for x in values:
        d = x - mean
        std = var**0.5
        before.append(mean)
        stds.append(std)
        zs.append(d / std if std > 0 else 0.0)
        mean += alpha * d
        var = (1 - alpha) * (var + alpha * d * d)
    return before, stds, zs, [mean], [var]


def test_vectorised_score_matches_the_recurrence() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(20, 2, 500)
    values[[100, 300]] += 25
    for count, mean, var in ((0, 0.0, 0.0), (40, 19.0, 3.5)):
        got = score(values, count, mean, var, 0.05)
        want = reference(list(values), count, mean, var, 0.05)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(np.atleast_1d(g), w, rtol=1e-9, atol=1e-9)


def test_spike_gets_a_large_z_and_steady_data_does_not() -> None:
    values = np.r_[np.full(50, 10.0) + np.tile([0.1, -0.1], 25), [30.0], np.full(10, 10.0)]
    _, _, z, _, _ = score(values, 0, 0.0, 0.0, 0.1)
    assert abs(z[50]) > 50
    assert np.all(np.abs(z[5:50]) < 3)
