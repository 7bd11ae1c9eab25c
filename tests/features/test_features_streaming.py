"""Fitting on streams (lists of batches, generators, readers, Parquet files, directories and
datasets) gives the fitted state of fitting the whole table; sketched quantiles stay within the
stated rank error on large heavy-tailed data."""

from __future__ import annotations

import itertools

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

import seawall as sw
from seawall.features import quantile_rank_error


def _data(h, rng, n: int) -> pa.Table:
    x = rng.standard_cauchy(n) * 10
    miss = h.missing_mask(rng, n, 0.1)
    nulls = miss & (rng.random(n) < 0.5)
    return pa.table(
        {
            "x": h.arrow_numeric(np.where(miss & ~nulls, np.nan, x), nulls),
            "y": pa.array(rng.lognormal(0, 1, n)),
            "i": pa.array(rng.integers(0, 50, n)),
            "s": pa.array(h.strings(rng, n, distinct=30, null_frac=0.05)),
        }
    )


def _multi_pass_pipeline() -> sw.FeaturePipeline:
    """Chains whose ops learn in turn (several passes), every kind of fitted state, exact quantiles."""
    return sw.FeaturePipeline(
        [
            ("x_std", "x", [sw.Impute("mean"), sw.StandardScale()]),
            (
                "x_med",
                "x",
                [
                    sw.Impute("median", exact=True),
                    sw.Clip(quantiles=(0.05, 0.95), exact=True),
                    sw.MinMaxScale(),
                ],
            ),
            ("y", [sw.Log1p(), sw.RobustScale(quantile_range=(10, 90), exact=True)]),
            ("y_bin", "y", sw.Bucketize(n_bins=7, exact=True)),
            ("i", [sw.Impute("most_frequent"), sw.StandardScale()]),
            ("s", sw.OneHot(min_frequency=0.02, max_categories=12, unknown="other")),
            ("s_id", "s", [sw.Impute("most_frequent"), sw.Categorify(min_frequency=3)]),
        ]
    )


def _single_pass_pipeline() -> sw.FeaturePipeline:
    """At most one fitted op per chain: one pass over the data suffices."""
    return sw.FeaturePipeline(
        [
            ("x", sw.Impute("mean", add_indicator=True)),
            ("x_med", "x", sw.Impute("median", exact=True)),
            ("y", [sw.Log1p(), sw.StandardScale()]),
            ("y_q", "y", sw.RobustScale(exact=True)),
            ("i", sw.MinMaxScale()),
            ("s", sw.Categorify(max_categories=8)),
            ("s_oh", "s", sw.OneHot(min_frequency=5)),
            ("s_hash", "s", sw.HashBucket(64)),
        ]
    )


def _assert_same_fit(a: sw.FeaturePipeline, b: sw.FeaturePipeline) -> None:
    """Equal fitted states: moments (mean, std) to 1e-12 relative, everything else exactly."""
    assert a.feature_names_out_ == b.feature_names_out_
    for fa, fb in zip(a.features_, b.features_, strict=True):
        for oa, ob in zip(fa.ops, fb.ops, strict=True):
            sa, sb = oa._to_state(), ob._to_state()
            assert sa["op"] == sb["op"] and sa["params"] == sb["params"]
            fitted_a, fitted_b = sa.get("fitted", {}), sb.get("fitted", {})
            assert fitted_a.keys() == fitted_b.keys()
            moments = isinstance(oa, sw.StandardScale) or (
                isinstance(oa, sw.Impute) and oa.strategy == "mean"
            )
            for key in fitted_a:
                va, vb = fitted_a[key], fitted_b[key]
                if moments:
                    assert va == pytest.approx(vb, rel=1e-12, abs=1e-300), (fa.name, key)
                else:
                    assert va == vb, (fa.name, type(oa).__name__, key)


def _batches(table: pa.Table, rng) -> list[pa.RecordBatch]:
    n = table.num_rows
    cuts = sorted(set([0, n, *rng.integers(0, n + 1, int(rng.integers(1, 12))).tolist()]))
    return [
        table.slice(a, b - a).combine_chunks().to_batches()[0]
        if b > a
        else pa.RecordBatch.from_pylist([], schema=table.schema)
        for a, b in itertools.pairwise(cuts)
    ]


def test_list_of_batches_fits_like_the_table(h, rng):
    table = _data(h, rng, int(rng.integers(100, 150_000)))
    whole = _multi_pass_pipeline().fit(table)
    streamed = _multi_pass_pipeline().fit(_batches(table, rng))
    _assert_same_fit(whole, streamed)
    # Other in-memory batch forms: pandas frames and tables in a list.
    frames = [
        t.to_pandas()
        for t in (table.slice(0, table.num_rows // 3), table.slice(table.num_rows // 3))
    ]
    frames[0]["s"] = frames[0]["s"].astype(object)
    _assert_same_fit(whole, _multi_pass_pipeline().fit(frames))


def test_generator_fits_single_pass_chains(h, rng):
    table = _data(h, rng, int(rng.integers(100, 100_000)))
    batches = _batches(table, rng)
    whole = _single_pass_pipeline().fit(table)
    _assert_same_fit(whole, _single_pass_pipeline().fit(b for b in batches))
    _assert_same_fit(
        whole, _single_pass_pipeline().fit(pa.RecordBatchReader.from_batches(table.schema, batches))
    )
    _assert_same_fit(whole, _single_pass_pipeline().fit(iter(batches)))


@pytest.mark.parametrize("one_shot", ["generator", "reader"])
def test_one_shot_input_with_a_two_pass_chain_is_a_clear_error(h, rng, one_shot):
    table = _data(h, rng, 500)
    batches = _batches(table, rng)
    source = (
        (b for b in batches)
        if one_shot == "generator"
        else pa.RecordBatchReader.from_batches(table.schema, batches)
    )
    pipe = sw.FeaturePipeline(
        {"y": [sw.Log1p(), sw.StandardScale(), sw.Clip(quantiles=(0.1, 0.9))]}
    )
    with pytest.raises(sw.errors.InvalidInputError, match="more than once") as info:
        pipe.fit(source)
    assert isinstance(info.value, ValueError)
    assert "one-shot" in str(info.value) and "list of batches" in str(info.value)
    assert not hasattr(pipe, "features_")


def test_parquet_file_files_directory_and_dataset_fit_like_the_table(h, rng, tmp_path):
    table = _data(h, rng, int(rng.integers(100, 60_000)))
    whole = _multi_pass_pipeline().fit(table)

    one = tmp_path / "one.parquet"
    pq.write_table(table, one, row_group_size=int(rng.integers(50, 20_000)))
    _assert_same_fit(whole, _multi_pass_pipeline().fit(one))
    _assert_same_fit(whole, _multi_pass_pipeline().fit(str(one)))

    directory = tmp_path / "parts"
    directory.mkdir()
    files = []
    n = table.num_rows
    cuts = sorted(set([0, n, *rng.integers(1, n, 3).tolist()]))
    for k, (a, b) in enumerate(itertools.pairwise(cuts)):
        path = directory / f"part-{k:03d}.parquet"
        pq.write_table(table.slice(a, b - a), path, row_group_size=int(rng.integers(50, 5000)))
        files.append(path)
    _assert_same_fit(whole, _multi_pass_pipeline().fit(files))
    _assert_same_fit(whole, _multi_pass_pipeline().fit([str(p) for p in files]))
    _assert_same_fit(whole, _multi_pass_pipeline().fit(directory))
    _assert_same_fit(whole, _multi_pass_pipeline().fit(ds.dataset(directory, format="parquet")))
    # And the fitted pipeline transforms the table the same whichever way it was fit (moments
    # agree to rounding, so a value at the mean may become 1e-17 instead of 3e-17).
    h.assert_f32_close(
        _multi_pass_pipeline().fit(directory).transform(table),
        whole.transform(table).astype(np.float64),
    )


def test_missing_parquet_path_is_a_clear_error(tmp_path):
    with pytest.raises(sw.errors.InvalidInputError, match="no such file"):
        sw.FeaturePipeline({"x": sw.StandardScale()}).fit(tmp_path / "nope.parquet")


# --- sketched quantiles ---------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_sketch_quantiles_within_rank_error_on_heavy_tails(h, rng, stream):
    n = 200_000
    eps = quantile_rank_error()
    assert 0 < eps < 0.05
    x = rng.pareto(float(rng.uniform(0.5, 2.0)), n) * rng.choice([-1.0, 1.0], n, p=[0.3, 0.7])
    miss = h.missing_mask(rng, n, 0.05)
    xn = np.where(miss, np.nan, x)
    qr = (float(rng.uniform(1, 45)), float(rng.uniform(55, 99)))
    clip_q = (float(rng.uniform(0, 0.2)), float(rng.uniform(0.8, 1.0)))
    n_bins = int(rng.integers(2, 30))
    pipe = sw.FeaturePipeline(
        [
            ("med", "x", sw.Impute("median")),
            (
                "rob",
                "x",
                [sw.Impute("constant", fill_value=0.0), sw.RobustScale(quantile_range=qr)],
            ),
            ("clip", "x", [sw.Impute("constant", fill_value=0.0), sw.Clip(quantiles=clip_q)]),
            ("bin", "x", [sw.Impute("constant", fill_value=0.0), sw.Bucketize(n_bins=n_bins)]),
        ]
    )
    table = pa.table({"x": xn})
    pipe.fit(_batches(table, rng) if stream else table)
    med, rob, clip, bins = (f.ops[-1] for f in pipe.features_)

    observed = np.sort(x[~miss])
    filled = np.sort(np.where(miss, 0.0, x))
    h.assert_rank_within(observed, med.fill_value_, 0.5, eps, "median imputation")
    h.assert_rank_within(filled, rob.center_, 0.5, eps, "RobustScale center")
    lo_min, lo_max = h.exact_quantile_range(filled, qr[0] / 100, eps)
    hi_min, hi_max = h.exact_quantile_range(filled, qr[1] / 100, eps)
    assert hi_min - lo_max <= rob.scale_ <= hi_max - lo_min
    h.assert_rank_within(filled, clip.lower_, clip_q[0], eps, "Clip lower")
    h.assert_rank_within(filled, clip.upper_, clip_q[1], eps, "Clip upper")
    qs = np.linspace(0, 1, n_bins + 1)[1:-1]
    assert len(bins.boundaries_) <= len(qs)
    for v in bins.boundaries_:
        # Each boundary is one of the target quantiles, within the error.
        lo, hi = h.rank_interval(filled, v)
        assert any(lo - eps <= q <= hi + eps for q in qs), v
    assert list(bins.boundaries_) == sorted(bins.boundaries_)


def test_small_columns_are_exact_with_the_sketch(h, rng):
    """While a column has no more values than the sketch holds, sketched quantiles are exact."""
    n = int(rng.integers(1, 150))
    x = h.floats(rng, n, str(rng.choice([k for k in h.NUMERIC_KINDS if k != "huge"])))
    sketch = sw.FeaturePipeline({"x": sw.RobustScale(quantile_range=(20, 70))}).fit({"x": x})
    exact = sw.FeaturePipeline({"x": sw.RobustScale(quantile_range=(20, 70), exact=True)}).fit(
        {"x": x}
    )
    s_op, e_op = sketch.features_[0].ops[0], exact.features_[0].ops[0]
    assert (s_op.center_, s_op.scale_) == (e_op.center_, e_op.scale_)
    assert e_op.center_ == np.quantile(x, 0.5)
