"""Shared serving fixtures: a fitted pipeline and models, and bundles. The helpers the tests
import by name (generated transactions, the oracle comparison, a real server) are in
serving_helpers.py: importing from a conftest picks whichever conftest was imported first."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest
from serving_helpers import pipeline, transactions


@pytest.fixture(scope="session")
def session_seed() -> int:
    fixed = os.environ.get("SEAWALL_TEST_SEED")
    value = int(fixed) if fixed else int(np.random.SeedSequence().entropy)  # type: ignore[arg-type]
    print(f"serving fixtures seed: {value}  (replay with SEAWALL_TEST_SEED={value})")
    return value


class Fitted:
    """A pipeline fitted on generated transactions, a classifier on its features (the oracle),
    and the classifier as ONNX."""

    def __init__(self, seed: int) -> None:
        from skl2onnx import to_onnx
        from skl2onnx.common.data_types import FloatTensorType
        from sklearn.linear_model import LogisticRegression

        rng = np.random.default_rng(seed % 2**32)
        self.train = transactions(rng, 3000)
        self.pipeline = pipeline().fit(self.train)
        X = self.pipeline.transform(self.train)
        y = (X @ rng.normal(size=X.shape[1]) + rng.normal(0, 0.5, len(X)) > 0).astype(np.int64)
        self.classifier = LogisticRegression(max_iter=500).fit(X, y)
        self.width = X.shape[1]
        self.onnx = to_onnx(
            self.classifier,
            initial_types=[("X", FloatTensorType([None, self.width]))],
            options={id(self.classifier): {"zipmap": False}},
        )
        import onnxruntime

        self.onnx_session = onnxruntime.InferenceSession(
            self.onnx.SerializeToString(), providers=["CPUExecutionProvider"]
        )

    def oracle(self, columns: Any) -> dict[str, np.ndarray]:
        X = self.pipeline.transform(columns)
        return {
            "label": self.classifier.predict(X),
            "probabilities": self.classifier.predict_proba(X),
        }


@pytest.fixture(scope="session")
def fitted(session_seed: int) -> Fitted:
    return Fitted(session_seed)


@pytest.fixture(scope="session")
def onnx_bundle(fitted: Fitted, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from seawall.serving import load_bundle, save_bundle

    path = tmp_path_factory.mktemp("bundles") / "fraud"
    save_bundle(path, onnx_model=fitted.onnx, pipeline=fitted.pipeline, version=3)
    return load_bundle(path)
