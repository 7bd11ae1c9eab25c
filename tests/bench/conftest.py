"""Shared fixtures of the load-generator tests: a real bundle (the demo's fraud features and a
logistic regression) and rows of its inputs."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from seawall.demo.loop_demo import FEATURES


@pytest.fixture(scope="session")
def fraud_rows() -> pa.Table:
    from seawall.demo import transactions

    return transactions(2000, seed=11)


@pytest.fixture(scope="session")
def fraud_bundle(fraud_rows: pa.Table, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sklearn.linear_model import LogisticRegression

    from seawall.demo import fraud_pipeline
    from seawall.serving import save_bundle

    features = fraud_rows.select(FEATURES)
    pipeline = fraud_pipeline().fit(features)
    model = LogisticRegression(max_iter=500).fit(
        pipeline.transform(features), fraud_rows["is_fraud"]
    )
    path = tmp_path_factory.mktemp("bench") / "fraud"
    save_bundle(
        path, python_model=model, pipeline=pipeline, name="fraud", example=features.slice(0, 5)
    )
    return path
