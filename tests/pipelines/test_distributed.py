"""Distributed fit and profile of a partitioned Parquet dataset, against the one-process fit and
profile as oracles; FitState pickling. Here on local executors; on Ray in test_ray.py."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pipeline_helpers import feature_pipeline, write_dataset

import seawall
from seawall import _core
from seawall.errors import DTypeError, IntegrityError, InvalidInputError, MissingColumnError
from seawall.pipelines import distributed_fit, distributed_profile


@pytest.fixture
def dataset(tmp_path: Path, rng: np.random.Generator) -> Path:
    return write_dataset(tmp_path / "data", rng)


def test_fitstate_pickles_whole(rng) -> None:
    """A pickled FitState answers and merges exactly as the original."""
    values = rng.normal(size=5000)
    strings = rng.choice(["a", "b", "c", "d"], 5000)
    table = pa.table({"v": values, "s": strings})
    spec_num = {
        "moments": True,
        "quantiles": "sketch",
        "sketch_k": 64,
        "number_counts": True,
    }
    plan = _core.Plan(
        [
            {"column": "v", "input": 0, "string_input": False, "numeric_ops": []},
            {"column": "v", "input": 0, "string_input": False, "numeric_ops": []},
            {"column": "s", "input": 1, "string_input": True, "numeric_ops": []},
        ],
        ["v", "s"],
        [False, True],
    )
    specs = [spec_num, {"quantiles": "exact"}, {"string_counts": True}]

    def collect(t):
        from seawall._data import column_chunks

        cols = [("v", column_chunks(t.column("v"))), ("s", column_chunks(t.column("s")))]
        return plan.collect(cols, specs)

    a, b = collect(table.slice(0, 2000)), collect(table.slice(2000))
    copies = pickle.loads(pickle.dumps(a))
    qs = [0.0, 0.1, 0.5, 0.9, 1.0]
    for original, copy in zip(a, copies, strict=True):
        assert (copy.rows, copy.count, copy.mean, copy.m2, copy.min, copy.max) == (
            original.rows,
            original.count,
            original.mean,
            original.m2,
            original.min,
            original.max,
        )
    for original, copy, more in zip(a, copies, b, strict=True):
        original.merge(more)
        copy.merge(more)
    assert copies[0].quantiles(qs) == a[0].quantiles(qs)
    assert copies[0].most_frequent_number() == a[0].most_frequent_number()
    assert copies[1].quantiles(qs) == a[1].quantiles(qs) == list(np.quantile(values, qs))
    assert copies[2].string_counts() == a[2].string_counts()
    state = pickle.loads(pickle.dumps(a[0])).__getstate__()
    with pytest.raises(IntegrityError, match="FitState pickle"):
        _core.FitState.__new__(_core.FitState).__setstate__((99, *state[1:]))
    broken = (*state[:5], b"\x00" * 7, *state[6:])
    with pytest.raises(IntegrityError, match="partial value"):
        _core.FitState.__new__(_core.FitState).__setstate__(broken)


@pytest.mark.parametrize("tasks", [None, 1, 3])
def test_distributed_fit_equals_the_one_process_fit(dataset, tasks) -> None:
    oracle = feature_pipeline().fit(dataset)
    fitted = distributed_fit(feature_pipeline(), dataset, executor="threads", tasks=tasks)
    assert json.dumps(fitted.to_dict()) == json.dumps(oracle.to_dict())
    table = pq.read_table(dataset)
    np.testing.assert_array_equal(fitted.transform(table), oracle.transform(table))


def test_distributed_profile_equals_the_one_process_profile(dataset) -> None:
    oracle = seawall.Profile.from_data(dataset)
    profile = distributed_profile(dataset, executor="threads", tasks=3)
    assert profile.to_bytes() == oracle.to_bytes()
    subset = distributed_profile(
        [str(p) for p in sorted(dataset.iterdir())], ["y", "s"], executor="threads", sketch_k=64
    )
    assert (
        subset.to_bytes() == seawall.Profile.from_data(dataset, ["y", "s"], sketch_k=64).to_bytes()
    )


def test_unordered_merge_agrees_within_the_documented_bounds(dataset) -> None:
    """reproducible=False merges within tasks first: exact counts and vocabularies, moments to
    rounding, quantiles within the sketch's rank error of the data."""
    table = pq.read_table(dataset)
    oracle = seawall.Profile.from_data(dataset)
    profile = distributed_profile(dataset, executor="threads", tasks=3, reproducible=False)
    bound = _core.KllSketch.rank_error_bound(200)
    y = np.sort(table["y"].to_numpy())
    for column in ("x", "y", "z", "s", "k"):
        got, want = profile.stats(column), oracle.stats(column)
        for key in ("rows", "nulls", "count", "distinct"):
            assert got[key] == want[key], (column, key)
        if got["kind"] == "numeric":
            assert got["nans"] == want["nans"]
            assert (got["min"], got["max"]) == (want["min"], want["max"])
            assert got["mean"] == pytest.approx(want["mean"], rel=1e-12)
            assert got["variance"] == pytest.approx(want["variance"], rel=1e-12)
    for q, value in zip([0.1, 0.5, 0.9], profile.quantiles("y", [0.1, 0.5, 0.9]), strict=True):
        rank = np.searchsorted(y, value, side="right") / len(y)
        assert abs(rank - q) <= bound
    fitted = distributed_fit(
        feature_pipeline(), dataset, executor="threads", tasks=3, reproducible=False
    )
    want_fit = feature_pipeline().fit(dataset).to_dict()["features"]
    got_fit = fitted.to_dict()["features"]
    by_name = {f["name"]: f["ops"] for f in got_fit}
    for feature in want_fit:
        got_ops = by_name[feature["name"]]
        if feature["name"] in ("x_exact", "s", "s_ids", "k"):
            # Counts and exact quantiles do not depend on the grouping.
            assert got_ops == feature["ops"]
    # z: an exact imputation (the most frequent value) then moments, equal to rounding. (After
    # a sketch quantile, as x's median, later ops see values moved within the sketch's error.)
    impute, scale = by_name["z"]
    assert impute == want_fit[4]["ops"][0]
    for key, value in want_fit[4]["ops"][1]["fitted"].items():
        assert scale["fitted"][key] == pytest.approx(value, rel=1e-12)


def test_distributed_input_errors(dataset, tmp_path) -> None:
    table = pq.read_table(dataset)
    with pytest.raises(InvalidInputError, match="reads Parquet files"):
        distributed_fit(feature_pipeline(), table, executor="threads")
    with pytest.raises(InvalidInputError, match="expected a FeaturePipeline"):
        distributed_fit(object(), dataset, executor="threads")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="tasks"):
        distributed_profile(dataset, executor="threads", tasks=0)
    with pytest.raises(MissingColumnError, match="nope"):
        distributed_fit(
            seawall.FeaturePipeline({"nope": seawall.StandardScale()}), dataset, executor="threads"
        )
    with pytest.raises(DTypeError, match="strings"):
        distributed_fit(
            seawall.FeaturePipeline({"s": seawall.StandardScale()}), dataset, executor="threads"
        )
    with pytest.raises(MissingColumnError):
        distributed_profile(dataset, ["nope"], executor="threads")
    empty = tmp_path / "empty"
    empty.mkdir()
    pq.write_table(table.slice(0, 0), empty / "part.parquet")
    with pytest.raises(InvalidInputError, match="empty data"):
        distributed_fit(feature_pipeline(), empty, executor="threads")
    assert distributed_profile(empty, executor="threads").num_rows == 0
    with pytest.raises(InvalidInputError, match="no such file"):
        distributed_profile(tmp_path / "missing", executor="threads")
