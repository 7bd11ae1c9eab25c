"""seawall.drift.compare: column-by-column data drift between a reference and a current dataset.

Default methods
---------------
Each column gets Evidently's default test (``_get_default_stattest`` in Evidently's
``src/evidently/legacy/calculations/stattests/registry.py``, checked against its source). With
``n_ref`` the reference's values and ``n_distinct`` the distinct values of reference and current
*together* (``pd.concat([reference, current]).nunique()``), both counted after dropping missing
and infinite values:

==================  ==================  =====================  ======================  =========
reference values    kind                distinct (ref + cur)   method                  drift when
==================  ==================  =====================  ======================  =========
``n_ref <= 1000``   numerical           more than 5            ``ks``                  p <= 0.05
``n_ref <= 1000``   numerical           3 to 5                 ``chisquare``           p < 0.05
``n_ref <= 1000``   categorical         3 or more              ``chisquare``           p < 0.05
``n_ref <= 1000``   either              1 or 2                 ``z``                   p < 0.05
``n_ref > 1000``    numerical           more than 5            ``wasserstein``         >= 0.1
``n_ref > 1000``    numerical           at most 5              ``jensenshannon``       >= 0.1
``n_ref > 1000``    categorical         any                    ``jensenshannon``       >= 0.1
==================  ==================  =====================  ======================  =========

Methods and default thresholds (``methods={"col": name}``, ``thresholds={"col": value}``); the
tests drift when the p-value is below the threshold (``ks``: at most, as Evidently's
``ks_stattest.py``), the distances when the statistic is at least the threshold:

- ``ks`` (0.05, numerical): :func:`seawall.stats.ks_2samp`.
- ``chisquare`` (0.05): :func:`seawall.stats.chi2_contingency_test`, Pearson's test of
  homogeneity on the 2 x k table of counts (``scipy.stats.chi2_contingency(table,
  correction=False)``). Evidently's ``chisquare`` is instead a goodness-of-fit test of current
  counts against reference shares (``scipy.stats.chisquare``), which is undefined (p = 0 or NaN)
  when a category is absent from the reference; the two agree closely when the current sample
  is small next to the reference and differ otherwise.
- ``z`` (0.05): :func:`seawall.stats.z_test_proportions`, Evidently's two-proportion z-test (the
  smallest value or first category against the rest).
- ``cramer_von_mises`` (0.05, numerical): :func:`seawall.stats.cramervonmises_2samp`.
- ``wasserstein`` (0.1, numerical): Evidently's normed Wasserstein distance
  (``wasserstein_distance_norm.py``), ``wasserstein_distance(ref, cur) / max(np.std(ref),
  0.001)``. Unlike :func:`seawall.stats.wasserstein_distance_norm` (which raises on a constant
  reference), a constant reference is divided by 0.001, as Evidently does.
- ``psi``, ``kl_div``, ``jensenshannon``, ``hellinger`` (0.1 each): the :mod:`seawall.stats`
  functions with Evidently's binning (Sturges bins over both samples when the reference has
  more than 20 distinct numbers, else one bin per value or category; ``hellinger`` bins
  numbers on Sturges edges over the distinct values). Numeric columns declared categorical are
  binned one bin per value.
- ``energy`` (0.1, numerical): :func:`seawall.stats.energy_distance`.
- ``tvd`` (0.1): :func:`seawall.stats.total_variation`, the distance itself (Evidently's ``TVD``
  reports a permutation p-value of it instead).
- ``linf`` (0.1): :func:`seawall.stats.l_infinity`.

Kinds, missing values, bad input
--------------------------------
- Strings, dictionaries (pandas categoricals) and booleans are categorical; integers, floats and
  decimals numerical, unless listed in ``categorical=[...]`` (then one category per value). A
  column whose kind differs between the sides raises :class:`~seawall.errors.DTypeError`
  naming it; other types (timestamps, lists...) too.
- Missing values (null, NaN) and, in numerical columns, infinities are dropped per column and
  per side before the statistic, as Evidently does (its ``get_one_column_drift`` replaces
  ``±inf`` with NaN and drops them); the counts are reported per side (``*_missing``,
  ``*_infinite``). Dropping infinities keeps every method defined on the same values (the
  Wasserstein and energy distances are undefined for them), so the same data gives a report
  whichever method the size picks.
- Some missing or infinite values: the statistic uses the values left on each side, and the
  counts of those dropped are reported. No value left on a side (every value missing or
  infinite, an all-null string column, a table with no rows): the column is not compared; its
  result has ``status="no_data"`` and an ``error`` saying which side lacks values and why, it
  is left out of the drift share, and the other columns are compared as usual (see
  :mod:`seawall.drift.report`; Evidently raises instead). A side without values does not fix
  the column's kind, so its type need not match the other side's. A column on one side only
  raises :class:`~seawall.errors.MissingColumnError`.
- Constant columns are well defined: ``ks`` gives D = 0, p = 1 when both sides hold the same
  value; ``chisquare`` and ``z`` give statistic 0, p = 1 for a single shared category; the
  distances give 0 for identical samples. A statistic that still comes out NaN raises
  :class:`~seawall.errors.InvalidInputError` naming the column: never a silent NaN.

Columns are computed concurrently (``seawall.get_num_threads()`` threads; the native statistics
release the GIL) and reported in column order; the result does not depend on the thread count.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from .. import _core, stats
from .._data import TableSource, pair_columns
from .._parallel import map_in_threads
from ..errors import DTypeError, InvalidInputError, MissingColumnError, SeawallError
from ..stats.categorical import _bin
from .report import ColumnDrift, Distribution, DriftReport, column_result, no_data_column

__all__ = ["METHODS", "Method", "compare"]

Kind = Literal["numerical", "categorical"]


@dataclass(frozen=True)
class Method:
    """A drift method: its name, whether it is a test (p-value) or a distance, its default
    threshold, and whether it applies to numerical columns only."""

    name: str
    test: bool
    threshold: float
    numerical_only: bool = False
    inclusive: bool = False
    """Tests: drift also when the p-value equals the threshold (Evidently's ``ks``)."""

    def drifted(self, statistic: float, pvalue: float | None, threshold: float) -> bool:
        """Tests drift below the threshold p-value, distances at or above the threshold."""
        if self.test:
            assert pvalue is not None
            return bool(pvalue <= threshold if self.inclusive else pvalue < threshold)
        return bool(statistic >= threshold)


METHODS: Mapping[str, Method] = {
    m.name: m
    for m in (
        Method("ks", True, 0.05, numerical_only=True, inclusive=True),
        Method("chisquare", True, 0.05),
        Method("z", True, 0.05),
        Method("cramer_von_mises", True, 0.05, numerical_only=True),
        Method("wasserstein", False, 0.1, numerical_only=True),
        Method("psi", False, 0.1),
        Method("kl_div", False, 0.1),
        Method("jensenshannon", False, 0.1),
        Method("hellinger", False, 0.1),
        Method("energy", False, 0.1, numerical_only=True),
        Method("tvd", False, 0.1),
        Method("linf", False, 0.1),
    )
}

_SMALL_REFERENCE = 1000  # Evidently: reference_data.shape[0] <= 1000
_FEW_VALUES = 5  # Evidently: n_values <= 5
_TOP_CATEGORIES = 20


# --- options ---------------------------------------------------------------------------------


def _check_options(
    names: list[str], methods: Any, thresholds: Any, categorical: Any
) -> tuple[dict[str, Any], dict[str, Any], set[str]]:
    """Validates the per-column options: (method by column, threshold by column, categorical)."""
    compared = set(names)
    method_for = _per_column(methods, "methods", compared)
    threshold_for = _per_column(thresholds, "thresholds", compared)
    if categorical is not None and (
        isinstance(categorical, str) or not isinstance(categorical, Iterable)
    ):
        raise InvalidInputError(f"categorical must be a list of column names, got {categorical!r}")
    as_categories = set(categorical or ())
    for c in as_categories:
        if c not in compared:
            raise MissingColumnError(f"categorical names column {c!r}, which is not compared")
    for c, m in method_for.items():
        if m not in METHODS:
            raise InvalidInputError(
                f"methods[{c!r}] = {m!r} is not a drift method; choose one of {', '.join(METHODS)}"
            )
    return method_for, threshold_for, as_categories


def _per_column(option: Any, name: str, columns: set[str]) -> dict[str, Any]:
    if option is None:
        return {}
    if not isinstance(option, Mapping):
        raise InvalidInputError(f"{name} must be a dict of column name to value, got {option!r}")
    for c in option:
        if c not in columns:
            raise MissingColumnError(f"{name} names column {c!r}, which is not compared")
    return dict(option)


# --- one column ------------------------------------------------------------------------------


@dataclass
class _Side:
    values: npt.NDArray[Any] | pa.ChunkedArray
    missing: int
    infinite: int


def _side_kind(t: pa.DataType, column: str, which: str) -> str | None:
    """'numerical', 'categorical', or None for an all-null column of the null type."""
    if pa.types.is_null(t):
        return None
    if pa.types.is_dictionary(t):
        v = t.value_type
        if pa.types.is_integer(v) or pa.types.is_floating(v) or pa.types.is_decimal(v):
            return "categorical_numbers"
        return "categorical"
    if (
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_string_view(t)
        or pa.types.is_boolean(t)
    ):
        return "categorical"
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "numerical"
    raise DTypeError(
        f"column {column!r}: cannot compare values of type {t} (in the {which} data); drift "
        "reports read numbers, strings, booleans and dictionaries"
    )


def _numbers(col: pa.ChunkedArray) -> _Side:
    t = col.type
    if pa.types.is_dictionary(t):
        col = col.cast(t.value_type)
        t = col.type
    missing = col.null_count
    if missing:
        col = pc.drop_null(col)
    if pa.types.is_decimal(t) or pa.types.is_null(t):
        col = col.cast(pa.float64())
    # Integers stay integers: the binned statistics then use numpy's integer bin widths, as
    # Evidently (which passes the pandas column) does.
    values = np.asarray(col.to_numpy())
    if values.dtype.kind not in "iuf":
        values = values.astype(np.float64)
    infinite = 0
    if values.dtype.kind == "f":
        finite = np.isfinite(values)
        if not finite.all():
            nan = int(np.isnan(values).sum())
            infinite = int(values.size - finite.sum()) - nan
            missing += nan
            values = values[finite]
    return _Side(np.ascontiguousarray(values), int(missing), infinite)


def _strings(col: pa.ChunkedArray) -> _Side:
    t = col.type
    if pa.types.is_boolean(t) or pa.types.is_string_view(t) or pa.types.is_null(t):
        col = col.cast(pa.large_string())
    elif pa.types.is_dictionary(t) and pa.types.is_string_view(t.value_type):
        col = col.cast(pa.large_string())
    missing = col.null_count
    if missing:
        col = pc.drop_null(col)
    return _Side(col, int(missing), 0)


def _distinct_upto(ref: Any, cur: Any, cap: int) -> int:
    """The number of distinct values of both samples together, or `cap` when at least that."""
    if isinstance(ref, np.ndarray):
        if len(np.unique(ref[:4096])) >= cap:
            return cap
        uref = pc.unique(pa.array(ref)).to_numpy()
        if len(uref) >= cap:
            return cap
        ucur = pc.unique(pa.array(cur)).to_numpy()
        # np.union1d also merges 0.0 and -0.0, as pandas' nunique does.
        return min(len(np.union1d(uref, ucur)), cap)
    uref = pc.unique(ref)
    if len(uref) >= cap:
        return cap
    ucur = pc.unique(cur)
    if len(ucur) >= cap:
        return cap
    return min(len(set(uref.to_pylist()) | set(ucur.to_pylist())), cap)


def _default_method(kind: Kind, n_ref: int, distinct: int) -> str:
    if n_ref <= _SMALL_REFERENCE:
        if kind == "numerical" and distinct > _FEW_VALUES:
            return "ks"
        return "chisquare" if distinct > 2 else "z"
    if kind == "numerical" and distinct > _FEW_VALUES:
        return "wasserstein"
    return "jensenshannon"


def _statistic(method: str, ref: Any, cur: Any, value_bins: bool) -> tuple[float, float | None]:
    """(statistic, p-value or None). `value_bins`: numbers read as categories."""
    auto = "values" if value_bins else "auto"
    if method == "ks":
        r = stats.ks_2samp(ref, cur)
        return r.statistic, r.pvalue
    if method == "cramer_von_mises":
        c = stats.cramervonmises_2samp(ref, cur)
        return c.statistic, c.pvalue
    if method == "chisquare":
        x = stats.chi2_contingency_test(ref, cur)
        return x.statistic, x.pvalue
    if method == "z":
        z = stats.z_test_proportions(ref, cur)
        return z.statistic, z.pvalue
    if method == "wasserstein":
        # Evidently's norm, max(np.std(ref), 0.001): defined for a constant reference too.
        norm = max(float(np.std(ref)), 0.001)
        return stats.wasserstein_distance(ref, cur) / norm, None
    if method == "energy":
        return stats.energy_distance(ref, cur), None
    if method == "psi":
        return stats.psi(ref, cur, auto), None
    if method == "kl_div":
        return stats.kl_divergence(ref, cur, auto), None
    if method == "jensenshannon":
        return stats.jensenshannon(ref, cur, auto), None
    if method == "hellinger":
        return stats.hellinger(ref, cur, "values" if value_bins else "sturges_distinct"), None
    if method == "tvd":
        return stats.total_variation(ref, cur), None
    if method == "linf":
        return stats.l_infinity(ref, cur), None
    raise AssertionError(method)


# The binned statistics of string columns, from their category counts (as seawall.stats).
_FROM_CATEGORIES: dict[str, Callable[[Any], float]] = {
    "jensenshannon": lambda b: _core.jensenshannon(b, None),
    "psi": _core.psi,
    "kl_div": lambda b: _core.kl_divergence(b, None),
    "hellinger": _core.hellinger,
    "tvd": _core.total_variation,
    "linf": _core.l_infinity,
}


def _distribution(ref: Any, cur: Any, kind: Kind, value_bins: bool) -> Distribution:
    numbers = isinstance(ref, np.ndarray)
    bins = "values" if (kind == "categorical" or value_bins) else "auto"
    shares = stats.histogram_shares(ref, cur, bins, fill_empty=False)
    r, c = shares.reference, shares.current
    if numbers and len(shares.bins) == len(r) + 1:
        edges = tuple(float(e) for e in shares.bins)
        return Distribution("histogram", edges, tuple(r.tolist()), tuple(c.tolist()))
    labels = [str(b) for b in shares.bins] if not numbers else [f"{b:g}" for b in shares.bins]
    return _bars(labels, r, c, keep_order=numbers)


def _bars(labels: list[str], r: Any, c: Any, keep_order: bool = False) -> Distribution:
    """Bar-chart data: the _TOP_CATEGORIES bins with the largest combined share (in their own
    order when keep_order, e.g. numeric values), and how many were left out."""
    order = np.arange(len(r))
    hidden = 0
    if len(r) > _TOP_CATEGORIES:
        order = np.argsort(-(r + c), kind="stable")[:_TOP_CATEGORIES]
        hidden = len(r) - _TOP_CATEGORIES
        if keep_order:
            order = np.sort(order)
    return Distribution(
        "bars",
        tuple(labels[i] for i in order),
        tuple(float(r[i]) for i in order),
        tuple(float(c[i]) for i in order),
        hidden,
    )


@dataclass(frozen=True)
class _Spec:
    name: str
    method: str | None
    threshold: float | None
    categorical: bool


def _method(column: str, name: str, kind: Kind) -> Method:
    method = METHODS[name]
    if method.numerical_only and kind != "numerical":
        raise InvalidInputError(
            f"column {column!r}: method {name!r} applies to numerical columns only; "
            f"this column is {kind}"
        )
    return method


def _no_data(spec: _Spec, kinds: list[str | None], ref: _Side, cur: _Side) -> ColumnDrift:
    """The result of a column with no value left on a side. Its kind is that of a side with
    values (the other side's type says nothing about values it does not have)."""
    with_values = [k for k, s in zip(kinds, (ref, cur), strict=True) if len(s.values) and k]
    known = with_values or [k for k in kinds if k is not None] or ["numerical"]
    kind: Kind = "numerical" if known[0] == "numerical" and not spec.categorical else "categorical"
    threshold = spec.threshold
    if spec.method is not None:
        method = _method(spec.name, spec.method, kind)
        threshold = method.threshold if threshold is None else threshold
    result = no_data_column(
        spec.name,
        kind,
        (len(ref.values), ref.missing, ref.infinite),
        (len(cur.values), cur.missing, cur.infinite),
        method=spec.method,
        threshold=threshold,
    )
    assert result is not None
    return result


def _side_values(col: pa.ChunkedArray, kind: str | None) -> _Side:
    if kind is None:  # the null type: every value missing
        return _Side(np.empty(0), len(col), 0)
    return _strings(col) if kind == "categorical" else _numbers(col)


def _one_column(spec: _Spec, ref_col: pa.ChunkedArray, cur_col: pa.ChunkedArray) -> ColumnDrift:
    name = spec.name
    kinds = [_side_kind(ref_col.type, name, "reference"), _side_kind(cur_col.type, name, "current")]
    ref, cur = _side_values(ref_col, kinds[0]), _side_values(cur_col, kinds[1])
    if len(ref.values) == 0 or len(cur.values) == 0:
        return _no_data(spec, kinds, ref, cur)
    rkind, ckind = kinds
    assert rkind is not None and ckind is not None  # a null-typed side has no values
    base = {"categorical_numbers": "numbers", "numerical": "numbers", "categorical": "strings"}
    if base[rkind] != base[ckind] or (rkind != ckind and not spec.categorical):
        words = {
            "numerical": "numbers",
            "categorical": "strings or booleans",
            "categorical_numbers": "categories of numbers",
        }
        raise DTypeError(
            f"column {name!r}: the reference data holds {words[rkind]} but the "
            f"current data holds {words[ckind]}"
        )
    numbers = base[rkind] == "numbers"
    kind: Kind = "numerical" if rkind == "numerical" and not spec.categorical else "categorical"
    value_bins = numbers and kind == "categorical"

    method_name = spec.method
    if method_name is None:
        n_ref = len(ref.values)
        needs_distinct = kind == "numerical" or n_ref <= _SMALL_REFERENCE
        distinct = _distinct_upto(ref.values, cur.values, _FEW_VALUES + 1) if needs_distinct else 0
        method_name = _default_method(kind, n_ref, distinct)
    method = _method(name, method_name, kind)
    threshold = method.threshold if spec.threshold is None else spec.threshold

    try:
        if not numbers and method_name in _FROM_CATEGORIES:
            # Strings: one pass counting the categories serves the statistic and the plot.
            bins = _bin(ref.values, cur.values, "values", 10, "values")
            statistic, pvalue = _FROM_CATEGORIES[method_name](bins), None
            r, c = bins.shares(False)
            distribution = _bars([str(x) for x in bins.categories], r, c)
        else:
            statistic, pvalue = _statistic(method_name, ref.values, cur.values, value_bins)
            distribution = _distribution(ref.values, cur.values, kind, value_bins)
    except SeawallError as exc:
        raise type(exc)(f"column {name!r} ({method_name}): {exc}") from exc
    return compared_column(
        name,
        kind,
        method,
        statistic,
        pvalue,
        threshold,
        (len(ref.values), ref.missing, ref.infinite),
        (len(cur.values), cur.missing, cur.infinite),
        distribution=distribution,
    )


def compared_column(
    name: str,
    kind: Kind,
    method: Method,
    statistic: float,
    pvalue: float | None,
    threshold: float,
    reference: tuple[int, int, int],
    current: tuple[int, int, int],
    **fields: Any,
) -> ColumnDrift:
    """The result of a compared column, from its statistic and each side's (values used,
    missing, infinite) counts; a statistic that came out NaN or infinite raises, naming the
    column, rather than giving a silent NaN."""
    statistic = float(statistic)
    if not math.isfinite(statistic) or (pvalue is not None and not math.isfinite(pvalue)):
        on = "profiles" if fields.get("source") == "profile" else "values"
        raise InvalidInputError(
            f"column {name!r}: {method.name} is undefined on these {on} "
            f"(statistic {statistic}, p-value {pvalue})"
        )
    return column_result(
        name,
        kind,
        reference,
        current,
        method=method.name,
        statistic=statistic,
        pvalue=None if pvalue is None else float(pvalue),
        threshold=float(threshold),
        drifted=method.drifted(statistic, pvalue, threshold),
        **fields,
    )


# --- compare ---------------------------------------------------------------------------------


def _check_threshold(column: str, method: str | None, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidInputError(f"thresholds[{column!r}] must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise InvalidInputError(
            f"thresholds[{column!r}] must be a finite non-negative number, got {value}"
        )
    if method is not None and METHODS[method].test and value > 1:
        raise InvalidInputError(
            f"thresholds[{column!r}] = {value} is a p-value threshold for {method!r}: it must "
            "be at most 1"
        )
    return value


def compare(
    reference: Any,
    current: Any,
    columns: Sequence[str] | None = None,
    methods: Mapping[str, str] | None = None,
    thresholds: Mapping[str, float] | None = None,
    drift_share: float = 0.5,
    *,
    categorical: Iterable[str] | None = None,
    _on_column: Callable[[int, int], None] | None = None,
) -> DriftReport:
    """Compares `current` with `reference`, column by column, and says which columns drifted.

    `reference` and `current` are pyarrow Tables or RecordBatches, pandas or polars DataFrames,
    dicts of arrays, or Parquet files, directories or pyarrow datasets (only the compared columns
    are read). `columns` defaults to every column (each must be on both sides). `methods` and
    `thresholds` override the defaults per column (module docstring); `categorical` lists
    numeric columns to compare as categories. The dataset drifts when the share of drifted
    columns is at least `drift_share` (Evidently's default, 0.5). A column with no value left on
    a side is reported with ``status="no_data"`` and left out of that share (module docstring).
    """
    if isinstance(drift_share, bool) or not isinstance(drift_share, (int, float, np.floating)):
        raise InvalidInputError(f"drift_share must be a number in [0, 1], got {drift_share!r}")
    if not 0 <= float(drift_share) <= 1:
        raise InvalidInputError(f"drift_share must be in [0, 1], got {drift_share}")
    from ..profiles import Profile

    if isinstance(reference, Profile) and isinstance(current, Profile):
        from .from_profiles import compare_profiles

        return compare_profiles(
            reference,
            current,
            columns,
            methods,
            thresholds,
            drift_share,
            categorical=categorical,
            _on_column=_on_column,
        )
    ref_source = TableSource(reference, "reference")
    cur_source = TableSource(current, "current")
    names = pair_columns(columns, ref_source.names, cur_source.names)
    method_for, threshold_for, as_categories = _check_options(
        names, methods, thresholds, categorical
    )
    specs = [
        _Spec(
            c,
            method_for.get(c),
            _check_threshold(c, method_for.get(c), threshold_for[c])
            if c in threshold_for
            else None,
            c in as_categories,
        )
        for c in names
    ]
    ref_table = ref_source.read(names)
    cur_table = cur_source.read(names)

    done = itertools.count(1)  # next() is atomic under the GIL: a thread-safe counter

    def run(spec: _Spec) -> ColumnDrift:
        result = _one_column(spec, ref_table.column(spec.name), cur_table.column(spec.name))
        if spec.threshold is not None and spec.method is None and result.method is not None:
            _check_threshold(spec.name, result.method, spec.threshold)
        if _on_column is not None:  # a progress display (seawall report drift)
            _on_column(next(done), len(specs))
        return result

    return DriftReport.from_columns(
        map_in_threads(run, specs), drift_share, ref_table.num_rows, cur_table.num_rows
    )
