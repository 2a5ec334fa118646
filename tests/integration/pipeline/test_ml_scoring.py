"""ML scoring: a model trained on Delta history scores a stream of new payments in the JVM."""

from __future__ import annotations

import numpy as np

from streamwise.pipeline.ml import train_classifier
from streamwise.pipeline.spec import KafkaSource, PipelineSpec, ScoreStep, model_path
from streamwise.sinks import DeltaSink
from streamwise.testing import run_phases

T0 = 1_767_225_600_000


def payments(rng: np.random.Generator, n: int, fraud_rate: float) -> list[dict]:
    """Fraud is large, foreign and at night; honest payments are small, domestic, by day (with noise)."""
    fraud = rng.random(n) < fraud_rate
    amount = np.where(fraud, rng.normal(900, 150, n), rng.lognormal(3.5, 0.6, n))
    foreign = np.where(fraud, rng.random(n) < 0.9, rng.random(n) < 0.05).astype(int)
    hour = np.where(fraud, rng.integers(0, 5, n), rng.integers(8, 22, n))
    return [
        {
            "payment_id": f"p{i}",
            "amount": round(float(a), 2),
            "foreign": int(f),
            "hour": int(h),
            "is_fraud": int(y),
            "event_time": T0 + i,
        }
        for i, (a, f, h, y) in enumerate(zip(amount, foreign, hour, fraud, strict=False))
    ]


def test_model_from_history_scores_the_stream(spark, settings, topic_name) -> None:
    """Setup: 4,000 labelled historical payments in Delta (5 % fraud) train the model; 400 new payments
    stream through a pipeline with a score step.
    Invariants: held-out AUC > 0.95; every streamed payment gets a score in [0, 1]; ranking the stream
    by score puts the frauds first (AUC of the streamed scores > 0.95)."""
    rng = np.random.default_rng(3)
    history = settings.state / "warehouse" / topic_name / "history"
    spark.createDataFrame(payments(rng, 4000, 0.05)).write.format("delta").save(str(history))
    report = train_classifier(
        spark,
        history,
        features=["amount", "foreign", "hour"],
        label="is_fraud",
        model_path=model_path(topic_name, settings.state),
    )
    assert report.rows == 4000 and report.auc > 0.95

    spec = PipelineSpec(
        name=topic_name,
        source=KafkaSource(
            topic=topic_name,
            schema="payment_id STRING, amount DOUBLE, foreign INT, hour INT, is_fraud INT, event_time LONG",
        ),
        steps=[ScoreStep(type="score", model=topic_name, output="fraud_score")],
        sinks=[DeltaSink(type="delta", path=f"{topic_name}/scored")],
    )
    stream = payments(rng, 400, 0.1)
    run = run_phases(spark, settings, spec, [stream])
    scored = run.sinks[f"{topic_name}/scored"]
    assert len(scored) == 400 and scored["fraud_score"].between(0, 1).all()
    frauds = scored.loc[scored.is_fraud == 1, "fraud_score"].to_numpy()
    honest = scored.loc[scored.is_fraud == 0, "fraud_score"].to_numpy()
    auc = (frauds[:, None] > honest[None, :]).mean()
    print(f"streamed AUC {auc:.4f} over {len(frauds)} frauds and {len(honest)} honest payments")
    assert auc > 0.95
