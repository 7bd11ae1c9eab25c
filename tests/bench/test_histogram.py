"""The generator's latency histogram, as Python sees it: quantiles within the stated relative
error of numpy's exact nearest-rank quantiles, and merging equal to recording the union."""

from __future__ import annotations

import numpy as np
import pytest

from seawall import _core
from seawall.errors import InvalidInputError


def _exact(values: np.ndarray, q: float) -> float:
    return float(np.quantile(values, q, method="inverted_cdf"))


@pytest.mark.parametrize("n", [1, 3, 1000, 50_000])
def test_quantiles_within_the_stated_error(rng, n):
    values = rng.lognormal(np.log(2e6), 1.2, n).astype(np.uint64)  # ns, around 2 ms
    h = _core.LatencyHistogram()
    h.record(values)
    assert h.count == n
    assert h.min == values.min() and h.max == values.max()
    assert h.mean == pytest.approx(values.astype(np.float64).mean(), rel=1e-9)
    for q in [0.0, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0, *rng.random(20)]:
        exact = _exact(values, q)
        assert abs(h.quantile(q) - exact) <= exact * _core.LatencyHistogram.relative_error + 1


def test_merge_is_the_union(rng):
    a = rng.integers(0, 10**9, 5000).astype(np.uint64)
    b = rng.integers(0, 10**6, 3000).astype(np.uint64)
    ha, hb, both = _core.LatencyHistogram(), _core.LatencyHistogram(), _core.LatencyHistogram()
    ha.record(a)
    hb.record(b)
    both.record(np.concatenate([a, b]))
    merged = ha.copy()
    merged.merge(hb)
    assert ha.count == 5000  # the copy was merged, not the original
    assert merged.count == both.count and merged.max == both.max and merged.min == both.min
    for q in (0.1, 0.5, 0.99):
        assert merged.quantile(q) == both.quantile(q)


def test_empty_and_bad_quantiles():
    h = _core.LatencyHistogram()
    assert h.quantile(0.99) == 0 and h.count == 0 and h.mean == 0.0
    h.record(np.array([5], dtype=np.uint64))
    for q in (-0.5, 1.01, float("nan")):
        with pytest.raises(InvalidInputError, match="quantile"):
            h.quantile(q)
