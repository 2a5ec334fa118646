"""ML inference in the stream: a Spark ML model trained on history in Delta, applied to each
micro-batch in the JVM (MLlib models transform streaming DataFrames directly; no Python UDF).

``train_classifier`` fits a logistic regression on a Delta table's numeric feature columns (scaled)
and saves the fitted pipeline; the ``score`` step loads it and adds the positive-class probability.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as F

from streamwise.pipeline.exceptions import PipelineError
from streamwise.pipeline.spec import ScoreStep
from streamwise.platform.storage import Location

if TYPE_CHECKING:
    from pyspark.ml import Estimator, Transformer
    from pyspark.sql import DataFrame, SparkSession

FEATURES = "_streamwise_features"


@dataclass(frozen=True)
class TrainingReport:
    """What training saw and how well the model separates the classes on held-out rows."""

    rows: int
    positives: int
    auc: float
    model_path: Location


def train_classifier(
    spark: SparkSession, table: Location, *, features: list[str], label: str, model_path: Location, seed: int = 7
) -> TrainingReport:
    """Fit scaler + logistic regression on ``table`` (80 % of rows), report AUC on the other 20 %, save."""
    from pyspark.ml import Pipeline as MlPipeline  # pyspark.ml loads only to train: other pipelines never pay for it
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.evaluation import BinaryClassificationEvaluator
    from pyspark.ml.feature import StandardScaler, VectorAssembler

    history = spark.read.format("delta").load(str(table))
    missing = [c for c in [*features, label] if c not in history.columns]
    if missing:
        raise PipelineError(
            f"{table} has no column(s) {', '.join(missing)}", hint=f"it has: {', '.join(history.columns)}"
        )
    data = history.select(*[F.col(c).cast("double") for c in features], F.col(label).cast("double").alias("label"))
    train, test = data.randomSplit([0.8, 0.2], seed=seed)
    stages: list[Estimator[Any] | Transformer] = [
        VectorAssembler(inputCols=features, outputCol="_raw", handleInvalid="keep"),
        StandardScaler(inputCol="_raw", outputCol=FEATURES),
        LogisticRegression(featuresCol=FEATURES, labelCol="label", maxIter=50),
    ]
    model = MlPipeline(stages=stages).fit(train)
    auc = BinaryClassificationEvaluator(labelCol="label").evaluate(model.transform(test))
    model.write().overwrite().save(str(model_path))
    counts = data.agg(F.count(F.lit(1)), F.sum("label")).first()
    if counts is None:  # a global aggregate has one row, even over no rows
        raise PipelineError(f"counting the rows of {table} returned nothing")
    return TrainingReport(int(counts[0]), int(counts[1] or 0), float(auc), model_path)


def score(df: DataFrame, step: ScoreStep, model_path: Location) -> DataFrame:
    """Add ``step.output``: the model's probability of the positive class, per row."""
    from pyspark.ml import PipelineModel  # pyspark.ml loads only for a score step
    from pyspark.ml.functions import vector_to_array

    if not model_path.exists():
        raise PipelineError(f"no model at {model_path}", hint="train one first: streamwise train --help")
    model = PipelineModel.load(str(model_path))
    scored = model.transform(df)
    extra = [c for c in scored.columns if c not in df.columns]
    return scored.withColumn(step.output, vector_to_array(F.col("probability"))[1]).drop(*extra)
