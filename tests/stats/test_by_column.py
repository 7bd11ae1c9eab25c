"""seawall.stats.by_column: the batched form, checked column by column against scipy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

import seawall
import seawall.stats as ss
from seawall.errors import DTypeError, InvalidInputError, MissingColumnError


def tables(rng: np.random.Generator, rows: int = 3000) -> tuple[pa.Table, pa.Table]:
    def side(shift: float) -> pa.Table:
        return pa.table(
            {f"x{i}": rng.normal(shift * i, 1 + i, rows + int(shift * 17)) for i in range(6)}
        )

    return side(0.0), side(0.3)


@pytest.mark.parametrize("threads", [1, 3])
def test_ks_per_column_matches_scipy(rng, threads, restore_threads):
    seawall.set_num_threads(threads)
    ref, cur = tables(rng)
    out = ss.by_column(ss.ks_2samp, ref, cur)
    assert list(out) == ref.column_names
    for name, result in out.items():
        expected = stats.ks_2samp(ref[name].to_numpy(), cur[name].to_numpy())
        assert result.statistic == pytest.approx(expected.statistic, rel=1e-9)
        assert result.pvalue == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)


def test_options_and_subset_from_pandas(rng):
    ref, cur = tables(rng)
    out = ss.by_column(
        ss.wasserstein_distance, ref.to_pandas(), cur.to_pandas(), columns=["x3", "x1"]
    )
    assert list(out) == ["x3", "x1"]
    for name, value in out.items():
        expected = stats.wasserstein_distance(ref[name].to_numpy(), cur[name].to_numpy())
        assert value == pytest.approx(expected, rel=1e-9)
    js = ss.by_column(ss.jensenshannon, ref, cur, columns=["x2"], base=2)["x2"]
    r, c = ss.histogram_shares(ref["x2"], cur["x2"], fill_empty=False)[1:]
    assert js == pytest.approx(jensenshannon(r, c, base=2), rel=1e-9)


def test_categorical_columns_from_parquet(rng, tmp_path):
    levels = np.array(["a", "b", "c", "d"])
    ref = pa.table({"s": levels[rng.integers(0, 4, 500)], "t": levels[rng.integers(0, 3, 500)]})
    cur = pa.table({"s": levels[rng.integers(0, 4, 700)], "t": levels[rng.integers(1, 4, 700)]})
    pq.write_table(ref, tmp_path / "ref.parquet")
    pq.write_table(cur, tmp_path / "cur.parquet")
    out = ss.by_column(ss.chi2_contingency_test, tmp_path / "ref.parquet", tmp_path / "cur.parquet")
    for name in ("s", "t"):
        r = pd.Series(ref[name].to_numpy(zero_copy_only=False)).value_counts()
        c = pd.Series(cur[name].to_numpy(zero_copy_only=False)).value_counts()
        table = pd.concat([r, c], axis=1).fillna(0).to_numpy().T
        expected = stats.chi2_contingency(table, correction=False)
        assert out[name].statistic == pytest.approx(expected.statistic, rel=1e-9)
        assert out[name].pvalue == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)


def test_errors_name_the_column(rng):
    ref, cur = tables(rng, rows=50)
    bad = cur.set_column(2, "x2", pa.array([None] + [1.0] * (cur.num_rows - 1)))
    with pytest.raises(InvalidInputError, match=r"column 'x2'.*missing"):
        ss.by_column(ss.ks_2samp, ref, bad)
    strings = cur.set_column(4, "x4", pa.array(["a"] * cur.num_rows))
    with pytest.raises(DTypeError, match="column 'x4'"):
        ss.by_column(ss.energy_distance, ref, strings)
    with pytest.raises(MissingColumnError, match="'x0' is not in the current data"):
        ss.by_column(ss.ks_2samp, ref, cur.drop_columns(["x0"]))
    with pytest.raises(InvalidInputError, match=r"functions of seawall\.stats"):
        ss.by_column(np.mean, ref, cur)
    with pytest.raises(InvalidInputError, match="empty"):
        ss.by_column(ss.psi, ref.slice(0, 0), cur)
