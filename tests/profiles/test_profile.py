"""Profile against numpy/Counter/set oracles, merge properties, and the saved format."""

from __future__ import annotations

import collections
import itertools
import math

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from seawall import _core
from seawall.errors import (
    DTypeError,
    IntegrityError,
    InvalidInputError,
    MissingColumnError,
    UnsupportedVersionError,
)
from seawall.profiles import Profile

BOUND = _core.KllSketch.rank_error_bound(200)
HLL_SE = 1.04 / math.sqrt(4096)


def check_quantiles(p: Profile, column: str, values: np.ndarray) -> None:
    """Each sketch quantile must lie between numpy's quantiles at q -+ the rank bound (numpy's
    'linear' quantile is monotone in q, and the sketch interpolates the same way)."""
    qs = [0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99]
    for q, v in zip(qs, p.quantiles(column, qs), strict=True):
        lo = np.quantile(values, max(0.0, q - BOUND))
        hi = np.quantile(values, min(1.0, q + BOUND))
        assert lo <= v <= hi, (q, v, lo, hi)


def test_numeric_against_numpy(rng):
    n = 300_000
    x = rng.normal(rng.uniform(-1e3, 1e3), rng.uniform(0.1, 100), n)
    x[rng.random(n) < 0.01] = np.nan
    mask = rng.random(n) < 0.02
    i = rng.integers(-50, 50, n)
    table = pa.table({"x": x, "i": pa.array(i, mask=mask)})
    p = Profile.from_data(table)
    s = p.stats("x")
    assert s["count"] == np.count_nonzero(~np.isnan(x))
    assert s["nans"] == np.count_nonzero(np.isnan(x)) and s["nulls"] == 0
    assert s["min"] == np.nanmin(x) and s["max"] == np.nanmax(x)
    assert s["mean"] == pytest.approx(np.nanmean(x), rel=1e-12)
    assert s["variance"] == pytest.approx(np.nanvar(x), rel=1e-10)
    check_quantiles(p, "x", x[~np.isnan(x)])
    assert abs(p.distinct("x") - len(set(x[~np.isnan(x)]))) <= 3 * HLL_SE * s["count"]
    si = p.stats("i")
    valid = i[~mask]
    assert si["nulls"] == mask.sum() and si["count"] == len(valid)
    assert si["mean"] == pytest.approx(valid.mean(), rel=1e-12)
    # 100 distinct integers: HLL is near exact this small (linear-counting range).
    assert abs(p.distinct("i") - len(set(valid.tolist()))) <= 3 * HLL_SE * 100


def test_strings_top_values_and_distinct(rng):
    levels = np.array([f"v{j}" for j in range(30)], dtype=object)
    words = levels[rng.zipf(1.5, 50_000) % 30]
    cat = pa.array(words.tolist()).dictionary_encode()
    p = Profile.from_data({"s": words, "d": cat}, top_k=64)
    truth = collections.Counter(words.tolist())
    for col in ("s", "d"):
        top = p.top_values(col, 100)
        assert dict(top) == dict(truth)  # 30 distinct <= 64 counters: exact
        assert [c for _, c in top] == sorted((c for _, c in top), reverse=True)
        assert p.stats(col)["frequent_exact"]
        assert abs(p.distinct(col) - len(truth)) <= 1


def truncated(value: str) -> str:
    """The key a profile counts a long string under (the oracle of FrequentItems::key_of)."""
    data = value.encode()
    limit = _core.TOP_VALUE_MAX_BYTES
    if len(data) <= limit:
        return value
    marker = f"…({len(data)} bytes)".encode()
    return data[: limit - len(marker)].decode("utf-8", "ignore") + marker.decode()


def test_long_strings_are_counted_by_their_first_bytes_and_length(rng, tmp_path):
    limit = _core.TOP_VALUE_MAX_BYTES
    bases = ["a" * limit, "a" * (limit + 1), "é" * limit, "x€" * 400, "short"]
    values = []
    for _ in range(3000):
        base = bases[int(rng.integers(len(bases)))]
        # A suffix past the kept bytes: values of one length and one prefix share their key.
        values.append(base + ("" if len(base) <= limit else str(int(rng.integers(10)))))
    truth = collections.Counter(truncated(v) for v in values)
    for data in ({"s": values}, {"s": pa.array(values).dictionary_encode()}):
        p = Profile.from_data(data)
        assert dict(p.top_values("s", 100)) == dict(truth)
        assert all(len(v.encode()) <= limit for v, _ in p.top_values("s", 100))
        assert abs(p.distinct("s") - len(set(values))) <= 1  # distinct counts whole values
    halves = [Profile.from_data({"s": values[:1000]}), Profile.from_data({"s": values[1000:]})]
    merged = halves[0].merge(halves[1])
    assert dict(merged.top_values("s", 100)) == dict(truth)
    merged.save(tmp_path / "p.swp")
    assert Profile.load(tmp_path / "p.swp").top_values("s", 100) == merged.top_values("s", 100)


def test_top_values_bound_when_pruned(rng):
    words = [f"k{int(v)}" for v in rng.zipf(1.3, 100_000) % 5000]
    batches = [pa.table({"s": words[i : i + 7000]}) for i in range(0, len(words), 7000)]
    p = Profile.from_data(batches, top_k=16)
    s = p.stats("s")
    bound = s["frequent_error_bound"]
    assert not s["frequent_exact"] and 0 < bound <= len(words) / 17
    got = dict(p.top_values("s", 100))
    for value, f in collections.Counter(words).items():
        assert f - bound <= got.get(value, 0) <= f


def test_nan_inf_empty_allnull_one_row():
    inf = np.inf
    p = Profile.from_data({"x": np.array([1.0, inf, np.nan, -5.0])})
    s = p.stats("x")
    assert (s["count"], s["nans"], s["min"], s["max"]) == (3, 1, -5.0, inf)
    assert s["mean"] == np.nanmean([1.0, inf, -5.0]) == inf
    assert p.quantiles("x", [1.0]) == [inf]
    with np.errstate(invalid="ignore"):
        both = Profile.from_data({"x": [inf, -inf, 1.0]}).stats("x")
    assert math.isnan(both["mean"]) and math.isnan(both["variance"])
    empty = Profile.from_data(
        pa.table({"x": pa.array([], pa.float64()), "s": pa.array([], pa.string())})
    )
    assert empty.num_rows == 0 and math.isnan(empty.stats("x")["mean"])
    d = empty.to_dict()
    assert d["columns"]["x"]["mean"] is None and d["columns"]["s"]["top_values"] == []
    nulls = Profile.from_data(pa.table({"x": pa.array([None, None], pa.float64())}))
    assert nulls.stats("x")["nulls"] == 2 and nulls.stats("x")["count"] == 0
    one = Profile.from_data({"x": [1e308]})
    assert one.quantiles("x", [0.0, 0.5, 1.0]) == [1e308] * 3
    assert one.stats("x")["variance"] == 0.0
    huge = Profile.from_data({"x": [1e308, 1e308, -1e308]})
    assert huge.stats("x")["max"] == 1e308


def test_quantiles_of_a_column_with_no_values_are_an_error(rng):
    """numpy.quantile raises on an empty array; a profile column with no value (no rows, only
    nulls, only NaN) says so naming the column, for quantiles and ranks alike, rather than
    answering [nan]. to_dict() (and the drift and dashboard code, which check the count first)
    report it as None."""
    n = int(rng.integers(1, 200))
    p = Profile.from_data(pa.table({"empty": pa.array([], pa.float64())}))
    q = Profile.from_data(
        pa.table(
            {
                "nulls": pa.array([None] * 2 * n, pa.float64()),
                "nans": pa.array([math.nan] * 2 * n),
                "mixed": pa.array([None, math.nan] * n),
                "x": rng.normal(0, 1, 2 * n),
            }
        )
    )
    for profile, column in [(p, "empty"), (q, "nulls"), (q, "nans"), (q, "mixed")]:
        with pytest.raises(InvalidInputError, match=f"column '{column}' has no values"):
            profile.quantiles(column, [0.5])
        with pytest.raises(InvalidInputError, match=f"column '{column}' has no values"):
            profile.rank(column, 0.0)
        entry = profile.to_dict()["columns"][column]
        assert entry["count"] == 0 and set(entry["quantiles"].values()) == {None}
        assert profile.histogram(column) == ([], [])
    values = q.quantiles("x", [0.5])  # a column with values still answers
    assert len(values) == 1 and math.isfinite(values[0])
    with pytest.raises(InvalidInputError, match="quantiles must be"):
        q.quantiles("x", ["0.5"])
    with pytest.raises(InvalidInputError, match="quantiles must be"):
        q.quantiles("x", [math.nan])


def test_bad_input():
    with pytest.raises(DTypeError, match="'t'"):
        Profile.from_data(pa.table({"t": pa.array([1, 2], pa.timestamp("s"))}))
    with pytest.raises(MissingColumnError, match="'nope'"):
        Profile.from_data({"x": [1.0]}, columns=["nope"])
    with pytest.raises(InvalidInputError):
        Profile.from_data([])
    with pytest.raises(InvalidInputError):
        Profile.from_data({"x": [1.0]}, sketch_k=5)
    p = Profile.from_data({"x": [1.0], "s": ["a"]})
    with pytest.raises(DTypeError):
        p.quantiles("s", [0.5])
    with pytest.raises(MissingColumnError):
        p.stats("zz")


def test_merge_policies():
    a = Profile.from_data({"x": [1.0, 2.0]})
    with pytest.raises(InvalidInputError, match="y"):
        a.merge(Profile.from_data({"y": [1.0]}))
    with pytest.raises(DTypeError, match="'x'"):
        a.merge(Profile.from_data({"x": ["a"]}))
    with pytest.raises(InvalidInputError):
        a.merge(Profile.from_data({"x": [1.0]}, sketch_k=100))
    merged = a.merge(a)
    assert merged.stats("x")["count"] == 4 and a.stats("x")["count"] == 2


@given(
    values=st.lists(
        st.one_of(st.floats(-1e6, 1e6, allow_nan=False), st.just(float("nan"))),
        min_size=1,
        max_size=400,
    ),
    cuts=st.lists(st.integers(0, 400), max_size=4),
    order=st.randoms(use_true_random=False),
)
def test_merge_any_split_any_order(values, cuts, order):
    x = np.array(values)
    words = [str(int(v) % 7) if not math.isnan(v) else None for v in values]
    bounds = sorted({0, len(x), *(c for c in cuts if c <= len(x))})
    parts = [
        Profile.from_data({"x": x[a:b], "s": pa.array(words[a:b], pa.string())})
        for a, b in itertools.pairwise(bounds)
    ]
    whole = Profile.from_data({"x": x, "s": pa.array(words, pa.string())})
    order.shuffle(parts)
    left = parts[0]
    for p in parts[1:]:
        left = left.merge(p)
    right = parts[-1]
    for p in reversed(parts[:-1]):
        right = p.merge(right)
    finite = x[~np.isnan(x)]
    for m in (left, right):
        s, w = m.stats("x"), whole.stats("x")
        for key in ("rows", "nulls", "nans", "count", "min", "max"):
            assert s[key] == w[key] or (math.isnan(s[key]) and math.isnan(w[key]))
        if len(finite):
            assert s["mean"] == pytest.approx(w["mean"], rel=1e-12, abs=1e-9)
            assert s["variance"] == pytest.approx(w["variance"], rel=1e-9, abs=1e-6)
            check_quantiles(m, "x", finite)
        assert m._state.registers(0) == whole._state.registers(0)
        assert m._state.registers(1) == whole._state.registers(1)
        assert m.top_values("s", 10) == whole.top_values("s", 10)


def test_save_load_and_corruption(tmp_path, rng):
    p = Profile.from_data({"x": rng.normal(size=5000), "s": rng.integers(0, 9, 5000).astype(str)})
    path = tmp_path / "p.swp"
    p.save(path)
    q = Profile.load(path)
    assert q.to_dict() == p.to_dict() and q.to_bytes() == p.to_bytes()
    data = path.read_bytes()
    assert data[:4] == b"SWPF"
    for cut in (0, 3, 10, 16, len(data) // 2, len(data) - 1):
        path.write_bytes(data[:cut])
        with pytest.raises(IntegrityError):
            Profile.load(path)
    for _ in range(200):
        bad = bytearray(data)
        bad[int(rng.integers(len(bad)))] ^= int(rng.integers(1, 256))
        path.write_bytes(bytes(bad))
        with pytest.raises((IntegrityError, UnsupportedVersionError)):
            Profile.load(path)
    newer = bytearray(data)
    newer[4] = 2
    path.write_bytes(bytes(newer))
    with pytest.raises(UnsupportedVersionError):
        Profile.load(path)


def test_size_independent_of_rows(rng):
    small = Profile.from_data({"x": rng.normal(size=1000)}).nbytes
    large = Profile.from_data({"x": rng.normal(size=1_000_000)}).nbytes
    assert small <= 64 * 1024 and large <= 64 * 1024
    assert large < 2 * small


def test_streams_and_thread_count_do_not_change_result(rng, restore_threads, tmp_path):
    import pyarrow.parquet as pq

    import seawall

    x = rng.normal(size=200_000)
    table = pa.table({"x": x})
    seawall.set_num_threads(1)
    one = Profile.from_data(table).to_bytes()
    seawall.set_num_threads(2)
    assert Profile.from_data(table).to_bytes() == one
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=30_000)
    streamed = Profile.from_data(tmp_path / "t.parquet")
    assert streamed.stats("x")["count"] == len(x)
    assert streamed.stats("x")["mean"] == pytest.approx(x.mean(), rel=1e-12)
    check_quantiles(streamed, "x", x)
    edges, counts = streamed.histogram("x", 8)
    truth, _ = np.histogram(x, bins=edges)
    assert np.all(np.abs(np.array(counts) - truth) <= 2 * BOUND * len(x))


def test_top_level_names():
    """The top-level spelling works: seawall.Profile and seawall.stats."""
    import seawall
    import seawall.profiles
    import seawall.stats

    assert seawall.Profile is seawall.profiles.Profile
    assert seawall.stats.ks_2samp is seawall.stats.numeric.ks_2samp
