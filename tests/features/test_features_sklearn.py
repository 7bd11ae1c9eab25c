"""FeaturePipeline as a scikit-learn transformer: inside Pipeline, clone, check_is_fitted,
get_feature_names_out, set_params."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted

import seawall as sw


def _frame(h, rng, n):
    amount = rng.lognormal(3, 1, n)
    merchant = h.strings(rng, n, distinct=8, null_frac=0.0)
    amount_missing = h.missing_mask(rng, n, 0.1)
    df = pd.DataFrame(
        {
            "amount": np.where(amount_missing, np.nan, amount),
            "age": rng.integers(18, 90, n),
            "merchant": pd.Series(merchant, dtype=object),
        }
    )
    logit = (
        0.8 * (np.log1p(amount) - 3)
        + 0.03 * (df["age"] - 50)
        + np.where(df["merchant"] == merchant[0], 1.0, -0.5)
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return df, y


def _features():
    return sw.FeaturePipeline(
        {
            "amount": [sw.Impute("mean"), sw.Log1p(), sw.StandardScale()],
            "age": sw.StandardScale(),
            "merchant": sw.OneHot(min_frequency=3),
        }
    )


def _sklearn_features():
    return ColumnTransformer(
        [
            (
                "amount",
                make_pipeline(SimpleImputer(strategy="mean"), _log1p(), StandardScaler()),
                ["amount"],
            ),
            ("age", StandardScaler(), ["age"]),
            (
                "merchant",
                OneHotEncoder(
                    min_frequency=3, handle_unknown="infrequent_if_exist", sparse_output=False
                ),
                ["merchant"],
            ),
        ],
        verbose_feature_names_out=False,
    )


def _log1p():
    from sklearn.preprocessing import FunctionTransformer

    return FunctionTransformer(np.log1p, feature_names_out="one-to-one")


def test_inside_sklearn_pipeline_with_logistic_regression(h, rng):
    df, y = _frame(h, rng, int(rng.integers(200, 2000)))
    test, _ = _frame(h, rng, 300)
    model = Pipeline([("features", _features()), ("clf", LogisticRegression(max_iter=1000))])
    model.fit(df, y)
    pred = model.predict(test)
    proba = model.predict_proba(test)
    # The features inside the pipeline are scikit-learn's own preprocessing, to float32.
    ref = _sklearn_features().fit(df)
    names = [
        ("merchant_infrequent" if n == "merchant_infrequent_sklearn" else n)
        for n in ref.get_feature_names_out()
    ]
    inner = model.named_steps["features"]
    assert sorted(inner.feature_names_out_) == sorted(names)
    order = [names.index(n) for n in inner.feature_names_out_]
    h.assert_f32_close(model[:-1].transform(test), ref.transform(test)[:, order])
    # And the classifier is the one fit on exactly those features.
    direct = LogisticRegression(max_iter=1000).fit(_features().fit_transform(df), y)
    np.testing.assert_array_equal(pred, direct.predict(inner.transform(test)))
    np.testing.assert_allclose(proba, direct.predict_proba(inner.transform(test)), rtol=0, atol=0)
    assert list(model[:-1].get_feature_names_out()) == inner.feature_names_out_


def test_get_feature_names_out(h, rng):
    df, _ = _frame(h, rng, 500)
    pipe = _features().fit(df)
    names = pipe.get_feature_names_out()
    assert isinstance(names, np.ndarray) and names.dtype == object
    kept, infrequent = h.vocabulary_oracle(list(df["merchant"]), 3, None, infrequent_slot=True)
    expected = (
        ["amount", "age"]
        + [f"merchant_{v}" for v in kept]
        + (["merchant_infrequent"] if infrequent else [])
    )
    assert list(names) == expected
    assert pipe.transform(df).shape == (len(df), len(expected))
    assert (
        list(pipe.feature_names_in_) == ["amount", "age", "merchant"] and pipe.n_features_in_ == 3
    )


def test_clone_and_check_is_fitted(h, rng):
    df, y = _frame(h, rng, 400)
    pipe = _features()
    with pytest.raises(SklearnNotFittedError):
        check_is_fitted(pipe)
    with pytest.raises(sw.errors.NotFittedError) as info:
        pipe.transform(df)
    assert isinstance(info.value, (ValueError, AttributeError))
    pipe.fit(df, y)
    check_is_fitted(pipe)

    twin = clone(pipe)
    assert type(twin) is sw.FeaturePipeline and twin is not pipe
    with pytest.raises(SklearnNotFittedError):
        check_is_fitted(twin)
    assert twin.get_params()["features"].keys() == pipe.get_params()["features"].keys()
    h.assert_bits_equal(twin.fit(df).transform(df), pipe.transform(df))
    # Fitting never touched the ops the user passed in (scikit-learn's rule for parameters).
    user_ops = pipe.get_params()["features"]["amount"]
    assert not any(hasattr(op, "mean_") or hasattr(op, "fill_value_") for op in user_ops)


def test_set_params_refits_with_new_ops(h, rng):
    df, _ = _frame(h, rng, 300)
    pipe = _features().fit(df)
    pipe.set_params(features={"age": sw.MinMaxScale()})
    out = pipe.fit(df).transform(df)
    age = df["age"].to_numpy(dtype=np.float64)
    h.assert_f32_close(out, (age - age.min()) / (age.max() - age.min()))
    with pytest.raises(sw.errors.InvalidInputError, match="no parameter"):
        pipe.set_params(bogus=1)


def test_grid_search_over_feature_pipelines(h, rng):
    from sklearn.model_selection import GridSearchCV

    df, y = _frame(h, rng, 600)
    model = Pipeline([("features", _features()), ("clf", LogisticRegression(max_iter=500))])
    grid = GridSearchCV(
        model,
        {
            "features__features": [
                {"age": sw.StandardScale()},
                {"age": sw.StandardScale(), "merchant": sw.OneHot()},
            ]
        },
        cv=3,
    )
    grid.fit(df, y)
    # The chosen candidate, refit, predicts exactly as the same pipeline built by hand.
    best = grid.best_params_["features__features"]
    manual = Pipeline(
        [("features", sw.FeaturePipeline(best)), ("clf", LogisticRegression(max_iter=500))]
    ).fit(df, y)
    np.testing.assert_array_equal(grid.predict(df), manual.predict(df))
