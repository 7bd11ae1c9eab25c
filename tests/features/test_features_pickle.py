"""pickle, copy.deepcopy and joblib: a FeaturePipeline (fitted or not, alone or inside a
scikit-learn Pipeline) travels as its parameters plus the document save() writes, and comes back
giving bit-identical features; the document is checked on the way in, as load() checks a file."""

from __future__ import annotations

import copy
import io
import json
import pickle
import pickletools

import joblib
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

import seawall as sw
from seawall._files import json_digest
from seawall.errors import IntegrityError, UnsupportedVersionError


def _table(h, rng, n):
    amount = h.floats(rng, n, "lognormal")
    missing = h.missing_mask(rng, n, 0.2)
    missing[:1] = False  # the imputers fit on at least one value (a table of 1 row included)
    amount[missing] = np.nan
    merchant = h.strings(rng, n, null_frac=0.1)
    if n and merchant[0] is None:
        merchant[0] = "first"
    return pa.table(
        {
            "amount": amount,
            "age": rng.integers(18, 90, n),
            "score": h.floats(rng, n, "normal"),
            "merchant": pa.array(merchant),
            "user": pa.array(h.strings(rng, n, distinct=40)),
        }
    )


def _features():
    return [
        ("amount", "amount", [sw.Impute("median", add_indicator=True), sw.Log1p()]),
        ("amount_scaled", "amount", [sw.Impute("mean"), sw.RobustScale(), sw.Clip(-3, 3)]),
        ("age", "age", [sw.Clip(quantiles=(0.05, 0.95)), sw.MinMaxScale()]),
        ("age_bin", "age", sw.Bucketize(n_bins=4)),
        ("score", "score", sw.StandardScale()),
        ("merchant", "merchant", sw.OneHot(min_frequency=2, unknown="other")),
        ("merchant_id", "merchant", [sw.Impute("most_frequent"), sw.Categorify()]),
        ("user", "user", sw.HashBucket(97)),
    ]


def _round_trips():
    def via_joblib(obj):
        buf = io.BytesIO()
        joblib.dump(obj, buf)
        buf.seek(0)
        return joblib.load(buf)

    return {
        "pickle": lambda obj: pickle.loads(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)),
        "pickle protocol 2": lambda obj: pickle.loads(pickle.dumps(obj, protocol=2)),
        "deepcopy": copy.deepcopy,
        "joblib": via_joblib,
    }


def _assert_same_pipeline(h, a, b, tables):
    assert b.to_dict() == a.to_dict()
    assert b.feature_names_out_ == a.feature_names_out_
    assert list(b.feature_names_in_) == list(a.feature_names_in_)
    assert b.n_features_in_ == a.n_features_in_
    for t in tables:
        h.assert_bits_equal(b.transform(t), a.transform(t))
        for row in t.slice(0, 5).to_pylist():
            h.assert_bits_equal(b.transform_one(row), a.transform_one(row))


@pytest.mark.parametrize("how", list(_round_trips()))
def test_fitted_pipeline_round_trips_bit_identical(h, rng, how):
    train, new = _table(h, rng, int(rng.integers(1, 400))), _table(h, rng, 50)
    pipe = sw.FeaturePipeline(_features()).fit(train)
    twin = _round_trips()[how](pipe)
    assert type(twin) is sw.FeaturePipeline and twin is not pipe
    _assert_same_pipeline(h, pipe, twin, [train, new])
    assert twin._plan is not pipe._plan
    # The parameters are the user's, unfitted, as before.
    assert repr(twin.get_params()) == repr(pipe.get_params())
    ops = [
        op
        for _, _, chain in twin.features
        for op in (chain if isinstance(chain, list) else [chain])
    ]
    assert not any(op.needs_fit and op.is_fitted for op in ops)


@pytest.mark.parametrize("how", list(_round_trips()))
def test_unfitted_pipeline_round_trips(h, rng, how):
    pipe = sw.FeaturePipeline(_features())
    twin = _round_trips()[how](pipe)
    assert not hasattr(twin, "features_") and repr(twin) == repr(pipe)
    with pytest.raises(sw.errors.NotFittedError):
        twin.transform(_table(h, rng, 3))
    train = _table(h, rng, int(rng.integers(1, 300)))
    h.assert_bits_equal(twin.fit(train).transform(train), pipe.fit(train).transform(train))


def test_pickle_carries_the_saved_document_not_the_native_plan(h, rng, tmp_path):
    pipe = sw.FeaturePipeline(_features()).fit(_table(h, rng, 200))
    payload = pickle.dumps(pipe)
    globals_named = {
        arg for op, arg, _ in pickletools.genops(payload) if op.name in ("GLOBAL", "STACK_GLOBAL")
    } | {
        arg
        for op, arg, _ in pickletools.genops(payload)
        if op.name in ("SHORT_BINUNICODE", "BINUNICODE") and "seawall" in str(arg)
    }
    assert not any("_core" in str(name) or "Plan" == str(name) for name in globals_named)
    state = pipe.__getstate__()
    text = state["_seawall_document"]
    pipe.save(tmp_path / "pipe.json")
    assert text == (tmp_path / "pipe.json").read_text("utf-8")


def _with_document(pipe, edit):
    state = pipe.__getstate__()
    document = json.loads(state["_seawall_document"])
    edit(document)
    state["_seawall_document"] = json.dumps(document)
    twin = sw.FeaturePipeline.__new__(sw.FeaturePipeline)
    return lambda: twin.__setstate__(state)


def test_unpickling_checks_the_document_as_load_does(h, rng):
    pipe = sw.FeaturePipeline(_features()).fit(_table(h, rng, 200))

    def tamper(document):
        document["features"][4]["ops"][0]["fitted"]["mean"] += 1.0

    with pytest.raises(IntegrityError, match="SHA-256 does not match"):
        _with_document(pipe, tamper)()
    with pytest.raises(IntegrityError, match="no SHA-256"):
        _with_document(pipe, lambda d: d.pop("sha256"))()

    def newer(document):
        document["format_version"] = 10**6
        document.pop("sha256")
        document["sha256"] = json_digest(document)

    with pytest.raises(UnsupportedVersionError, match="upgrade seawall"):
        _with_document(pipe, newer)()
    # Bytes edited inside a pickle are caught too, not only a rebuilt state.
    payload = pickle.dumps(pipe, protocol=pickle.HIGHEST_PROTOCOL)
    mean = b'"mean": ' + repr(pipe.features_[4].ops[0].mean_).encode()
    assert payload.count(mean) == 1  # the one StandardScale
    # Its leading digit, so that the number changes (a change in the 17th digit may not).
    at = next(i for i, c in enumerate(mean) if chr(c).isdigit())
    digit = b"2" if mean[at : at + 1] == b"1" else b"1"
    forged = payload.replace(mean, mean[:at] + digit + mean[at + 1 :])
    with pytest.raises(IntegrityError):
        pickle.loads(forged)


def _frame(h, rng, n):
    amount = h.floats(rng, n, "lognormal")
    amount[h.missing_mask(rng, n, 0.1)] = np.nan
    return pd.DataFrame(
        {
            "amount": amount,
            "age": rng.integers(18, 90, n).astype(np.float64),
            "merchant": pd.Series(h.strings(rng, n, distinct=6), dtype=object),
        }
    )


@pytest.mark.parametrize("how", list(_round_trips()))
def test_sklearn_pipeline_holding_one_round_trips(h, rng, how):
    df, new = _frame(h, rng, int(rng.integers(50, 500))), _frame(h, rng, 80)
    y = (rng.random(len(df)) < 0.4).astype(int)
    y[:2] = [0, 1]
    model = Pipeline(
        [
            (
                "features",
                sw.FeaturePipeline(
                    {
                        "amount": [sw.Impute("median"), sw.Log1p(), sw.StandardScale()],
                        "age": sw.RobustScale(),
                        "merchant": sw.OneHot(),
                    }
                ),
            ),
            ("clf", LogisticRegression(max_iter=500)),
        ]
    ).fit(df, y)
    twin = _round_trips()[how](model)
    np.testing.assert_array_equal(twin.predict_proba(new), model.predict_proba(new))
    h.assert_bits_equal(twin[:-1].transform(new), model[:-1].transform(new))


class NamedColumnsModel:
    """A model on rows of numbers that names the columns for the pipeline inside it (a class of
    this module: a bundle's pickle finds it by its module's name)."""

    def __init__(self, model: Pipeline, columns: list[str]) -> None:
        self.model = model
        self.columns = columns

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.model.predict(pd.DataFrame(x, columns=self.columns))

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(pd.DataFrame(x, columns=self.columns))


def test_sklearn_pipeline_holding_one_goes_into_a_bundle(h, rng, tmp_path):
    from seawall.serving import load_bundle, save_bundle

    n, k = int(rng.integers(60, 600)), 4
    X = rng.normal(0, 1, (n, k)) * rng.uniform(0.5, 20, k)
    y = (X[:, 0] / X[:, 0].std() + rng.normal(0, 1, n) > 0).astype(int)
    y[:2] = [0, 1]
    new = rng.normal(0, 1, (50, k)) * X.std(axis=0)
    features = {
        "x0": [sw.Impute("median"), sw.RobustScale()],
        "x1": sw.StandardScale(),
        "x3": sw.Bucketize(n_bins=4),
    }
    on_arrays = Pipeline(
        [("features", sw.FeaturePipeline(features)), ("clf", LogisticRegression())]
    ).fit(X, y)
    columns = ["amount", "age", "unused", "score"]
    named = {columns[int(c[1:])]: ops for c, ops in features.items()}
    on_frames = Pipeline(
        [("features", sw.FeaturePipeline(named)), ("clf", LogisticRegression())]
    ).fit(pd.DataFrame(X, columns=columns), y)
    for what, model, reference in [
        ("sklearn pipeline", on_arrays, on_arrays),
        ("module class", NamedColumnsModel(on_frames, columns), on_frames),
    ]:
        path = save_bundle(tmp_path / what.replace(" ", "-"), python_model=model, example=X[:5])
        bundle = load_bundle(path, trust_code=True)
        result = bundle.predict(new)
        data = new if model is on_arrays else pd.DataFrame(new, columns=columns)
        np.testing.assert_array_equal(result["predict"], reference.predict(data), err_msg=what)
        np.testing.assert_array_equal(
            result["predict_proba"], reference.predict_proba(data), err_msg=what
        )
