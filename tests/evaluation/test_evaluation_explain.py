"""Permutation importance against sklearn.inspection.permutation_importance (same seed, same
repeats, same numbers) through a bundle's pipeline and through an estimator; partial dependence
against sklearn.inspection.partial_dependence on the same grid."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.inspection import partial_dependence as sk_partial_dependence
from sklearn.inspection import permutation_importance as sk_permutation_importance
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from seawall.bundles import load_bundle, save_bundle
from seawall.demo import fraud_pipeline, transactions
from seawall.errors import InvalidInputError, MissingColumnError
from seawall.evaluation import evaluate, partial_dependence, permutation_importance

FEATURES = ["amount", "hour", "account_age_days", "merchant", "country"]


@pytest.fixture
def fraud(tmp_path, rng):
    train = transactions(4_000, seed=int(rng.integers(1 << 30)))
    pipe = fraud_pipeline().fit(train.select(FEATURES))
    # float64 probabilities (LogisticRegression keeps float32 features in float32): both sides
    # then compute on the same float64 outputs
    model = make_pipeline(
        FunctionTransformer(np.asarray, kw_args={"dtype": np.float64}),
        LogisticRegression(max_iter=500),
    ).fit(pipe.transform(train), train["is_fraud"])
    save_bundle(
        tmp_path / "b",
        python_model=model,
        pipeline=pipe,
        example=train.select(FEATURES).slice(0, 3),
    )
    test = transactions(3_000, seed=int(rng.integers(1 << 30)))
    return load_bundle(tmp_path / "b", trust_code=True), make_pipeline(pipe, model), test


@pytest.mark.parametrize(
    ("metric", "scoring"), [("roc_auc", "roc_auc"), ("log_loss", "neg_log_loss")]
)
def test_permutation_importance_through_a_bundle_equals_sklearn(fraud, rng, metric, scoring):
    bundle, sk_model, test = fraud
    seed = int(rng.integers(1 << 31))
    ours = permutation_importance(
        bundle, test, "is_fraud", metric=metric, n_repeats=4, random_state=seed
    )
    X = test.select(FEATURES).to_pandas()
    y = test["is_fraud"].to_numpy()
    theirs = sk_permutation_importance(
        sk_model, X, y, scoring=scoring, n_repeats=4, random_state=seed
    )
    assert {f.feature for f in ours.features} == set(FEATURES)
    for f in ours.features:
        j = FEATURES.index(f.feature)
        assert f.values == pytest.approx(theirs.importances[j], rel=1e-9, abs=1e-12), f.feature
        assert f.mean == pytest.approx(theirs.importances_mean[j], rel=1e-9, abs=1e-12)
        assert f.std == pytest.approx(theirs.importances_std[j], rel=1e-9, abs=1e-12)
    assert [f.mean for f in ours.features] == sorted((f.mean for f in ours.features), reverse=True)


def test_permutation_importance_of_an_estimator_and_a_column_subset(rng):
    n = 2_000
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.normal(size=n)})
    y = 3 * X["a"] - X["b"] + rng.normal(0, 0.5, n)
    model = LinearRegression().fit(X, y)
    ours = permutation_importance(
        model, X, y.to_numpy(), task="regression", metric="r2", random_state=5, columns=["a", "c"]
    )
    theirs = sk_permutation_importance(model, X, y, scoring="r2", n_repeats=5, random_state=5)
    assert [f.feature for f in ours.features] == ["a", "c"]
    assert ours["a"].values == pytest.approx(theirs.importances[0], rel=1e-9)
    assert ours["c"].values == pytest.approx(theirs.importances[2], rel=1e-9, abs=1e-12)
    with pytest.raises(MissingColumnError, match="'z'"):
        permutation_importance(model, X, y.to_numpy(), task="regression", columns=["z"])
    with pytest.raises(InvalidInputError, match="n_repeats"):
        permutation_importance(model, X, y.to_numpy(), task="regression", n_repeats=0)


def test_partial_dependence_equals_sklearn_on_the_same_grid(fraud):
    bundle, sk_model, test = fraud
    ours = partial_dependence(bundle, test, ["amount", "merchant"], grid_resolution=8)
    X = test.select(FEATURES).to_pandas()
    amount, merchant = ours
    assert amount.kind == "numeric" and len(amount.grid) == 8
    assert merchant.kind == "categorical"
    for pd_ in ours:
        theirs = sk_partial_dependence(
            sk_model,
            X,
            [pd_.feature],
            custom_values={
                pd_.feature: np.asarray(
                    pd_.grid, dtype=object if pd_.kind == "categorical" else float
                )
            },
            categorical_features=[pd_.feature] if pd_.kind == "categorical" else None,
            kind="average",
            method="brute",
        )
        assert pd_.average == pytest.approx(theirs["average"][0], rel=1e-9)
    low, high = np.nanquantile(X["amount"].to_numpy(dtype=float), [0.05, 0.95])
    assert amount.grid == pytest.approx(np.linspace(low, high, 8))


def test_evaluate_adds_explanations_and_refuses_them_for_outputs(fraud):
    bundle, _, test = fraud
    ev = evaluate(
        bundle,
        test,
        "is_fraud",
        importance={"n_repeats": 2},
        partial_dependence=True,
        bootstrap=0,
        seed=9,
    )
    assert ev.importance is not None and ev.importance.n_repeats == 2
    assert ev.importance.random_state == 9
    assert [p.feature for p in ev.partial_dependence] == [
        f.feature for f in ev.importance.features[:3]
    ]
    with pytest.raises(InvalidInputError, match="need a model"):
        evaluate(np.full(test.num_rows, 0.5), test, "is_fraud", importance=True)
