"""FeaturePipeline as a scikit-learn transformer: inside Pipeline, clone, check_is_fitted,
get_feature_names_out, set_params."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
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


def test_columns_seen_in_fit_as_column_transformer(h, rng):
    """n_features_in_ and feature_names_in_ count every column of the data seen in fit, read or
    not, as ColumnTransformer's (whose other columns are dropped); input_columns_ are the ones
    read, and only those must be in the data given to transform."""
    df, _ = _frame(h, rng, int(rng.integers(5, 300)))
    df.insert(1, "unused", rng.normal(size=len(df)))
    df["also_unused"] = h.strings(rng, len(df))
    pipe = sw.FeaturePipeline({"age": sw.StandardScale(), "merchant": sw.OneHot()}).fit(df)
    ref = ColumnTransformer(
        [("age", StandardScaler(), ["age"]), ("m", OneHotEncoder(), ["merchant"])]
    ).fit(df)
    assert pipe.n_features_in_ == ref.n_features_in_ == df.shape[1]
    assert list(pipe.feature_names_in_) == list(ref.feature_names_in_) == list(df.columns)
    assert pipe.feature_names_in_.dtype == object
    assert pipe.input_columns_ == ["age", "merchant"]
    # The columns not read may be left out of the data to transform, as ColumnTransformer allows.
    h.assert_bits_equal(pipe.transform(df[["merchant", "age"]]), pipe.transform(df))
    # The state keeps them.
    loaded = sw.FeaturePipeline.from_dict(pipe.to_dict())
    assert list(loaded.feature_names_in_) == list(df.columns)
    assert loaded.n_features_in_ == df.shape[1]
    # input_features as scikit-learn checks them.
    assert list(pipe.get_feature_names_out(list(df.columns))) == pipe.feature_names_out_
    with pytest.raises(sw.errors.InvalidInputError, match="input_features"):
        pipe.get_feature_names_out(["age", "merchant"])


def test_2d_arrays_as_column_transformer(h, rng):
    """A 2-D array's columns are x0, x1, ...; the result is ColumnTransformer's on the same
    columns (its other columns dropped); the output is float32 whatever the input, as the tags
    say (float32 preserved, float64 not)."""
    from sklearn.utils import get_tags

    n, k = int(rng.integers(1, 400)), int(rng.integers(3, 9))
    X = rng.normal(rng.uniform(-50, 50, k), rng.uniform(0.1, 10, k), (n, k))
    if rng.random() < 0.5:
        X = np.asfortranarray(X)
    pipe = sw.FeaturePipeline({"x0": sw.StandardScale(), "x2": sw.MinMaxScale()})
    out = pipe.fit_transform(X)
    ref = ColumnTransformer(
        [("a", StandardScaler(), [0]), ("b", _min_max(), [2])], remainder="drop"
    ).fit(X)
    h.assert_f32_close(out, ref.transform(X))
    assert out.dtype == np.float32
    assert pipe.n_features_in_ == ref.n_features_in_ == k
    # No names in an array: no feature_names_in_, as scikit-learn's convention (and as
    # ColumnTransformer fit on an array).
    assert not hasattr(pipe, "feature_names_in_") and not hasattr(ref, "feature_names_in_")
    assert pipe.input_columns_ == ["x0", "x2"]
    assert list(pipe.get_feature_names_out([f"x{j}" for j in range(k)])) == ["x0", "x2"]
    assert get_tags(pipe).transformer_tags.preserves_dtype == ["float32"]
    assert get_tags(pipe).input_tags.two_d_array and not get_tags(pipe).input_tags.allow_nan
    # float32, integer, object and list-of-rows input, and a table with the generated names.
    h.assert_bits_equal(pipe.transform(X.astype(object)), out)
    h.assert_bits_equal(pipe.transform(X.tolist()), out)
    named = pa.table({f"x{j}": X[:, j] for j in range(k)})
    h.assert_bits_equal(pipe.transform(named), out)
    ints = rng.integers(-100, 100, (n, k))
    h.assert_f32_close(pipe.transform(ints), ref.transform(ints.astype(np.float64)))
    # An array of another width is refused, as scikit-learn refuses it.
    with pytest.raises(sw.errors.InvalidInputError, match=f"X has {k - 1} features, but"):
        pipe.transform(X[:, :-1])
    with pytest.raises(sw.errors.InvalidInputError, match="Reshape your data"):
        pipe.transform(X[0])
    # Refit on a table: its names come back; refit on an array: they go again.
    pipe.fit(named)
    assert list(pipe.feature_names_in_) == named.column_names
    pipe.fit(X)
    assert not hasattr(pipe, "feature_names_in_")
    loaded = sw.FeaturePipeline.from_dict(pipe.to_dict())
    assert not hasattr(loaded, "feature_names_in_") and loaded.n_features_in_ == k
    h.assert_bits_equal(loaded.transform(X), pipe.transform(X))


def test_2d_array_input_errors(rng):
    from scipy import sparse

    pipe = sw.FeaturePipeline({"x0": sw.StandardScale()})
    X = rng.normal(size=(20, 3))
    with pytest.raises(sw.errors.DTypeError, match="sparse"):
        pipe.fit(sparse.csr_matrix(X))
    with pytest.raises(sw.errors.InvalidInputError, match="0 feature"):
        pipe.fit(np.empty((5, 0)))
    bad = X.astype(object)
    bad[3, 0] = {"a": 1}
    with pytest.raises(sw.errors.DTypeError, match=r"column 'x0'.*must be a string or a"):
        pipe.fit(bad)
    with pytest.raises(sw.errors.DTypeError, match="complex"):
        pipe.fit(X.astype(np.complex128))
    with pytest.raises(sw.errors.InvalidInputError, match="NaN"):
        pipe.fit(np.where(X > 1, np.nan, X))
    with pytest.raises(sw.errors.MissingColumnError, match="'x5' is not in the data"):
        sw.FeaturePipeline({"x5": sw.StandardScale()}).fit(X)
    # Fit on named columns, given an array as wide: its columns are not those names.
    named = sw.FeaturePipeline({"b": sw.StandardScale()}).fit({"a": X[:, 0], "b": X[:, 1]})
    with pytest.raises(sw.errors.MissingColumnError, match=r"'b'.*an array's columns are x0"):
        named.transform(X[:, :2])


def _min_max():
    from sklearn.preprocessing import MinMaxScaler

    return MinMaxScaler()
