"""Drift from two :class:`seawall.Profile` objects alone: no raw data.

``seawall.drift.compare(profile_ref, profile_cur)`` dispatches here. Each column gets the same
default method as :func:`seawall.drift.compare` (Evidently's rules, see that module), decided on
the profiles' counts and distinct values (HyperLogLog estimates, or the exact union of the
top-value lists / sketch values when these are exact), and the statistic is estimated from the
sketches. Every :class:`ColumnDrift` has ``source="profile"`` and a ``note`` saying how it was
estimated.

Numerical columns (KLL sketches, rank error ``eps = rank_error_bound(k) = 4/k`` per side)
-----------------------------------------------------------------------------------------
- ``ks``: ``D = max |F_ref(x) - F_cur(x)|`` over the union of both sketches' values on a fine
  quantile grid, p-value from Kolmogorov's asymptotic distribution with ``n m / (n + m)``
  (scipy's ``ks_2samp`` uses the exact distribution up to 10000 values; the asymptotic one is
  close for the sizes where it matters). **Bound**: ``|D_profile - D_exact| <= eps_ref +
  eps_cur`` (0.04 with the default k=200), with the sketches' 99.9% probability.
- ``wasserstein``: ``integral_0^1 |Q_ref(q) - Q_cur(q)| dq`` on 4000 midpoints, divided by
  ``max(std_ref, 0.001)`` with ``std_ref`` exact from the profile's moments. No worst-case bound
  follows from the rank error alone (a rank error in a steep tail is a large quantile error);
  **empirical bounds** on the normalised distance, k=200, measured on fresh draws of equal
  sizes, shifts 0 to 0.5: normal and two-component (normal + shifted exponential) mixtures,
  ``|W_profile - W_exact| <= 0.015`` at 50k rows and ``<= 0.01`` at 200k (medians 0.003-0.006);
  lognormal(sigma=1), ``<= 0.15`` at 50k (p95 0.085, median 0.017) and ``<= 0.04`` at 200k (p95
  0.027). The error shrinks about as 1/k: with ``sketch_k=800``, lognormal max 0.026 at 50k and
  0.008 at 200k. For heavy-tailed columns near the 0.1 threshold, profile with a larger k.
  (The KS bound does not depend on the tails: measured at most 0.009 against the bound 0.04.)
- ``jensenshannon``, ``psi``, ``kl_div``, ``tvd``, ``linf``: on Evidently's bins, derived from
  the sketches: Sturges edges over the combined [min, max] (``ceil(log2(n_ref + n_cur)) + 1``
  bins, as ``numpy.histogram_bin_edges(..., "sturges")``) when the reference has more than 20
  distinct values (HLL estimate), else one bin per value (values read off the sketches). Each
  bin share is within ``2 eps`` of the truth on each side; the distances have no tight bound
  from that (``psi`` and ``kl_div`` fill empty bins with 0.0001 and are sensitive to small tail
  bins: on 800 normal rows psi came out 0.034 against 0.017 exact). numpy's minimum bin width of 1 for
  integer columns is not applied (a profile does not keep the integer type).
- ``chisquare``, ``z`` on numbers (few distinct values): one bin per value, counts
  ``n * share`` rounded.

Categorical columns (top-value lists)
-------------------------------------
When both lists are exact (at most ``top_k`` distinct strings on each side) the counts are the
true ones and every method gives the exact result of ``compare`` on the data. Otherwise the
values outside the lists are pooled into one ``"other"`` bucket on each side (a category in one
list only counts as 0 on the other side, its count there being below that side's error bound),
and the note says so.

Not available from profiles: ``cramer_von_mises``, ``energy``, ``hellinger`` (they need the
values; an :class:`~seawall.errors.InvalidInputError` says so). Booleans are numeric in a
profile, so a boolean column is compared as numbers (``compare`` on data treats them as
categories).

Missing and infinite values are dropped and counted as ``compare`` does on data; a column with no
value left on a side (or a profile of no rows) gets the same ``status="no_data"`` result, with
the same counts and message, as ``compare`` gives on the data the profiles were made from. A
profile keeps no type for a column without values (an all-null column is "numeric"), so, as on
data, a side without values does not have to be of the other side's kind.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from .. import _core
from .._data import pair_columns
from ..errors import DTypeError, InvalidInputError
from ..profiles import Profile
from .compare import (
    _FEW_VALUES,
    Kind,
    _bars,
    _check_options,
    _check_threshold,
    _default_method,
    _method,
    compared_column,
)
from .report import ColumnDrift, Distribution, DriftReport, no_data_column

__all__ = ["PROFILE_METHODS", "compare_profiles", "kolmogorov_sf"]

PROFILE_METHODS = frozenset(
    {"ks", "wasserstein", "jensenshannon", "psi", "kl_div", "tvd", "linf", "chisquare", "z"}
)
_GRID = 4000  # quantile grid: midpoints for Wasserstein, candidate points for KS
_REF_DISTINCT_FOR_STURGES = 20  # Evidently: reference has more than 20 distinct values


# --- special functions (scipy-free) ----------------------------------------------------------


def kolmogorov_sf(x: float) -> float:
    """P(K > x) for Kolmogorov's limit distribution: ``2 sum (-1)^(j-1) exp(-2 j^2 x^2)``."""
    if x <= 0:
        return 1.0
    if x < 0.2:  # the alternating series converges slowly; the cdf is below 1e-20 here
        return 1.0
    total = 0.0
    for j in range(1, 101):
        term = math.exp(-2.0 * j * j * x * x)
        total += term if j % 2 else -term
        if term < 1e-300:
            break
    return min(1.0, max(0.0, 2.0 * total))


def _chi2_sf(x: float, dof: int) -> float:
    """P(X > x) for a chi-square with `dof` degrees of freedom (regularized upper gamma)."""
    if dof <= 0:
        return 1.0
    if x <= 0:
        return 1.0
    a, z = dof / 2.0, x / 2.0
    log_prefix = a * math.log(z) - z - math.lgamma(a)
    if z < a + 1:  # series for the lower gamma
        term = total = 1.0 / a
        ap = a
        for _ in range(10000):
            ap += 1
            term *= z / ap
            total += term
            if abs(term) < abs(total) * 1e-16:
                break
        return max(0.0, 1.0 - total * math.exp(log_prefix))
    # continued fraction for the upper gamma (modified Lentz)
    tiny = 1e-300
    b = z + 1 - a
    c = 1 / tiny
    d = 1 / b
    h = d
    for i in range(1, 10000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-16:
            break
    return min(1.0, math.exp(log_prefix) * h)


def _normal_sf2(z: float) -> float:
    """Two-sided normal p-value, ``2 P(Z > |z|)``."""
    return math.erfc(abs(z) / math.sqrt(2.0))


# --- statistics on shares and counts ---------------------------------------------------------


def _fill_empty(shares: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Evidently's stand-in for empty bins: 0.0001, or min non-zero / 1e6 when that is <= 1e-4."""
    out = shares.copy()
    positive = out[out > 0]
    small = positive.min() if positive.size else 1.0
    out[out <= 0] = small / 1e6 if small <= 0.0001 else 0.0001
    return out


def _shares_statistic(method: str, r: npt.NDArray[np.float64], c: npt.NDArray[np.float64]) -> float:
    if method == "jensenshannon":  # scipy.spatial.distance.jensenshannon, natural log
        p, q = r / r.sum(), c / c.sum()
        m = (p + q) / 2
        with np.errstate(divide="ignore", invalid="ignore"):
            kp = np.where(p > 0, p * np.log(p / m), 0.0).sum()
            kq = np.where(q > 0, q * np.log(q / m), 0.0).sum()
        return float(math.sqrt(max(0.0, (kp + kq) / 2)))
    if method == "psi":
        rf, cf = _fill_empty(r), _fill_empty(c)
        return float(((rf - cf) * np.log(rf / cf)).sum())
    if method == "kl_div":
        rf, cf = _fill_empty(r), _fill_empty(c)
        rf, cf = rf / rf.sum(), cf / cf.sum()
        return float((rf * np.log(rf / cf)).sum())
    if method == "tvd":
        return float(np.abs(r - c).sum() / 2)
    if method == "linf":
        return float(np.abs(r - c).max())
    raise AssertionError(method)


def _chi2_counts(r: npt.NDArray[np.float64], c: npt.NDArray[np.float64]) -> tuple[float, float]:
    """Pearson's test of homogeneity on the 2 x k table (chi2_contingency, correction=False)."""
    keep = (r + c) > 0
    r, c = r[keep], c[keep]
    if len(r) <= 1:
        return 0.0, 1.0
    table = np.vstack([r, c])
    total = table.sum()
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / total
    stat = float(((table - expected) ** 2 / expected).sum())
    return stat, _chi2_sf(stat, len(r) - 1)


def _z_counts(r: npt.NDArray[np.float64], c: npt.NDArray[np.float64]) -> tuple[float, float]:
    """Evidently's two-proportion z-test: the first bin coded 0, every other bin 1."""
    n1, n2 = r.sum(), c.sum()
    p1, p2 = (n1 - r[0]) / n1, (n2 - c[0]) / n2
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 0.0, 1.0
    z = float((p1 - p2) / se)
    return z, _normal_sf2(z)


# --- one numeric side ------------------------------------------------------------------------


def _counts(s: Mapping[str, Any]) -> tuple[int, int, int]:
    """(values left, missing, infinite) of one profile column, as compare counts them on data:
    NaN is missing; infinities are dropped from numbers (strings have none)."""
    infinite = int(s["neg_inf"]) + int(s["pos_inf"])
    return int(s["count"]) - infinite, int(s["nulls"]) + int(s["nans"]), infinite


class _NumericSide:
    """One profile's numeric column restricted to its finite values (as compare drops infs)."""

    def __init__(self, profile: Profile, column: str, s: dict[str, Any]) -> None:
        self.profile, self.column = profile, column
        self.i = profile._i(column)
        self.n_all = int(s["count"])  # non-null, non-NaN values, infinities included
        self.neg_inf, self.pos_inf = int(s["neg_inf"]), int(s["pos_inf"])
        self.n, self.missing, self.infinite = _counts(s)
        self.distinct = float(s["distinct"]) - (self.neg_inf > 0) - (self.pos_inf > 0)
        self.exact = bool(s["sketch_exact"])
        assert self.n > 0  # columns without values are reported before
        self.variance = max(0.0, float(s["finite_m2"]) / self.n)
        self.k = int(profile.options["sketch_k"])
        self.eps = 0.0 if self.exact else float(_core.KllSketch.rank_error_bound(self.k))
        if self.infinite:
            finite = self.quantiles(np.array([0.0, 1.0]))
            self.min, self.max = float(finite[0]), float(finite[1])
        else:
            self.min, self.max = float(s["min"]), float(s["max"])

    def quantiles(self, qs: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Quantiles of the finite values (the grid moved past the infinities)."""
        if self.infinite:
            qs = (self.neg_inf + qs * (self.n - 1) + 0.5) / self.n_all
            qs = np.clip(qs, self.neg_inf / self.n_all, (self.neg_inf + self.n - 1) / self.n_all)
            # an interior q on the finite block: the sketch's rank error covers the shift
        out = self.profile._state.quantiles(self.i, qs)
        return np.clip(out, -np.finfo(np.float64).max, np.finfo(np.float64).max)

    def ranks(self, xs: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Fraction of the finite values <= x."""
        r = self.profile._state.ranks(self.i, xs)
        if self.infinite:
            r = (r * self.n_all - self.neg_inf) / self.n
        return np.clip(r, 0.0, 1.0)

    def values(self) -> npt.NDArray[np.float64]:
        """The distinct values visible in the sketch (all of them when there are few)."""
        grid = np.linspace(0.0, 1.0, 2 * _GRID + 1)
        raw = self.profile._state.quantiles(self.i, grid)
        raw = raw[np.isfinite(raw)]
        # linear interpolation between two values is no value: keep those with mass
        u = np.unique(raw)
        if len(u) > 64:
            return u
        mass = self.ranks(u) - self.ranks(np.concatenate([[-np.inf], u[:-1]]))
        return u[mass > 0.5 / max(self.n, 1)]


def _value_shares(
    ref: _NumericSide, cur: _NumericSide
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """One bin per distinct value of both sides: (values, reference shares, current shares)."""
    values = np.union1d(ref.values(), cur.values())
    below = np.concatenate([[-np.inf], values[:-1]])
    r = ref.ranks(values) - ref.ranks(below)
    c = cur.ranks(values) - cur.ranks(below)
    return values, r, c


def _sturges_edges(ref: _NumericSide, cur: _NumericSide) -> npt.NDArray[np.float64]:
    lo, hi = min(ref.min, cur.min), max(ref.max, cur.max)
    n_bins = math.ceil(math.log2(ref.n + cur.n) + 1)
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    return np.linspace(lo, hi, n_bins + 1)


def _edge_shares(side: _NumericSide, edges: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    cdf = np.concatenate([[0.0], side.ranks(edges[1:-1]), [1.0]])
    return np.maximum(np.diff(cdf), 0.0)


def _ks(ref: _NumericSide, cur: _NumericSide) -> tuple[float, float]:
    grid = np.linspace(0.0, 1.0, _GRID + 1)
    points = np.union1d(ref.quantiles(grid), cur.quantiles(grid))
    d = float(np.abs(ref.ranks(points) - cur.ranks(points)).max()) if points.size else 0.0
    en = ref.n * cur.n / (ref.n + cur.n)
    return d, kolmogorov_sf(d * math.sqrt(en))


def _wasserstein(ref: _NumericSide, cur: _NumericSide) -> float:
    mid = (np.arange(_GRID) + 0.5) / _GRID
    w = float(np.abs(ref.quantiles(mid) - cur.quantiles(mid)).mean())
    return w / max(math.sqrt(ref.variance), 0.001)


def _numeric_column(
    column: str, ref: _NumericSide, cur: _NumericSide, method: str | None, as_categories: bool
) -> tuple[str, float, float | None, Distribution, str]:
    kind: Kind = "categorical" if as_categories else "numerical"
    if method is None:
        if kind == "numerical" or ref.n <= 1000:
            distinct = _union_distinct_numbers(ref, cur)
        else:
            distinct = 0
        method = _default_method(kind, ref.n, distinct)
    eps_note = f"rank error {ref.eps:.3g} (reference) + {cur.eps:.3g} (current)"
    sturges = not as_categories and ref.distinct > _REF_DISTINCT_FOR_STURGES
    if method in {"ks", "wasserstein"} or sturges:
        edges = _sturges_edges(ref, cur)
        r, c = _edge_shares(ref, edges), _edge_shares(cur, edges)
        dist = Distribution(
            "histogram", tuple(edges.tolist()), tuple(r.tolist()), tuple(c.tolist())
        )
        bins_note = "Sturges bins over the combined range"
    else:
        values, r, c = _value_shares(ref, cur)
        dist = _bars([f"{v:g}" for v in values], r, c, keep_order=True)
        bins_note = "one bin per value"
    if method == "ks":
        d, p = _ks(ref, cur)
        return method, d, p, dist, f"KS from KLL sketches, D within {eps_note}"
    if method == "wasserstein":
        note = f"Wasserstein from KLL quantiles ({_GRID} midpoints), {eps_note}"
        return method, _wasserstein(ref, cur), None, dist, note
    if method in {"chisquare", "z"}:
        rc, cc = np.round(r * ref.n), np.round(c * cur.n)
        stat, p = _chi2_counts(rc, cc) if method == "chisquare" else _z_counts(rc, cc)
        return method, stat, p, dist, f"{method} on counts from KLL sketches ({bins_note})"
    note = f"{method} on shares from KLL sketches ({bins_note}), {eps_note}"
    return method, _shares_statistic(method, r, c), None, dist, note


def _union_distinct_numbers(ref: _NumericSide, cur: _NumericSide) -> int:
    """Distinct values of both sides together, capped at 6 (all that the default rule needs)."""
    if max(ref.distinct, cur.distinct) > _FEW_VALUES + 0.5:
        return _FEW_VALUES + 1
    return min(len(np.union1d(ref.values(), cur.values())), _FEW_VALUES + 1)


# --- categorical columns ---------------------------------------------------------------------


def _category_counts(
    profile: Profile, column: str, s: Mapping[str, Any]
) -> tuple[dict[str, int], int, bool, float]:
    top = dict(profile.top_values(column, int(profile.options["top_k"])))
    return top, int(s["count"]), bool(s["frequent_exact"]), float(s["distinct"])


def _categorical_column(
    column: str,
    reference: Profile,
    current: Profile,
    method: str | None,
    stats: tuple[Mapping[str, Any], Mapping[str, Any]],
) -> tuple[str, float, float | None, Distribution, str]:
    rtop, rn, rexact, rdistinct = _category_counts(reference, column, stats[0])
    ctop, cn, cexact, cdistinct = _category_counts(current, column, stats[1])
    exact = rexact and cexact
    cats = sorted(set(rtop) | set(ctop))
    rc = np.array([rtop.get(k, 0) for k in cats], dtype=np.float64)
    cc = np.array([ctop.get(k, 0) for k in cats], dtype=np.float64)
    labels = list(cats)
    if exact:
        distinct = len(cats)
        note = "exact category counts from the profiles' top values"
    else:
        distinct = max(round(rdistinct), round(cdistinct), len(cats))
        rc = np.append(rc, rn - rc.sum())
        cc = np.append(cc, cn - cc.sum())
        labels.append("(other)")
        note = (
            "approximate: the top-value lists are not exact (more than top_k distinct values), "
            "the values outside them are pooled into one 'other' bucket"
        )
    if method is None:
        method = _default_method("categorical", rn, distinct)
    r, c = rc / rn, cc / cn
    dist = _bars(labels, r, c)
    if method == "chisquare":
        stat, p = _chi2_counts(rc, cc)
    elif method == "z":
        stat, p = _z_counts(rc, cc)
    else:
        stat, p = _shares_statistic(method, r, c), None
    return method, stat, p, dist, note


# --- compare ---------------------------------------------------------------------------------


def compare_profiles(
    reference: Profile,
    current: Profile,
    columns: Sequence[str] | None = None,
    methods: Mapping[str, str] | None = None,
    thresholds: Mapping[str, float] | None = None,
    drift_share: float = 0.5,
    *,
    categorical: Iterable[str] | None = None,
    _on_column: Callable[[int, int], None] | None = None,
) -> DriftReport:
    """:func:`seawall.drift.compare` on two profiles (module docstring: methods and errors)."""
    names = pair_columns(columns, reference.columns, current.columns)
    method_for, threshold_for, as_categories = _check_options(
        names, methods, thresholds, categorical
    )
    for c, m in method_for.items():
        if m not in PROFILE_METHODS:
            raise InvalidInputError(
                f"methods[{c!r}] = {m!r} needs the raw values; from profiles choose one of "
                f"{', '.join(sorted(PROFILE_METHODS))}"
            )
    results = []
    for name in names:
        results.append(
            _profile_column(
                reference,
                current,
                name,
                method_for.get(name),
                threshold_for.get(name),
                name in as_categories,
            )
        )
        if _on_column is not None:
            _on_column(len(results), len(names))
    return DriftReport.from_columns(results, drift_share, reference.num_rows, current.num_rows)


def _profile_column(
    reference: Profile,
    current: Profile,
    name: str,
    method: str | None,
    threshold: float | None,
    as_categories: bool,
) -> ColumnDrift:
    rstats, cstats = reference.stats(name), current.stats(name)
    rkind, ckind = str(rstats["kind"]), str(cstats["kind"])
    rcounts, ccounts = _counts(rstats), _counts(cstats)
    if rcounts[0] == 0 or ccounts[0] == 0:
        # the kind of a side with values; a profile calls a column without values numeric
        side_kind = ckind if rcounts[0] == 0 and ccounts[0] else rkind
        kind: Kind = "numerical" if side_kind == "numeric" and not as_categories else "categorical"
        if threshold is not None:
            threshold = _check_threshold(name, method, threshold)
        if method is not None:
            threshold = _method(name, method, kind).threshold if threshold is None else threshold
        result = no_data_column(
            name, kind, rcounts, ccounts, method=method, threshold=threshold, source="profile"
        )
        assert result is not None
        return result
    if rkind != ckind:
        words = {"numeric": "numbers", "string": "strings"}
        raise DTypeError(
            f"column {name!r}: the reference data holds {words[rkind]} but the current data "
            f"holds {words[ckind]}"
        )
    if rkind == "numeric":
        ref = _NumericSide(reference, name, rstats)
        cur = _NumericSide(current, name, cstats)
        kind = "categorical" if as_categories else "numerical"
        method, stat, p, dist, note = _numeric_column(name, ref, cur, method, as_categories)
    else:
        kind = "categorical"
        method, stat, p, dist, note = _categorical_column(
            name, reference, current, method, (rstats, cstats)
        )
    spec = _method(name, method, kind)
    threshold = spec.threshold if threshold is None else _check_threshold(name, method, threshold)
    return compared_column(
        name,
        kind,
        spec,
        stat,
        p,
        threshold,
        rcounts,
        ccounts,
        distribution=dist,
        source="profile",
        note=note,
    )
