"""Bad input: each is a typed seawall error that is also the matching builtin, and its message
names the column (and the row where there is one). Edge cases that must work (empty transform,
all-null columns, one row) are checked against oracles."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pyarrow as pa
import pytest
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

import seawall as sw
from seawall.errors import (
    DTypeError,
    InvalidInputError,
    MissingColumnError,
    NotFittedError,
    SeawallError,
)


def _raises(error, builtin, match=None):
    """pytest.raises for the seawall class, checking it is the builtin too."""

    class _Both:
        def __enter__(self):
            self._ctx = pytest.raises(error, match=match)
            self.info = self._ctx.__enter__()
            return self.info

        def __exit__(self, *exc):
            result = self._ctx.__exit__(*exc)
            assert isinstance(self.info.value, builtin), type(self.info.value).__mro__
            assert isinstance(self.info.value, SeawallError)
            return result

    return _Both()


def _rows(rng, n=50):
    return {"x": rng.normal(0, 1, n), "s": [f"v{i % 5}" for i in range(n)]}


# --- missing columns ------------------------------------------------------------------------


def test_missing_column_at_fit(rng):
    pipe = sw.FeaturePipeline({"amount": sw.StandardScale()})
    with _raises(MissingColumnError, KeyError, match="'amount'") as info:
        pipe.fit(_rows(rng))
    assert "x" in str(info.value)  # and says what the data has
    with _raises(MissingColumnError, ValueError, match="'amount'"):
        pipe.fit([pa.table(_rows(rng))])


def test_missing_column_in_a_later_batch(rng):
    pipe = sw.FeaturePipeline({"x": sw.StandardScale()})
    with _raises(MissingColumnError, KeyError, match="'x'"):
        pipe.fit([pa.table(_rows(rng)), pa.table({"s": ["a"]})])


def test_missing_column_at_transform_and_transform_one(rng):
    pipe = sw.FeaturePipeline({"x": sw.StandardScale(), "s": sw.Categorify()}).fit(_rows(rng))
    with _raises(MissingColumnError, KeyError, match="'s'"):
        pipe.transform({"x": [1.0]})
    with _raises(MissingColumnError, KeyError, match="'x'"):
        pipe.transform_one({"s": "v1"})
    with _raises(MissingColumnError, KeyError, match="'s'"):
        pipe.transform_one({"x": 1.0})


# --- wrong types ----------------------------------------------------------------------------


def test_string_column_given_to_numeric_op(rng):
    for ops in (
        [sw.StandardScale()],
        [sw.Impute("most_frequent"), sw.Log1p()],
        [sw.Bucketize(boundaries=[0.0])],
    ):
        with _raises(DTypeError, TypeError, match="column 's'"):
            sw.FeaturePipeline({"s": ops}).fit(_rows(rng))
    dictionary = pa.table({"s": pa.array(["a", "b"]).dictionary_encode()})
    with _raises(DTypeError, TypeError, match="column 's'"):
        sw.FeaturePipeline({"s": sw.MinMaxScale()}).fit(dictionary)
    with _raises(DTypeError, TypeError, match="column 's'"):
        sw.FeaturePipeline({"s": [sw.Impute("mean"), sw.OneHot()]}).fit(_rows(rng))


def test_strings_at_transform_where_numbers_were_fit(rng):
    pipe = sw.FeaturePipeline({"x": sw.StandardScale()}).fit(_rows(rng))
    with _raises(DTypeError, TypeError, match="column 'x'"):
        pipe.transform({"x": ["1.5", "2"]})
    with _raises(DTypeError, TypeError, match="column 'x'"):
        pipe.transform(pa.table({"x": pa.array(["a"]).dictionary_encode()}))
    with _raises(DTypeError, TypeError, match="column 'x'"):
        pipe.transform_one({"x": "1.5"})


def test_numbers_at_transform_where_strings_were_fit(rng):
    pipe = sw.FeaturePipeline({"s": sw.OneHot()}).fit(_rows(rng))
    with _raises(DTypeError, TypeError, match="column 's'"):
        pipe.transform({"s": [1.5, 2.5]})
    with _raises(DTypeError, TypeError, match="column 's'"):
        pipe.transform_one({"s": 1.5})


# --- missing and non-finite values ----------------------------------------------------------


def _with_bad_value(rng, n, row, value, null=False):
    x = rng.normal(0, 1, n)
    mask = np.zeros(n, bool)
    if null:
        mask[row] = True
    else:
        x[row] = value
    # Several chunks, so the row number must be the table's, not a chunk's.
    table = pa.table({"x": pa.array(x, mask=mask if null else None)})
    cuts = sorted({0, n, *rng.integers(1, n, 3).tolist()})
    return pa.concat_tables([table.slice(a, b - a) for a, b in itertools.pairwise(cuts)])


@pytest.mark.parametrize("bad", ["nan", "null"])
@pytest.mark.parametrize(
    "ops",
    [
        [sw.StandardScale()],
        [sw.Log1p(), sw.Clip(0, 1)],
        [sw.Bucketize(boundaries=[0.0])],
        [sw.Log1p(), sw.RobustScale(exact=True)],
        [sw.Bucketize(n_bins=3)],
    ],
)
def test_missing_without_impute_names_column_and_row(rng, bad, ops):
    n = int(rng.integers(10, 5000))
    row = int(rng.integers(0, n))
    ops = [sw.Clip(lower=-0.5), *ops] if isinstance(ops[0], sw.Log1p) else ops
    table = _with_bad_value(rng, n, row, np.nan, null=bad == "null")
    label = "null" if bad == "null" else "NaN"
    learns = any(op.needs_fit for op in ops)
    if learns:  # fit reads the values only when an op learns from them
        with _raises(
            InvalidInputError,
            ValueError,
            match=rf"column 'x', row {row}: missing value \({label}\)",
        ):
            sw.FeaturePipeline({"x": ops}).fit(table)
    fitted = sw.FeaturePipeline({"x": ops}).fit({"x": rng.normal(0, 1, 100)})
    with _raises(
        InvalidInputError, ValueError, match=rf"column 'x', row {row}: missing value \({label}\)"
    ):
        fitted.transform(table)
    with _raises(InvalidInputError, ValueError, match=r"column 'x': missing value"):
        fitted.transform_one({"x": None if bad == "null" else float("nan")})


@pytest.mark.parametrize("value", [np.inf, -np.inf])
@pytest.mark.parametrize("impute", [False, True])
def test_infinity_is_an_error_even_with_impute(rng, value, impute):
    n = int(rng.integers(10, 5000))
    row = int(rng.integers(0, n))
    table = _with_bad_value(rng, n, row, value)
    ops = ([sw.Impute("mean")] if impute else []) + [sw.StandardScale()]
    text = "inf" if value > 0 else "-inf"
    with _raises(
        InvalidInputError, ValueError, match=rf"column 'x', row {row}: non-finite value {text}"
    ):
        sw.FeaturePipeline({"x": ops}).fit(table)
    fitted = sw.FeaturePipeline({"x": ops}).fit({"x": rng.normal(0, 1, 100)})
    with _raises(
        InvalidInputError, ValueError, match=rf"column 'x', row {row}: non-finite value {text}"
    ):
        fitted.transform(table)
    with _raises(InvalidInputError, ValueError, match=rf"column 'x': non-finite value {text}"):
        fitted.transform_one({"x": float(value)})
    # In a float32 column too.
    with _raises(InvalidInputError, ValueError, match=rf"row {row}: non-finite"):
        fitted.transform(table.cast(pa.schema([("x", pa.float32())])))


@pytest.mark.parametrize(
    "ops", [[sw.StandardScale()], [sw.Impute("mean"), sw.Log1p(), sw.MinMaxScale()]]
)
def test_bad_row_number_is_global_when_fitting_a_stream(rng, tmp_path, ops):
    """A bad value in a later batch of a stream is named by its row in the whole stream."""
    import pyarrow.parquet as pq

    sizes = rng.integers(1, 3000, 4)
    batches = [pa.table({"x": rng.uniform(0, 1, k)}) for k in sizes]
    at = int(rng.integers(0, sizes[2]))
    x = batches[2].column("x").to_numpy().copy()
    x[at] = np.inf if isinstance(ops[0], sw.Impute) else np.nan
    batches[2] = pa.table({"x": x})
    row = int(sizes[0] + sizes[1] + at)
    what = "non-finite value inf" if isinstance(ops[0], sw.Impute) else "missing value"
    with _raises(InvalidInputError, ValueError, match=rf"column 'x', row {row}: {what}"):
        sw.FeaturePipeline({"x": ops}).fit(batches)
    with _raises(InvalidInputError, ValueError, match=rf"column 'x', row {row}: {what}"):
        sw.FeaturePipeline({"x": ops}).fit(iter(batches))
    pq.write_table(
        pa.concat_tables(batches),
        tmp_path / "x.parquet",
        row_group_size=int(rng.integers(100, 2000)),
    )
    with _raises(InvalidInputError, ValueError, match=rf"column 'x', row {row}: {what}"):
        sw.FeaturePipeline({"x": ops}).fit(tmp_path / "x.parquet")


def test_log1p_below_minus_one(rng):
    n = int(rng.integers(5, 3000))
    row = int(rng.integers(0, n))
    x = rng.uniform(0, 5, n)
    x[row] = -2.0
    with _raises(
        InvalidInputError,
        ValueError,
        match=rf"column 'x', row {row}: Log1p needs values greater than -1, got -2",
    ):
        sw.FeaturePipeline({"x": [sw.Log1p(), sw.StandardScale()]}).fit({"x": x})
    fitted = sw.FeaturePipeline({"x": sw.Log1p()}).fit({"x": np.abs(x)})
    with _raises(InvalidInputError, ValueError, match=rf"column 'x', row {row}: Log1p"):
        fitted.transform({"x": x})
    with _raises(
        InvalidInputError,
        ValueError,
        match=r"column 'x': Log1p needs values greater than -1, got -1",
    ):
        fitted.transform_one({"x": -1.0})
    # -1 exactly is outside the domain too (log 0); just above it is fine.
    np.testing.assert_allclose(fitted.transform_one({"x": -0.5}), [np.log1p(-0.5)], rtol=1e-6)


# --- empty, all-null, one row ---------------------------------------------------------------


@pytest.mark.parametrize(
    "ops", [[sw.StandardScale()], [sw.Log1p()], [sw.Clip(0, 1)], [sw.Impute("constant")]]
)
def test_empty_table_at_fit(ops):
    empty = pa.table({"x": pa.array([], pa.float64())})
    with _raises(InvalidInputError, ValueError, match="empty"):
        sw.FeaturePipeline({"x": ops}).fit(empty)
    with _raises(InvalidInputError, ValueError, match="empty"):
        sw.FeaturePipeline({"x": ops}).fit([empty, empty])
    with _raises(InvalidInputError, ValueError, match="empty"):
        sw.FeaturePipeline({"x": ops}).fit(iter([]))


def test_empty_parquet_file_at_fit(tmp_path):
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"x": pa.array([], pa.float64())}), tmp_path / "empty.parquet")
    for ops in ([sw.StandardScale()], [sw.Log1p()]):
        with _raises(InvalidInputError, ValueError, match="empty"):
            sw.FeaturePipeline({"x": ops}).fit(tmp_path / "empty.parquet")


def test_empty_table_at_transform_gives_zero_rows(rng):
    data = {"x": rng.normal(0, 1, 20), "s": [f"v{i % 3}" for i in range(20)]}
    pipe = sw.FeaturePipeline(
        {"x": [sw.Impute("mean", add_indicator=True), sw.StandardScale()], "s": sw.OneHot()}
    ).fit(data)
    width = len(pipe.feature_names_out_)
    empty = pa.table({"x": pa.array([], pa.float64()), "s": pa.array([], pa.string())})
    for data_empty in (
        empty,
        empty.to_batches()[0]
        if empty.to_batches()
        else pa.RecordBatch.from_pylist([], schema=empty.schema),
        {"x": np.array([]), "s": np.array([], dtype=object)},
        empty.to_pandas(),
    ):
        out = pipe.transform(data_empty)
        assert out.shape == (0, width) and out.dtype == np.float32
    assert pipe.transform(empty, output="arrow").num_rows == 0


def test_all_null_column(rng):
    n = int(rng.integers(1, 500))
    nulls = pa.table(
        {
            "x": pa.array([None] * n, pa.float64()),
            "t": pa.nulls(n),
            "s": pa.array([None] * n, pa.string()),
        }
    )
    with _raises(InvalidInputError, ValueError, match="column 'x'"):
        sw.FeaturePipeline({"x": sw.Impute("mean")}).fit(nulls)
    with _raises(InvalidInputError, ValueError, match="column 't'"):
        sw.FeaturePipeline({"t": [sw.Impute("median"), sw.StandardScale()]}).fit(nulls)
    with _raises(InvalidInputError, ValueError, match="column 's'"):
        sw.FeaturePipeline({"s": [sw.Impute("most_frequent"), sw.Categorify()]}).fit(nulls)
    fill = float(rng.normal())
    pipe = sw.FeaturePipeline(
        [
            ("x", [sw.Impute("constant", fill_value=fill, add_indicator=True)]),
            ("t", [sw.Impute("constant"), sw.StandardScale()]),
            ("s", sw.Categorify()),
            ("s_const", "s", [sw.Impute("constant"), sw.Categorify()]),
        ]
    ).fit(nulls)
    out = pipe.transform(nulls)
    assert pipe.feature_names_out_ == ["x", "x_missing", "t", "s", "s_const"]
    ref = SimpleImputer(
        strategy="constant", fill_value=fill, add_indicator=True, keep_empty_features=True
    ).fit_transform(np.full((n, 1), np.nan))
    np.testing.assert_allclose(out[:, :2], ref, rtol=1e-6)
    np.testing.assert_array_equal(out[:, 2], 0.0)  # a constant column scales to 0
    np.testing.assert_array_equal(out[:, 3], 0.0)  # Categorify: null is id 0
    np.testing.assert_array_equal(out[:, 4], 3.0)  # "missing_value" is the one category
    x = rng.normal(0, 1, 4)
    later = pipe.transform({"x": x, "t": x, "s": ["a", None, "missing_value", "b"]})
    np.testing.assert_array_equal(later[:, 3], [1, 0, 1, 1])  # unseen strings: 1
    np.testing.assert_array_equal(later[:, 4], [1, 3, 3, 1])


@pytest.mark.parametrize("unknown", ["ignore", "other"])
def test_one_hot_of_a_column_with_only_nulls_is_an_error(rng, unknown):
    """Nulls are no category for OneHot, so an all-null column has nothing to encode: an error
    naming the column, not a OneHot of zero columns (or of a constant "other")."""
    from sklearn.preprocessing import OneHotEncoder

    n = int(rng.integers(1, 300))
    for column in (
        pa.array([None] * n, pa.string()),
        pa.nulls(n),
        pa.array([None] * n, pa.string()).dictionary_encode(),
    ):
        data = pa.table({"s": column})
        with _raises(InvalidInputError, ValueError, match=r"column 's'.*null"):
            sw.FeaturePipeline({"s": sw.OneHot(unknown=unknown)}).fit(data)
        # The remedy the message names: impute, then the one category is scikit-learn's.
        pipe = sw.FeaturePipeline(
            {"s": [sw.Impute("constant", fill_value="none"), sw.OneHot(unknown=unknown)]}
        ).fit(data)
        expected = OneHotEncoder(handle_unknown="ignore").fit_transform(
            np.full((n, 1), "none", dtype=object)
        )
        np.testing.assert_array_equal(pipe.transform(data)[:, :1], expected.toarray())
    # One value among the nulls is enough.
    mostly = pa.table({"s": pa.array([None] * n + ["a"], pa.string())})
    pipe = sw.FeaturePipeline({"s": sw.OneHot(unknown=unknown)}).fit(mostly)
    assert pipe.feature_names_out_[0] == "s_a"


def test_one_row_table(h, rng):
    x = np.array([float(rng.normal() * 100)])
    s = ["only"]
    pipe = sw.FeaturePipeline(
        [
            ("std", "x", sw.StandardScale()),
            ("mm", "x", sw.MinMaxScale()),
            ("rob", "x", sw.RobustScale()),
            ("log", "x", [sw.Clip(lower=0), sw.Log1p()]),
            ("bin", "x", sw.Bucketize(n_bins=4)),
            ("imp", "x", [sw.Impute("median"), sw.Clip(quantiles=(0.1, 0.9))]),
            ("s", sw.OneHot()),
            ("s_id", "s", sw.Categorify()),
        ]
    ).fit({"x": x, "s": s})
    out = pipe.transform({"x": x, "s": s})
    expected = np.concatenate(
        [
            StandardScaler().fit_transform(x[:, None])[0],
            MinMaxScaler().fit_transform(x[:, None])[0],
            RobustScaler().fit_transform(x[:, None])[0],
            [np.log1p(max(x[0], 0.0)), 0.0, x[0], 1.0, 3.0],
        ]
    )
    assert pipe.feature_names_out_ == ["std", "mm", "rob", "log", "bin", "imp", "s_only", "s_id"]
    h.assert_f32_close(out[0], expected)
    h.assert_bits_equal(pipe.transform_one({"x": float(x[0]), "s": "only"}), out[0])


# --- huge values ----------------------------------------------------------------------------


@pytest.mark.parametrize("values", [[1e300, -1e300, 5e299], [1.7e308, 1.7e308, -1.7e308]])
def test_huge_values_standard_scale_is_a_clear_error(values):
    with _raises(
        InvalidInputError, ValueError, match=r"column 'x'.*(too large|not finite|overflow)"
    ):
        sw.FeaturePipeline({"x": sw.StandardScale()}).fit({"x": np.array(values)})


def test_huge_range_min_max_is_a_clear_error():
    with _raises(InvalidInputError, ValueError, match=r"column 'x'.*(too large|not finite)"):
        sw.FeaturePipeline({"x": sw.MinMaxScale()}).fit({"x": np.array([1.5e308, -1.5e308])})


def test_output_beyond_float32_is_an_error(rng):
    n = int(rng.integers(3, 3000))
    row = int(rng.integers(0, n))
    x = rng.uniform(0, 1, n)
    pipe = sw.FeaturePipeline({"x": sw.MinMaxScale()}).fit({"x": x})
    new = x.copy()
    new[row] = 1e39
    with _raises(
        InvalidInputError,
        ValueError,
        match=rf"column 'x', row {row}: the transformed value .* does not fit the float32 output",
    ):
        pipe.transform({"x": new})
    with _raises(InvalidInputError, ValueError, match=r"column 'x': .*float32"):
        pipe.transform_one({"x": 1e39})
    # Unscaled values past float32 fail too (with no op that would shrink them).
    with _raises(InvalidInputError, ValueError, match=rf"row {row}: .*float32"):
        sw.FeaturePipeline({"x": sw.Clip(lower=0)}).fit({"x": x}).transform({"x": new})
    # Large values that do fit come out as float32 of the exact result.
    ok = (
        sw.FeaturePipeline({"x": sw.Clip(upper=1e40)})
        .fit({"x": [1.0]})
        .transform({"x": [3e38, -3e38]})
    )
    np.testing.assert_array_equal(ok[:, 0], np.float32([3e38, -3e38]))


def test_tiny_scale_divides_exactly():
    """(x - shift) / scale for every scale the fit can produce, subnormal ones included:
    MinMaxScale on values 0, 1e-310, 2e-310 gives 0, 0.5, 1, as scikit-learn's formula."""
    for x in ([0.0, 1e-310, 2e-310], [0.0, 5e-324, 1e-323]):
        values = np.array(x)
        pipe = sw.FeaturePipeline({"x": sw.MinMaxScale()}).fit({"x": values})
        expected = (values - values.min()) / (values.max() - values.min())
        np.testing.assert_array_equal(
            pipe.transform({"x": values})[:, 0], expected.astype(np.float32)
        )
        np.testing.assert_array_equal(
            pipe.transform_one({"x": x[1]}), expected[1:2].astype(np.float32)
        )


# --- invalid parameters ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "column,op,match",
    [
        ("x", sw.Impute("bogus"), "strategy"),
        ("x", sw.Bucketize(), "boundaries or n_bins"),
        ("x", sw.Bucketize(boundaries=[0.0], n_bins=3), "boundaries or n_bins"),
        ("x", sw.Bucketize(n_bins=0), "n_bins"),
        ("x", sw.Bucketize(boundaries=[2.0, 1.0]), "sorted"),
        ("x", sw.Bucketize(boundaries=[0.0, float("inf")]), "finite"),
        ("x", sw.Clip(), "bounds"),
        ("x", sw.Clip(2.0, 1.0), "above"),
        ("x", sw.Clip(lower=0.0, quantiles=(0.1, 0.9)), "not both"),
        ("x", sw.Clip(quantiles=(0.1, 1.5)), "quantiles"),
        ("x", sw.RobustScale(quantile_range=(75, 25)), "quantile_range"),
        ("s", sw.HashBucket(0), "HashBucket"),
        ("s", sw.HashBucket(-3), "HashBucket"),
        ("s", sw.HashBucket(2.5), "HashBucket"),
        ("s", sw.OneHot(unknown="x"), "unknown"),
        ("s", sw.OneHot(min_frequency=0), "min_frequency"),
        ("s", sw.Categorify(min_frequency=1.5), "min_frequency"),
        ("s", sw.Categorify(max_categories=0), "max_categories"),
    ],
)
def test_invalid_op_params(rng, column, op, match):
    with _raises(InvalidInputError, ValueError, match=match):
        sw.FeaturePipeline({column: op}).fit(_rows(rng))


@pytest.mark.parametrize(
    "features,match",
    [
        (None, "needs features"),
        ({}, "at least one"),
        ({"x": []}, "no ops"),
        ({"x": "StandardScale"}, "feature ops"),
        ({"x": [sw.Log1p(), sw.Impute("mean")]}, "Impute must come first"),
        ({"s": [sw.OneHot(), sw.Categorify()]}, "last op"),
        ({"s": [sw.Log1p(), sw.Categorify()]}, "only an Impute"),
        ([("a", "x", sw.Log1p()), ("a", "x", sw.StandardScale())], "unique"),
        ([("x",)], "each feature"),
    ],
)
def test_invalid_pipeline_definitions(rng, features, match):
    with _raises(InvalidInputError, ValueError, match=match):
        sw.FeaturePipeline(features).fit(_rows(rng))


def test_colliding_output_names_are_an_error(rng):
    pipe = sw.FeaturePipeline([("s", sw.OneHot()), ("s_v1", "x", sw.StandardScale())])
    with _raises(InvalidInputError, ValueError, match="s_v1"):
        pipe.fit(_rows(rng))


# --- not fitted, bad containers -------------------------------------------------------------


def test_not_fitted(rng):
    pipe = sw.FeaturePipeline({"x": sw.StandardScale()})
    for call in (
        lambda: pipe.transform(_rows(rng)),
        lambda: pipe.transform_one({"x": 1.0}),
        pipe.get_feature_names_out,
        pipe.to_dict,
    ):
        with _raises(NotFittedError, ValueError, match="not fitted"):
            call()
    assert isinstance(NotFittedError("x"), AttributeError)


@pytest.mark.parametrize(
    "data,error,builtin",
    [
        (42, DTypeError, TypeError),
        ("not a file.parquet", InvalidInputError, ValueError),
        ({"x": [1.0, 2.0], "s": ["a"]}, InvalidInputError, ValueError),
        ({"x": np.ones((2, 2))}, InvalidInputError, ValueError),
        ({"x": [[1.0], [2.0]]}, InvalidInputError, ValueError),
        ({"x": [1.5, "a"]}, DTypeError, TypeError),  # never silently the strings "1.5" and "a"
        ({"x": np.array([1.5, "a"], dtype=object)}, DTypeError, TypeError),
        ([], InvalidInputError, ValueError),
    ],
)
def test_unreadable_inputs(data, error, builtin):
    with _raises(error, builtin):
        sw.FeaturePipeline({"x": sw.StandardScale()}).fit(data)


def test_duplicate_input_columns_are_an_error():
    table = pa.table([pa.array([1.0]), pa.array([2.0])], names=["x", "x"])
    with _raises(InvalidInputError, ValueError, match="duplicate"):
        sw.FeaturePipeline({"x": sw.StandardScale()}).fit(table)


def test_transform_one_needs_a_mapping(rng):
    pipe = sw.FeaturePipeline({"x": sw.StandardScale()}).fit(_rows(rng))
    with pytest.raises(TypeError):
        pipe.transform_one([1.0])
    with _raises(DTypeError, TypeError, match="column 'x'"):
        pipe.transform_one({"x": [1.0]})


def test_error_messages_name_only_real_rows(rng):
    """Row numbers in messages count from 0 over the table given, whatever its chunking."""
    n = 3000
    x = rng.normal(0, 1, n)
    x[2999] = np.nan
    chunks = pa.concat_tables([pa.table({"x": x[:1000]}), pa.table({"x": x[1000:]})])
    pipe = sw.FeaturePipeline({"x": sw.StandardScale()}).fit({"x": x[:10]})
    with pytest.raises(InvalidInputError) as info:
        pipe.transform(chunks)
    assert re.search(r"row 2999\b", str(info.value))


def test_hash_bucket_ids_stay_exact_in_float32(h):
    """Ids at or past 2**24 would round in float32, so such bucket counts are refused."""
    table = pa.table({"s": ["a", "b", "c", None]})
    with _raises(InvalidInputError, ValueError, match="2\\*\\*24"):
        sw.FeaturePipeline({"s": sw.HashBucket(2**24)}).fit(table)
    n = 2**24 - 1
    out = sw.FeaturePipeline({"s": sw.HashBucket(n)}).fit(table).transform(table)
    import xxhash

    expected = [xxhash.xxh64_intdigest(v.encode()) % n for v in ("a", "b", "c")] + [n]
    assert out[:, 0].astype(np.int64).tolist() == expected
