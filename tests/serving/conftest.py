"""Shared serving fixtures: generated transactions, a fitted pipeline and models, bundles, and a
real uvicorn server on a free loopback port (in a thread of the test process)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest

import seawall as sw

# --- data, pipeline, models --------------------------------------------------------------------

MERCHANTS = np.array([f"merchant_{i:02d}" for i in range(12)], dtype=object)


def transactions(rng: np.random.Generator, n: int) -> dict[str, list[Any]]:
    """Raw records as JSON would carry them: floats with some missing, strings, ints."""
    amount = np.round(rng.lognormal(3, 1, n), 2)
    merchant = MERCHANTS[rng.integers(0, len(MERCHANTS), n)]
    return {
        "amount": [
            None if m else float(a) for a, m in zip(amount, rng.random(n) < 0.05, strict=True)
        ],
        "merchant": [
            None if m else str(s) for s, m in zip(merchant, rng.random(n) < 0.05, strict=True)
        ],
        "age": [int(v) for v in rng.integers(18, 90, n)],
    }


def records(columns: dict[str, list[Any]]) -> list[dict[str, Any]]:
    names = list(columns)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def pipeline() -> sw.FeaturePipeline:
    return sw.FeaturePipeline(
        {
            "amount": [sw.Impute("median"), sw.Log1p(), sw.StandardScale()],
            "merchant": [sw.Impute("constant", fill_value="unknown"), sw.OneHot()],
            "age": sw.StandardScale(),
        }
    )


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


def assert_matches_oracle(outputs: dict[str, Any], expected: dict[str, np.ndarray]) -> None:
    """Probabilities to float32 precision (ONNX computes in float32, sklearn in float64); labels
    exactly, except where the two probabilities are too close to call."""
    proba = np.asarray(outputs["probabilities"], dtype=np.float64).reshape(
        expected["probabilities"].shape
    )
    np.testing.assert_allclose(proba, expected["probabilities"], rtol=0, atol=1e-5)
    label = np.asarray(outputs["label"]).reshape(-1)
    clear = np.abs(expected["probabilities"][:, 1] - 0.5) > 1e-4
    np.testing.assert_array_equal(label[clear], expected["label"][clear])


# --- a real server ---------------------------------------------------------------------------


def running(app: Any) -> Any:
    """Runs `app` with uvicorn on a free loopback port in a thread; yields its base URL."""
    from seawall.serving import serve_in_thread

    return serve_in_thread(app, http="h11")
