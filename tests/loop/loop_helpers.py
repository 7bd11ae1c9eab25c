"""Helpers the loop tests import by name (the fixtures live in conftest.py): generated labelled
data in two regimes, a training function that saves bundles, and the score."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

import seawall
from seawall.serving import save_bundle
from slow_models import SlowClassifier


def make_data(rng: np.random.Generator, rows: int, regime: int) -> pa.Table:
    """Regime 0: the label follows x1 + x2. Regime 1: x1 shifts and the label follows x1 - x2
    (both covariate and concept drift), so a model of regime 0 is poor on regime 1."""
    x1 = rng.normal(2.0 * regime, 1.0, rows)
    x2 = rng.normal(0.0, 1.0, rows)
    noise = rng.normal(0.0, 0.5, rows)
    signal = x1 + x2 if regime == 0 else (x1 - 2.0) - x2
    return pa.table({"x1": x1, "x2": x2, "label": (signal + noise > 0).astype(np.int64)})


class Trainer:
    """Fits a logistic regression behind a FeaturePipeline and saves it as a bundle; counts
    calls. ``mode``: "good", "bad" (flipped labels: worse than chance) or "fail" (raises);
    ``delay_s`` > 0 makes every call of the saved model sleep that long first."""

    def __init__(self, tmp_path) -> None:
        self.tmp_path = tmp_path
        self.calls = 0
        self.mode = "good"
        self.delay_s = 0.0

    def __call__(self, data: pa.Table, run) -> str:
        self.calls += 1
        if self.mode == "fail":
            raise RuntimeError("the training cluster is on fire")
        features = data.drop_columns(["label"])
        y = data.column("label").to_numpy()
        if self.mode == "bad":
            y = 1 - y
        pipeline = seawall.FeaturePipeline(
            {"x1": seawall.StandardScale(), "x2": seawall.StandardScale()}
        ).fit(features)
        model = LogisticRegression().fit(pipeline.transform(features), y)
        run.log_params({"C": model.C})
        served = SlowClassifier(model, self.delay_s) if self.delay_s else model
        path = self.tmp_path / f"bundle-{self.calls}"
        save_bundle(
            path, python_model=served, pipeline=pipeline, name="churn", example=features.slice(0, 5)
        )
        return str(path)


def auc(y, outputs) -> float:
    return float(roc_auc_score(y, outputs["predict_proba"][:, 1]))
