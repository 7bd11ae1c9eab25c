"""Every feature op against an independent oracle (scikit-learn, numpy in float64, xxhash).

Data are random with a fresh seed per test (printed on failure), and include NaNs and nulls
where the op accepts them, huge and tiny magnitudes, ties, one row and unicode strings.
"""

from __future__ import annotations

import warnings

import numpy as np
import pyarrow as pa
import pytest
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import (
    KBinsDiscretizer,
    MinMaxScaler,
    OneHotEncoder,
    RobustScaler,
    StandardScaler,
)

import seawall as sw
from seawall.features import quantile_rank_error

# --- StandardScale --------------------------------------------------------------------------


@pytest.mark.parametrize("with_mean", [True, False])
@pytest.mark.parametrize("with_std", [True, False])
def test_standard_scale_matches_sklearn(h, rng, with_mean, with_std):
    n = int(rng.integers(1, 3000))
    # Unscaled outputs must fit float32: huge values only where they are scaled down.
    kinds = [
        str(k)
        for k in rng.choice([k for k in h.NUMERIC_KINDS if (with_std and n > 1) or k != "huge"], 3)
    ]
    cols = {f"x{i}": h.floats(rng, n, k) for i, k in enumerate(kinds)}
    cols["const"] = np.full(n, rng.normal() * 1e3)  # constant column: scale 1, as sklearn
    cols["f32"] = h.floats(rng, n, "normal").astype(np.float32)
    cols["i64"] = rng.integers(-(10**6), 10**6, n)
    pipe = sw.FeaturePipeline(
        {c: sw.StandardScale(with_mean=with_mean, with_std=with_std) for c in cols}
    )
    out = pipe.fit(cols).transform(cols)

    X = np.column_stack([np.asarray(v, dtype=np.float64) for v in cols.values()])
    ref = StandardScaler(with_mean=with_mean, with_std=with_std).fit(X)
    h.assert_f32_close(out, ref.transform(X))
    for j, feature in enumerate(pipe.features_):
        op = feature.ops[0]
        col = X[:, j]
        scale = np.max(np.abs(col))  # summation error is relative to the values, not the mean
        if with_mean:
            assert abs(op.mean_ - np.mean(col)) <= 1e-12 * scale
        else:
            assert op.mean_ == 0.0
        if with_std and np.ptp(col) > 0:
            # Block-wise moments (Chan's merge) on the 1e6 + N(0, 0.01) cancellation trap keep
            # about 8 digits, ample for float32 outputs.
            assert op.scale_ == pytest.approx(np.std(col), rel=1e-7)
        else:
            assert op.scale_ == 1.0
    assert pipe.features_[3].ops[0].scale_ == 1.0  # the constant column


def test_standard_scale_new_data_and_one_row(h, rng):
    train = h.floats(rng, 500)
    test = train[rng.integers(0, 500, 50)] + rng.normal(0, 1, 50) * np.std(train)
    pipe = sw.FeaturePipeline({"x": sw.StandardScale()}).fit({"x": train})
    h.assert_f32_close(
        pipe.transform({"x": test}), StandardScaler().fit(train[:, None]).transform(test[:, None])
    )
    one = np.array([rng.normal() * 1e5])
    out = sw.FeaturePipeline({"x": sw.StandardScale()}).fit({"x": one}).transform({"x": one})
    h.assert_f32_close(out, StandardScaler().fit_transform(one[:, None]))


# --- MinMaxScale ----------------------------------------------------------------------------


@pytest.mark.parametrize("clip", [False, True])
def test_min_max_scale_matches_sklearn(h, rng, clip):
    n = int(rng.integers(1, 2000))
    kinds = [k for k in h.NUMERIC_KINDS if n > 1 or k != "huge"]  # one row: range 0, unscaled
    train = {f"x{i}": h.floats(rng, n, str(rng.choice(kinds))) for i in range(4)}
    train["const"] = np.full(n, 7.25)
    train["i32"] = rng.integers(-1000, 1000, n).astype(np.int32)
    X = np.column_stack([np.asarray(v, dtype=np.float64) for v in train.values()])
    # New data reaching outside the fitted range on both sides.
    lo, hi = X.min(axis=0), X.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    Xn = lo + span * rng.uniform(-0.5, 1.5, (300, X.shape[1]))
    new = {c: Xn[:, j] for j, c in enumerate(train)}

    pipe = sw.FeaturePipeline({c: sw.MinMaxScale(clip=clip) for c in train}).fit(train)
    ref = MinMaxScaler(clip=clip).fit(X)
    # sklearn treats a range below 10 * machine epsilon as zero (scale 1), even when the values
    # are all that small; seawall divides by the range. Compare those columns with numpy.
    normal = ref.data_range_ > 1e-10
    out_train, out = pipe.transform(train), pipe.transform(new)
    h.assert_f32_close(out_train[:, normal], ref.transform(X)[:, normal])
    h.assert_f32_close(out[:, normal], ref.transform(Xn)[:, normal])
    formula = (Xn - lo) / span
    h.assert_f32_close(out, np.clip(formula, 0, 1) if clip else formula)
    if clip:
        assert out.min() >= 0.0 and out.max() <= 1.0
    for j, f in enumerate(pipe.features_):
        assert f.ops[0].min_ == X[:, j].min() and f.ops[0].max_ == X[:, j].max()


# --- RobustScale ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "quantile_range,with_centering,with_scaling",
    [
        ((25.0, 75.0), True, True),
        ((10.0, 90.0), True, True),
        ((5.0, 60.0), False, True),
        ((1.0, 99.0), True, False),
        ((50.0, 50.0), True, True),
    ],
)
def test_robust_scale_exact_matches_sklearn(h, rng, quantile_range, with_centering, with_scaling):
    n = int(rng.integers(1, 2500))
    scaled = with_scaling and quantile_range[0] < quantile_range[1] and n > 3
    kinds = [k for k in h.NUMERIC_KINDS if scaled or k != "huge"]
    cols = {f"x{i}": h.floats(rng, n, str(rng.choice(kinds))) for i in range(4)}
    cols["const"] = np.full(n, -3.0)
    cols["i64"] = rng.integers(-50, 50, n)
    X = np.column_stack([np.asarray(v, dtype=np.float64) for v in cols.values()])
    op = sw.RobustScale(
        quantile_range=quantile_range,
        with_centering=with_centering,
        with_scaling=with_scaling,
        exact=True,
    )
    pipe = sw.FeaturePipeline({c: op for c in cols}).fit(cols)
    ref = RobustScaler(
        quantile_range=quantile_range, with_centering=with_centering, with_scaling=with_scaling
    ).fit(X)
    out = pipe.transform(cols)
    # sklearn treats an IQR below 10 * machine epsilon as zero (scale 1); seawall only exact 0.
    normal = ~with_scaling | (
        np.percentile(X, quantile_range[1], axis=0) - np.percentile(X, quantile_range[0], axis=0)
        > 1e-10
    )
    h.assert_f32_close(out[:, normal], ref.transform(X)[:, normal])
    for j, f in enumerate(pipe.features_):
        col = X[:, j]
        # numpy's "linear" quantiles, bit for bit (sklearn's nanmedian averages: within an ulp).
        q_lo, median, q_hi = np.quantile(
            col, [quantile_range[0] / 100, 0.5, quantile_range[1] / 100]
        )
        assert f.ops[0].center_ == (median if with_centering else 0.0)
        # (a + b) / 2 and a + (b - a) / 2 differ by rounding relative to the values, not the median.
        assert abs(
            f.ops[0].center_ - (ref.center_[j] if with_centering else 0.0)
        ) <= 1e-15 * np.max(np.abs(col))
        expected_scale = q_hi - q_lo if (with_scaling and q_hi > q_lo) else 1.0
        assert f.ops[0].scale_ == expected_scale
        h.assert_f32_close(out[:, j], (col - f.ops[0].center_) / expected_scale)


def test_robust_scale_sketch_within_rank_error(h, rng):
    n = 60_000
    eps = quantile_rank_error()
    data = {
        "heavy": rng.standard_cauchy(n),
        "lognormal": rng.lognormal(0, 3, n),
        "ints": rng.integers(0, 40, n),
    }
    qr = (float(rng.uniform(1, 40)), float(rng.uniform(60, 99)))
    pipe = sw.FeaturePipeline(
        {c: sw.RobustScale(quantile_range=qr, exact=False) for c in data}
    ).fit(data)
    assert all(f.ops[0].quantile_method_ == "sketch" for f in pipe.features_)
    for f in pipe.features_:
        values = np.sort(np.asarray(data[f.column], dtype=np.float64))
        op = f.ops[0]
        h.assert_rank_within(values, op.center_, 0.5, eps, f"{f.column} center")
        lo_min, lo_max = h.exact_quantile_range(values, qr[0] / 100, eps)
        hi_min, hi_max = h.exact_quantile_range(values, qr[1] / 100, eps)
        assert hi_min - lo_max <= op.scale_ <= hi_max - lo_min or op.scale_ == 1.0
    # And the transform is (x - center) / scale with the fitted numbers.
    x = np.asarray(data["heavy"][:1000], dtype=np.float64)
    op = pipe.features_[0].ops[0]
    out = pipe.transform({c: v[:1000] for c, v in data.items()})
    h.assert_f32_close(out[:, 0], (x - op.center_) / op.scale_)


# --- Log1p ----------------------------------------------------------------------------------


def test_log1p_matches_numpy(h, rng):
    n = int(rng.integers(1, 3000))
    cols = {
        "small": rng.uniform(-0.999999, 1, n),
        "wide": np.abs(h.floats(rng, n)) * rng.choice([1, -1e-3], n),
        "huge": rng.uniform(0, 1, n) * 1e300,
        "f32": rng.lognormal(0, 2, n).astype(np.float32),
        "u16": rng.integers(0, 60000, n).astype(np.uint16),
    }
    cols["wide"] = np.maximum(cols["wide"], -0.9)
    out = sw.FeaturePipeline({c: sw.Log1p() for c in cols}).fit(cols).transform(cols)
    h.assert_f32_close(
        out, np.column_stack([np.log1p(np.asarray(v, dtype=np.float64)) for v in cols.values()])
    )


# --- Clip -----------------------------------------------------------------------------------


def test_clip_fixed_matches_numpy(h, rng):
    n = int(rng.integers(1, 2000))
    x = h.floats(rng, n, "normal")
    lo, hi = sorted(rng.normal(np.mean(x), np.std(x) + 1, 2))
    ops = {"both": sw.Clip(lo, hi), "lower": sw.Clip(lower=lo), "upper": sw.Clip(upper=hi)}
    pipe = sw.FeaturePipeline([(name, "x", op) for name, op in ops.items()]).fit({"x": x})
    out = pipe.transform({"x": x})
    h.assert_f32_close(
        out, np.column_stack([np.clip(x, lo, hi), np.maximum(x, lo), np.minimum(x, hi)])
    )


def test_clip_quantiles_exact_matches_numpy(h, rng):
    n = int(rng.integers(1, 3000))
    x = h.floats(rng, n, str(rng.choice([k for k in h.NUMERIC_KINDS if k != "huge"])))
    q_lo, q_hi = sorted(rng.uniform(0, 1, 2).tolist())
    ops = {
        "both": sw.Clip(quantiles=(q_lo, q_hi), exact=True),
        "lo": sw.Clip(quantiles=(q_lo, None), exact=True),
        "hi": sw.Clip(quantiles=(None, q_hi), exact=True),
    }
    pipe = sw.FeaturePipeline([(name, "x", op) for name, op in ops.items()]).fit({"x": x})
    lo, hi = np.quantile(x, q_lo), np.quantile(x, q_hi)
    both, lo_only, hi_only = (f.ops[0] for f in pipe.features_)
    assert (both.lower_, both.upper_) == (lo, hi)  # numpy's "linear" definition, bit for bit
    assert (lo_only.lower_, lo_only.upper_) == (lo, None)
    assert (hi_only.lower_, hi_only.upper_) == (None, hi)
    new = x + rng.normal(0, np.std(x) + 1, n)
    out = pipe.transform({"x": new})
    h.assert_f32_close(
        out, np.column_stack([np.clip(new, lo, hi), np.maximum(new, lo), np.minimum(new, hi)])
    )


def test_clip_quantiles_sketch_within_rank_error(h, rng):
    n = 50_000
    x = rng.pareto(1.5, n) * rng.choice([-1, 1], n)
    q_lo, q_hi = float(rng.uniform(0, 0.2)), float(rng.uniform(0.8, 1))
    pipe = sw.FeaturePipeline({"x": sw.Clip(quantiles=(q_lo, q_hi), exact=False)}).fit({"x": x})
    op = pipe.features_[0].ops[0]
    s = np.sort(x)
    h.assert_rank_within(s, op.lower_, q_lo, quantile_rank_error(), "lower")
    h.assert_rank_within(s, op.upper_, q_hi, quantile_rank_error(), "upper")


# --- Impute ---------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["mean", "median", "most_frequent", "constant"])
@pytest.mark.parametrize("missing_as", ["nan", "null", "both"])
def test_impute_numeric_matches_sklearn(h, rng, strategy, missing_as):
    n = int(rng.integers(2, 1500))
    # most_frequent needs repeats (and ties) to choose among; unscaled outputs must fit float32.
    kind = (
        "ints"
        if strategy == "most_frequent"
        else str(rng.choice([k for k in h.NUMERIC_KINDS if k != "huge"]))
    )
    x = h.floats(rng, n, kind)
    miss = h.missing_mask(rng, n, float(rng.uniform(0.05, 0.6)))
    miss[rng.integers(0, n)] = False  # at least one value
    miss[rng.integers(0, n)] = True  # at least one missing value
    if missing_as == "nan":
        nulls, arr = None, pa.array(np.where(miss, np.nan, x))
    elif missing_as == "null":
        nulls, arr = miss, h.arrow_numeric(x, miss)
    else:
        nulls = miss & (rng.random(n) < 0.5)
        arr = h.arrow_numeric(np.where(miss & ~nulls, np.nan, x), nulls)
    fill = float(rng.normal() * 100) if strategy == "constant" else None
    pipe = sw.FeaturePipeline({"x": sw.Impute(strategy, fill_value=fill, exact=True)}).fit(
        pa.table({"x": arr})
    )
    xn = np.where(miss, np.nan, x)
    ref = SimpleImputer(strategy=strategy, fill_value=fill if fill is not None else 0.0).fit(
        xn[:, None]
    )
    new = np.where(h.missing_mask(rng, n, 0.5), np.nan, h.floats(rng, n, "normal"))
    h.assert_f32_close(pipe.transform(pa.table({"x": arr})), ref.transform(xn[:, None]))
    h.assert_f32_close(pipe.transform({"x": new}), ref.transform(new[:, None]))
    fitted = pipe.features_[0].ops[0]
    if strategy == "mean":
        assert abs(fitted.fill_value_ - ref.statistics_[0]) <= 1e-12 * np.max(np.abs(x[~miss]))
    elif strategy == "median":  # numpy's linear quantile, bit for bit; sklearn averages
        assert fitted.fill_value_ == np.quantile(x[~miss], 0.5)
        assert abs(fitted.fill_value_ - ref.statistics_[0]) <= 1e-15 * np.max(np.abs(x[~miss]))
    elif strategy == "most_frequent":
        assert fitted.fill_value_ == ref.statistics_[0]


@pytest.mark.parametrize("strategy", ["mean", "median", "most_frequent", "constant"])
def test_impute_add_indicator_matches_sklearn(h, rng, strategy):
    n = int(rng.integers(2, 1000))
    x = h.floats(rng, n, "ints")
    miss = h.missing_mask(rng, n, 0.3)
    miss[0], miss[-1] = True, False
    nulls = miss & (rng.random(n) < 0.5)
    table = pa.table({"x": h.arrow_numeric(np.where(miss & ~nulls, np.nan, x), nulls)})
    pipe = sw.FeaturePipeline({"x": sw.Impute(strategy, add_indicator=True, exact=True)}).fit(table)
    assert pipe.feature_names_out_ == ["x", "x_missing"]
    xn = np.where(miss, np.nan, x)[:, None]
    ref = SimpleImputer(strategy=strategy, add_indicator=True, fill_value=0.0).fit(xn)
    h.assert_f32_close(pipe.transform(table), ref.transform(xn))


@pytest.mark.parametrize("strategy", ["most_frequent", "constant"])
@pytest.mark.parametrize("add_indicator", [False, True])
def test_impute_strings_matches_sklearn(h, rng, strategy, add_indicator):
    n = int(rng.integers(2, 1500))
    train = h.strings(rng, n, null_frac=float(rng.uniform(0.05, 0.5)))
    train[0] = None
    if all(v is None for v in train):
        train[1] = "x"
    fill = "🙂fill" if (strategy == "constant" and rng.random() < 0.5) else None
    pipe = sw.FeaturePipeline(
        {"s": [sw.Impute(strategy, fill_value=fill, add_indicator=add_indicator), sw.OneHot()]}
    )
    pipe.fit({"s": train})

    # Oracle: sklearn imputes the strings, then one-hot encodes them.
    X = np.array(train, dtype=object)[:, None]
    imp = SimpleImputer(
        strategy=strategy,
        missing_values=None,
        fill_value=fill if fill is not None else "missing_value",
        add_indicator=add_indicator,
    ).fit(X)
    imputed = imp.transform(X)
    enc = OneHotEncoder(handle_unknown="ignore", sparse_output=False).fit(imputed[:, :1])
    test = train + h.strings(rng, 50, null_frac=0.3, prefix="new")
    Xt = np.array(test, dtype=object)[:, None]
    it = imp.transform(Xt)
    expected = h.sklearn_onehot_by_name(enc, "s", it[:, :1])
    out = pipe.transform({"s": test})
    names = pipe.feature_names_out_
    assert set(names) == set(expected) | ({"s_missing"} if add_indicator else set())
    for j, name in enumerate(names):
        if name == "s_missing":
            np.testing.assert_array_equal(out[:, j], it[:, 1].astype(np.float64))
        else:
            np.testing.assert_array_equal(out[:, j], expected[name], err_msg=name)
    if strategy == "most_frequent":
        assert pipe.features_[0].ops[0].fill_value_ == imp.statistics_[0]


# --- Bucketize ------------------------------------------------------------------------------


def test_bucketize_boundaries_matches_searchsorted(h, rng):
    n = int(rng.integers(1, 3000))
    x = h.floats(rng, n)
    k = int(rng.integers(1, 12))
    b = np.sort(rng.choice(x, k)) if rng.random() < 0.5 else np.sort(rng.normal(0, 10, k))
    b = np.concatenate([b, b[:1]]) if rng.random() < 0.3 else b  # a repeated boundary
    b = np.sort(b)
    pipe = sw.FeaturePipeline({"x": sw.Bucketize(boundaries=b.tolist())}).fit({"x": x})
    h.assert_f32_close(pipe.transform({"x": x}), np.searchsorted(b, x, side="right"))
    # Values exactly on a boundary go to the bucket above it.
    h.assert_f32_close(pipe.transform({"x": b}), np.searchsorted(b, b, side="right"))


@pytest.mark.parametrize("data_kind", ["continuous", "ties", "skewed_ties"])
def test_bucketize_n_bins_exact_matches_kbins(h, rng, data_kind):
    n = int(rng.integers(2, 3000))
    if data_kind == "continuous":
        x = h.floats(rng, n, "normal")
    elif data_kind == "ties":
        x = rng.integers(0, 6, n).astype(np.float64)
    else:  # many values at the minimum and the maximum: repeated quantile edges
        x = np.where(
            rng.random(n) < 0.4, 0.0, np.where(rng.random(n) < 0.4, 9.0, rng.uniform(0, 9, n))
        )
    n_bins = int(rng.integers(2, 12))
    pipe = sw.FeaturePipeline({"x": sw.Bucketize(n_bins=n_bins, exact=True)}).fit({"x": x})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns when it merges bins
        ref = KBinsDiscretizer(
            n_bins=n_bins,
            encode="ordinal",
            strategy="quantile",
            quantile_method="linear",
            subsample=None,
        ).fit(x[:, None])
        new = np.concatenate([x, rng.uniform(x.min() - 1, x.max() + 1, 200)])
        expected = ref.transform(new[:, None])
    np.testing.assert_array_equal(pipe.transform({"x": new})[:, 0], expected[:, 0])
    np.testing.assert_array_equal(pipe.features_[0].ops[0].boundaries_, ref.bin_edges_[0][1:-1])


def test_bucketize_n_bins_sketch_within_rank_error(h, rng):
    n = 80_000
    x = rng.standard_cauchy(n)
    n_bins = int(rng.integers(2, 20))
    pipe = sw.FeaturePipeline({"x": sw.Bucketize(n_bins=n_bins, exact=False)}).fit({"x": x})
    b = pipe.features_[0].ops[0].boundaries_
    assert len(b) == n_bins - 1
    s = np.sort(x)
    for q, v in zip(np.linspace(0, 1, n_bins + 1)[1:-1], b, strict=True):
        h.assert_rank_within(s, v, float(q), quantile_rank_error(), f"boundary at {q}")
    h.assert_f32_close(pipe.transform({"x": x[:500]}), np.searchsorted(b, x[:500], side="right"))


# --- Categorify -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "min_frequency,max_categories",
    [(None, None), (3, None), (0.05, None), (None, 4), (2, 3), (0.02, 1), ("rand", "rand")],
)
def test_categorify_matches_counter_oracle(h, rng, min_frequency, max_categories):
    n = int(rng.integers(1, 2000))
    if min_frequency == "rand":
        min_frequency = (
            int(rng.integers(1, 10)) if rng.random() < 0.5 else float(rng.uniform(0.001, 0.2))
        )
        max_categories = int(rng.integers(1, 15))
    train = h.strings(rng, n, null_frac=float(rng.uniform(0, 0.3)))
    test = train[: n // 2] + h.strings(rng, 200, null_frac=0.2, prefix="unseen")
    pipe = sw.FeaturePipeline(
        {"s": sw.Categorify(min_frequency=min_frequency, max_categories=max_categories)}
    )
    out = pipe.fit({"s": train}).transform({"s": test})
    h.assert_f32_close(
        out, h.categorify_oracle(train, test, min_frequency, max_categories), rtol=0, atol=0
    )


def test_categorify_ties_at_the_cut(h, rng):
    # Every value has the same count: which survive the cut is decided by the tie rule alone.
    values = ["b", "a", "d", "c", "ß", "é", ""]
    rng.shuffle(values)
    train = [v for v in values for _ in range(3)]
    for max_categories in range(1, len(values) + 1):
        pipe = sw.FeaturePipeline({"s": sw.Categorify(max_categories=max_categories)}).fit(
            {"s": train}
        )
        out = pipe.transform({"s": [*values, None, "zz"]})
        h.assert_f32_close(
            out,
            h.categorify_oracle(train, [*values, None, "zz"], None, max_categories),
            rtol=0,
            atol=0,
        )


def test_categorify_integer_column_is_decimal_text(h, rng):
    n = int(rng.integers(1, 1000))
    x = rng.integers(-30, 30, n)
    nulls = h.missing_mask(rng, n, 0.1)
    table = pa.table({"i": h.arrow_numeric(x, nulls, pa.int64())})
    as_text = [None if m else str(v) for v, m in zip(x.tolist(), nulls, strict=True)]
    out = sw.FeaturePipeline({"i": sw.Categorify(min_frequency=2)}).fit(table).transform(table)
    h.assert_f32_close(out, h.categorify_oracle(as_text, as_text, 2, None), rtol=0, atol=0)


# --- OneHot ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "min_frequency,max_categories",
    [(None, None), (5, None), (0.1, None), (None, 3), (3, 4), (None, 1), ("rand", "rand")],
)
@pytest.mark.parametrize("handle_unknown", ["ignore", "infrequent_if_exist"])
def test_onehot_matches_sklearn(h, rng, min_frequency, max_categories, handle_unknown):
    n = int(rng.integers(1, 1500))
    if min_frequency == "rand":
        min_frequency = (
            int(rng.integers(1, 8)) if rng.random() < 0.5 else float(rng.uniform(0.005, 0.3))
        )
        max_categories = int(rng.integers(1, 12))
    train = h.strings(rng, n)  # sklearn makes a category of None: nulls are tested apart
    test = train + (h.strings(rng, 100, prefix="new") if handle_unknown == "ignore" else [])
    pipe = sw.FeaturePipeline(
        {"col": sw.OneHot(min_frequency=min_frequency, max_categories=max_categories)}
    )
    out = pipe.fit({"col": train}).transform({"col": test})
    enc = OneHotEncoder(
        handle_unknown=handle_unknown,
        min_frequency=min_frequency,
        max_categories=max_categories,
        sparse_output=False,
    )
    enc.fit(np.array(train, dtype=object)[:, None])
    expected = h.sklearn_onehot_by_name(enc, "col", np.array(test, dtype=object)[:, None])
    names = pipe.feature_names_out_
    assert sorted(names) == sorted(expected)
    assert list(pipe.get_feature_names_out()) == names
    for j, name in enumerate(names):
        np.testing.assert_array_equal(out[:, j], expected[name], err_msg=name)


@pytest.mark.parametrize(
    "min_frequency,max_categories", [(None, None), (4, None), (None, 3), ("rand", "rand")]
)
def test_onehot_unknown_other(h, rng, min_frequency, max_categories):
    n = int(rng.integers(1, 1500))
    if min_frequency == "rand":
        min_frequency = float(rng.uniform(0.005, 0.3))
        max_categories = int(rng.integers(1, 12))
    train = h.strings(rng, n, null_frac=0.1)
    test = train + h.strings(rng, 100, null_frac=0.2, prefix="new")
    pipe = sw.FeaturePipeline(
        {
            "col": sw.OneHot(
                min_frequency=min_frequency, max_categories=max_categories, unknown="other"
            )
        }
    )
    out = pipe.fit({"col": train}).transform({"col": test})
    names, expected = h.onehot_other_oracle("col", train, test, min_frequency, max_categories)
    assert pipe.feature_names_out_ == names
    np.testing.assert_array_equal(out, expected)
    assert (out.sum(axis=1) == 1).all()


def test_onehot_nulls_are_all_zero_with_ignore(h, rng):
    train = h.strings(rng, 300, null_frac=0.2)
    test = [None, *train]
    pipe = sw.FeaturePipeline({"c": sw.OneHot()}).fit({"c": train})
    out = pipe.transform({"c": test})
    kept, _ = h.vocabulary_oracle(train, None, None, True)
    assert pipe.feature_names_out_ == [f"c_{v}" for v in kept]
    expected = np.array([[float(v == k) for k in kept] for v in test])
    np.testing.assert_array_equal(out, expected)


# --- HashBucket -----------------------------------------------------------------------------


@pytest.mark.parametrize("n_buckets", [1, 7, 1024, "rand", 2**24 - 1])
def test_hash_bucket_matches_xxhash(h, rng, n_buckets):
    n_buckets = int(rng.integers(1, 2**24)) if n_buckets == "rand" else n_buckets
    n = int(rng.integers(1, 2000))
    s = h.strings(rng, n, distinct=int(rng.integers(1, 500)), null_frac=0.1)
    ints = rng.integers(-(2**62), 2**62, n)
    int_nulls = h.missing_mask(rng, n, 0.1)
    table = pa.table(
        {
            "s": pa.array(s, pa.string()),
            "ls": pa.array(s, pa.large_string()),
            "i": h.arrow_numeric(ints, int_nulls, pa.int64()),
        }
    )
    pipe = sw.FeaturePipeline({c: sw.HashBucket(n_buckets) for c in table.column_names})
    out = pipe.fit(table).transform(table)
    int_values = [None if m else int(v) for v, m in zip(ints.tolist(), int_nulls, strict=True)]
    expected = np.column_stack(
        [
            h.xxh64_bucket(s, n_buckets),
            h.xxh64_bucket(s, n_buckets),
            h.xxh64_bucket(int_values, n_buckets),
        ]
    )
    np.testing.assert_array_equal(out, expected)
