"""Per-key stateful anomaly detection: an exponentially weighted mean and variance per key, kept in
Spark's state store across micro-batches (``applyInPandasWithState``), flagging readings whose
z-score against the key's baseline *before* the reading exceeds a threshold.

Each group's rows are scored as whole pandas columns (the recurrences are run by pandas' ``ewm``),
not row by row. A key's state expires ``state_ttl`` of event time after its last reading (an
event-time timeout, driven by the watermark), so state stays bounded as keys come and go.

The scoring runs in the executors' Python. It travels there by value: the function closes over plain
values only, and this module's functions are pickled whole (cloudpickle), so an executor needs pandas,
numpy and pyspark, not streamwise or its other dependencies (Kafka, PostgreSQL, Redis clients ...).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pyspark import cloudpickle
from pyspark.sql.streaming.state import GroupStateTimeout

from streamwise.pipeline.spec import AnomalyStep, interval_ms

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

STATE_SCHEMA = "count LONG, mean DOUBLE, var DOUBLE, last_ms LONG"
OUTPUT_FIELDS = "event_time TIMESTAMP, value DOUBLE, baseline DOUBLE, stddev DOUBLE, z_score DOUBLE, is_anomaly BOOLEAN"


def score(
    values: np.ndarray, count: int, mean: float, var: float, alpha: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float]:
    """Baselines and z-scores for ``values`` (in time order) given the state before them.

    Returns (baseline_before, std_before, z, mean_after, var_after). With m, v the running mean and
    variance: d_t = x_t - m_{t-1}; m_t = m_{t-1} + a d_t; v_t = (1 - a)(v_{t-1} + a d_t^2).
    The first reading of a new key seeds the mean with itself.
    """
    x = pd.Series(values, dtype="float64")
    if count == 0:
        mean, var = float(x.iloc[0]), 0.0
    means = pd.concat([pd.Series([mean]), x], ignore_index=True).ewm(alpha=alpha, adjust=False).mean().to_numpy()
    before = means[:-1]
    d = x.to_numpy() - before
    y = pd.Series(np.concatenate([[var], (1 - alpha) * d**2]))
    variances = y.ewm(alpha=alpha, adjust=False).mean().to_numpy()
    std_before = np.sqrt(variances[:-1])
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(std_before > 0, d / std_before, 0.0)
    return before, std_before, z, float(means[-1]), float(variances[-1])


def detector(step: AnomalyStep, key_names: list[str]) -> Any:
    """The ``applyInPandasWithState`` function for ``step``: it closes over plain values, never the
    step itself (a streamwise class, which executors would have to import)."""
    # detect and score are pickled whole, not as references an executor would import (idempotent).
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ttl_ms = interval_ms(step.state_ttl)
    value, alpha, threshold, warmup = step.value, step.alpha, step.threshold, step.warmup
    emit_all = step.emit == "all"
    keys = list(key_names)

    def detect(key: tuple, frames: Iterator[pd.DataFrame], state: Any) -> Iterator[pd.DataFrame]:
        if state.hasTimedOut:
            state.remove()
            return
        frame = pd.concat(list(frames), ignore_index=True).sort_values("event_time", kind="stable")
        count, mean, var, last_ms = state.get if state.exists else (0, 0.0, 0.0, 0)
        values = frame[value].to_numpy(dtype="float64")
        before, std, z, mean, var = score(values, count, mean, var, alpha)
        position = np.arange(count, count + len(values))
        flagged = (position >= warmup) & (np.abs(z) > threshold)
        event_ms = frame["event_time"].astype("int64").to_numpy() // 1_000_000
        last_ms = max(int(last_ms), int(event_ms.max()))
        state.update((count + len(values), mean, var, last_ms))
        state.setTimeoutTimestamp(last_ms + ttl_ms)
        out = pd.DataFrame({name: frame[name].to_numpy() for name in keys})
        out = out.assign(
            event_time=frame["event_time"].to_numpy(),
            value=values,
            baseline=before,
            stddev=std,
            z_score=z,
            is_anomaly=flagged,
        )
        yield out if emit_all else out[out["is_anomaly"]]

    return detect


def detect_anomalies(df: DataFrame, step: AnomalyStep) -> DataFrame:
    """Score each reading of ``step.value`` per ``step.key`` against that key's running baseline."""
    types = dict(df.dtypes)
    key_ddl = ", ".join(f"{name} {types[name].upper()}" for name in step.key)
    return df.groupBy(*step.key).applyInPandasWithState(
        detector(step, step.key),
        outputStructType=f"{key_ddl}, {OUTPUT_FIELDS}",
        stateStructType=STATE_SCHEMA,
        outputMode="append",
        timeoutConf=GroupStateTimeout.EventTimeTimeout,
    )
