"""How quantile ops fit by default: exact (scikit-learn's numbers) on in-memory data of at most
EXACT_QUANTILES_MAX_ROWS rows, the sketch on streamed or larger input; ``exact`` overrides the
choice, and the fitted state records which was used."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import KBinsDiscretizer, RobustScaler

import seawall as sw
from seawall.features import ops as ops_module

RTOL = 1e-12


def _close(actual, expected, scale):
    """Equal to 1e-12 relative (of the value, or of the column's magnitude near zero)."""
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=RTOL * scale)


def _quantile_ops(rng):
    lo = float(rng.uniform(0, 45))
    return {
        "robust": sw.RobustScale(quantile_range=(lo, float(rng.uniform(55, 100)))),
        "median": sw.Impute("median"),
        "clip": sw.Clip(quantiles=(float(rng.uniform(0, 0.3)), float(rng.uniform(0.7, 1)))),
        "bins": sw.Bucketize(n_bins=int(rng.integers(2, 9))),
    }


@pytest.mark.parametrize("container", ["arrow", "pandas", "dict"])
def test_in_memory_default_is_exact_and_matches_sklearn(h, rng, container):
    n = int(rng.integers(1, 3000))
    kind = str(rng.choice([k for k in h.NUMERIC_KINDS if k not in ("huge", "tiny")]))
    x = h.floats(rng, n, kind)
    missing = h.missing_mask(rng, n, float(rng.uniform(0, 0.4)))
    missing[rng.integers(0, n)] = False
    with_nan = np.where(missing, np.nan, x)
    ops = _quantile_ops(rng)
    # The median imputation reads a copy of x with missing values (NaN); the other ops read x.
    pipe = sw.FeaturePipeline(
        [(name, "m" if name == "median" else "x", op) for name, op in ops.items()]
    )
    columns = {"x": x, "m": with_nan}
    data = {
        "arrow": pa.table(columns),
        "pandas": pd.DataFrame(columns),
        "dict": columns,
    }[container]
    pipe.fit(data)
    for f in pipe.features_:
        for op in f.ops:
            if op.needs_fit and "quantile_method" in op._fitted_names:
                assert op.quantile_method_ == "exact", f.name
    state = pipe.to_dict()
    assert all(
        op["fitted"]["quantile_method"] == "exact"
        for f in state["features"]
        for op in f["ops"]
        if "fitted" in op and "quantile_method" in op["fitted"]
    )
    scale = float(np.max(np.abs(x)))
    by_name = {f.name: f for f in pipe.features_}

    robust = by_name["robust"].ops[0]
    ref = RobustScaler(quantile_range=ops["robust"].quantile_range).fit(x[:, None])
    _close(robust.center_, ref.center_[0], scale)
    if ref.scale_[0] > 1e-10 * scale:  # sklearn takes a spread under 10 eps as zero (scale 1)
        _close(robust.scale_, ref.scale_[0], scale)

    imputer = SimpleImputer(strategy="median").fit(with_nan[:, None])
    _close(by_name["median"].ops[0].fill_value_, imputer.statistics_[0], scale)

    clip = by_name["clip"].ops[0]
    lo_q, hi_q = ops["clip"].quantiles
    _close([clip.lower_, clip.upper_], np.quantile(x, [lo_q, hi_q]), scale)

    bins = by_name["bins"].ops[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns when it merges bins
        kbins = KBinsDiscretizer(
            n_bins=ops["bins"].n_bins,
            encode="ordinal",
            strategy="quantile",
            quantile_method="linear",
            subsample=None,
        ).fit(x[:, None])
    _close(bins.boundaries_, kbins.bin_edges_[0][1:-1], scale)

    # And the features are sklearn's RobustScaler output, in float32.
    out = pipe.transform(columns)
    if ref.scale_[0] > 1e-10 * scale:
        h.assert_f32_close(out[:, 0], ref.transform(x[:, None])[:, 0])


def _methods(pipe):
    return {
        f.name: op.quantile_method_
        for f in pipe.features_
        for op in f.ops
        if op.needs_fit and "quantile_method" in op._fitted_names
    }


def test_streamed_input_uses_the_sketch(h, rng, tmp_path):
    n = int(rng.integers(500, 5000))
    table = pa.table({"x": h.floats(rng, n, "lognormal")})
    pq.write_table(table, tmp_path / "x.parquet", row_group_size=max(n // 3, 1))
    inputs = {
        "parquet file": lambda: tmp_path / "x.parquet",
        "list of batches": lambda: table.to_batches(max_chunksize=max(n // 4, 1)),
        "generator": lambda: iter(table.to_batches(max_chunksize=max(n // 4, 1))),
        "reader": lambda: pa.RecordBatchReader.from_batches(table.schema, table.to_batches()),
    }
    for what, make in inputs.items():
        pipe = sw.FeaturePipeline([(name, "x", op) for name, op in _quantile_ops(rng).items()])
        pipe.fit(make())
        assert set(_methods(pipe).values()) == {"sketch"}, what
        # exact=True forces exact quantiles on streamed input too.
        forced = sw.FeaturePipeline({"x": sw.RobustScale(exact=True)}).fit(make())
        assert forced.features_[0].ops[0].quantile_method_ == "exact", what
        expected = np.quantile(table["x"].to_numpy(), [0.25, 0.5, 0.75])
        assert forced.features_[0].ops[0].center_ == expected[1]
        assert forced.features_[0].ops[0].scale_ == expected[2] - expected[0]
    # exact=False forces the sketch on small in-memory data.
    small = sw.FeaturePipeline({"x": sw.RobustScale(exact=False)}).fit(table)
    assert small.features_[0].ops[0].quantile_method_ == "sketch"


def test_threshold_on_rows_in_memory(h, rng, monkeypatch):
    n = int(rng.integers(300, 3000))
    table = pa.table({"x": h.floats(rng, n, "cauchy")})
    monkeypatch.setattr(ops_module, "EXACT_QUANTILES_MAX_ROWS", n)
    at = sw.FeaturePipeline({"x": sw.RobustScale()}).fit(table)
    assert at.features_[0].ops[0].quantile_method_ == "exact"
    monkeypatch.setattr(ops_module, "EXACT_QUANTILES_MAX_ROWS", n - 1)
    above = sw.FeaturePipeline({"x": sw.RobustScale()}).fit(table)
    assert above.features_[0].ops[0].quantile_method_ == "sketch"


def test_documented_threshold(rng):
    """At the constant's own value: exact up to it, the sketch one row past it."""
    limit = ops_module.EXACT_QUANTILES_MAX_ROWS
    assert limit == 1_000_000  # the number README.md and the ops' docstring state
    x = rng.normal(size=limit + 1)
    at = sw.FeaturePipeline({"x": sw.Impute("median")}).fit({"x": x[:limit]})
    assert at.features_[0].ops[0].quantile_method_ == "exact"
    assert at.features_[0].ops[0].fill_value_ == np.median(x[:limit])
    above = sw.FeaturePipeline({"x": sw.Impute("median")}).fit({"x": x})
    assert above.features_[0].ops[0].quantile_method_ == "sketch"


def test_exact_must_be_a_bool_or_none(rng):
    with pytest.raises(sw.errors.InvalidInputError, match="exact must be True, False or None"):
        sw.FeaturePipeline({"x": sw.RobustScale(exact="yes")}).fit({"x": rng.normal(size=10)})
