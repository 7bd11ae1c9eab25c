"""Drift statistics over binned and categorical data, computed natively.

Each function compares a *reference* sample with a *current* one and reproduces a named
reference implementation on float64 input (to 1e-9 relative, checked in
``tests/stats/test_categorical.py``):

=============================  ======================================================================
function                       reference
=============================  ======================================================================
:func:`psi`                    Evidently ``psi``
:func:`kl_divergence`          Evidently ``kl_div`` (``scipy.stats.entropy(reference, current)``)
:func:`jensenshannon`          Evidently ``jensenshannon`` (``scipy.spatial.distance.jensenshannon``)
:func:`hellinger`              Evidently ``hellinger``
:func:`total_variation`        Evidently ``TVD``'s statistic
:func:`l_infinity`             TensorFlow Data Validation's categorical drift measure
:func:`chi2_contingency_test`  ``scipy.stats.chi2_contingency(table, correction=False)``
:func:`z_test_proportions`     Evidently ``z`` (two-proportion z-test)
=============================  ======================================================================

**Samples.** Numbers (numpy arrays, lists, pandas/polars Series, pyarrow integer, float, boolean
or decimal arrays) or strings (lists of ``str``, pyarrow string, large string, string view or
dictionary arrays, pandas categoricals). Both samples must be of the same kind. Missing values
(NaN, None, nulls) are an error: drop or impute them first. Numbers are compared as float64, so
integers beyond 2**53 may merge; float32 input is widened first, so parity is for float64 input.

**Bins** are shared by both samples (argument ``bins``):

- ``"auto"`` -- Evidently's ``get_binned_data``: when the *reference* has more than 20 distinct
  values, Sturges edges over reference and current combined
  (``numpy.histogram_bin_edges(np.concatenate([reference, current]), "sturges")``, bit for bit,
  including numpy's minimum width of 1 when both samples are integers); otherwise ``"values"``.
- ``"values"`` -- one bin per distinct value of reference and current together. Strings always
  use their categories this way; a category seen in only one sample is counted, never dropped.
- ``"sturges"`` -- Sturges edges over both samples, whatever the number of distinct values.
- ``"sturges_distinct"`` -- Sturges edges over the *distinct* values of both samples, the
  binning of Evidently's ``hellinger`` for numbers.
- ``"quantile"`` -- ``n_quantiles`` bins at the reference's quantiles
  (``numpy.quantile(reference, numpy.linspace(0, 1, n_quantiles + 1))``, duplicate edges
  dropped), the outer edges widened to the current sample's minimum and maximum so that every
  value falls in a bin.
- an ``int`` -- that many equal-width bins over both samples (``numpy.histogram_bin_edges``).
- an array of edges -- strictly increasing; as in ``numpy.histogram`` bins are half-open
  ``[a, b)`` but the last is closed, and a value outside every bin still counts in its sample's
  size, so shares then sum to less than 1.

Bin *shares* are counts divided by the sample size. Where a statistic needs every share positive
(:func:`psi`, :func:`kl_divergence`) each sample's empty bins get Evidently's stand-in:
0.0001, or the sample's smallest non-zero share divided by 10**6 when that share is at most
0.0001.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeAlias

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from .. import _core
from .._data import CONVERSION_ERRORS, column_chunks, conversion_error
from ..errors import DTypeError, InvalidInputError

__all__ = [
    "BinnedShares",
    "Chi2ContingencyResult",
    "ZTestResult",
    "chi2_contingency_test",
    "hellinger",
    "histogram_shares",
    "jensenshannon",
    "kl_divergence",
    "l_infinity",
    "psi",
    "total_variation",
    "z_test_proportions",
]

Bins: TypeAlias = str | int | Sequence[float] | npt.NDArray[np.floating[Any]]

_NUMBER_RULES = frozenset({"auto", "values", "sturges", "sturges_distinct", "quantile"})


class BinnedShares(NamedTuple):
    """The shared bins and each sample's share of values in them.

    ``bins`` holds ``len(reference) + 1`` edges for interval bins, ``len(reference)`` values
    (ascending) when each bin is one number, or the categories (a list of ``str``, ascending by
    code point) for strings.
    """

    bins: npt.NDArray[np.float64] | list[str]
    reference: npt.NDArray[np.float64]
    current: npt.NDArray[np.float64]


@dataclass(frozen=True)
class Chi2ContingencyResult:
    """Pearson's chi-square test of independence on the 2 x k table of counts."""

    statistic: float
    pvalue: float
    dof: int


@dataclass(frozen=True)
class ZTestResult:
    """Two-proportion z-test: the z statistic and its two-sided p-value."""

    statistic: float
    pvalue: float


# --- samples ---------------------------------------------------------------------------------


class _Numbers(NamedTuple):
    values: npt.NDArray[np.float64]
    integer: bool


def _is_string_type(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def _to_arrow(values: Any, which: str) -> pa.Array | pa.ChunkedArray | npt.NDArray[Any]:
    if isinstance(values, (pa.Array, pa.ChunkedArray, np.ndarray)):
        return values
    module = type(values).__module__
    if module.startswith("polars") and hasattr(values, "to_arrow"):
        return values.to_arrow()
    try:
        if module.startswith("pandas"):
            return pa.array(values, from_pandas=True)
        # Straight to Arrow: numpy would turn ["a", 1.5] into strings silently. from_pandas makes
        # a float NaN among strings a null, as pandas writes missing strings.
        return pa.array(list(values), from_pandas=True)
    except CONVERSION_ERRORS as exc:
        raise conversion_error(exc, f"the {which} sample", [values]) from exc
    except TypeError as exc:
        raise DTypeError(
            f"the {which} sample must be an array or a sequence, got {type(values).__name__}"
        ) from exc


def _sample(values: Any, which: str) -> _Numbers | pa.Array | pa.ChunkedArray:
    """The sample as float64 numbers or as an Arrow string column."""
    data = _to_arrow(values, which)
    if isinstance(data, np.ndarray) and data.ndim != 1:
        raise InvalidInputError(
            f"the {which} sample must be one-dimensional, got shape {data.shape}"
        )
    if len(data) == 0:
        raise InvalidInputError(f"the {which} sample is empty")
    if isinstance(data, np.ndarray):
        if data.dtype.kind in "iub":
            return _Numbers(data.astype(np.float64), True)
        if data.dtype.kind == "f":
            return _Numbers(np.ascontiguousarray(data, dtype=np.float64), False)
        if data.dtype.kind in "OUS":
            try:
                converted = pa.array(data, from_pandas=True)
            except CONVERSION_ERRORS as exc:
                raise conversion_error(exc, f"the {which} sample", [data]) from exc
            return _sample(converted, which)
        raise DTypeError(f"the {which} sample must hold numbers or strings, got {data.dtype}")

    t = data.type
    if pa.types.is_dictionary(t) and not _is_string_type(t.value_type):
        data = pc.cast(data, t.value_type)
        t = data.type
    if data.null_count > 0:
        raise InvalidInputError(
            f"the {which} sample holds {data.null_count} missing value(s) (null): drop or impute "
            "missing values first"
        )
    if _is_string_type(t) or pa.types.is_dictionary(t):
        if pa.types.is_string_view(t) or (
            pa.types.is_dictionary(t) and pa.types.is_string_view(t.value_type)
        ):
            data = pc.cast(data, pa.large_string())
        return data
    if pa.types.is_integer(t) or pa.types.is_boolean(t):
        return _Numbers(np.asarray(data.to_numpy(zero_copy_only=False), dtype=np.float64), True)
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        if pa.types.is_decimal(t):
            data = pc.cast(data, pa.float64())
        return _Numbers(np.asarray(data.to_numpy(zero_copy_only=False), dtype=np.float64), False)
    raise DTypeError(f"the {which} sample must hold numbers or strings, got {t}")


def _bin(
    reference: Any, current: Any, bins: Bins, n_quantiles: int, own_default: str
) -> _core.DriftBins:
    ref = _sample(reference, "reference")
    cur = _sample(current, "current")
    if isinstance(ref, _Numbers) != isinstance(cur, _Numbers):
        kinds = ["numbers" if isinstance(s, _Numbers) else "strings" for s in (ref, cur)]
        raise DTypeError(
            f"the reference sample holds {kinds[0]} but the current sample holds {kinds[1]}"
        )
    if not isinstance(ref, _Numbers):
        assert not isinstance(cur, _Numbers)
        if not (isinstance(bins, str) and bins in {"auto", "values", own_default}):
            raise InvalidInputError(
                f"bins={bins!r} applies to numbers; the bins of strings are their categories"
            )
        return _core.bin_categories(column_chunks(ref), column_chunks(cur))
    assert isinstance(cur, _Numbers)

    integer = ref.integer and cur.integer
    if isinstance(bins, str):
        if bins not in _NUMBER_RULES:
            raise InvalidInputError(
                f"bins must be one of {sorted(_NUMBER_RULES)}, a number of bins or an array of "
                f"edges, got {bins!r}"
            )
        if bins == "quantile" and not (
            isinstance(n_quantiles, (int, np.integer)) and n_quantiles >= 1
        ):
            raise InvalidInputError(f"n_quantiles must be a positive integer, got {n_quantiles!r}")
        return _core.bin_numbers(ref.values, cur.values, bins, int(n_quantiles), None, integer)
    if isinstance(bins, (int, np.integer)) and not isinstance(bins, bool):
        if bins < 1:
            raise InvalidInputError(f"the number of bins must be positive, got {bins}")
        return _core.bin_numbers(ref.values, cur.values, "count", int(bins), None, integer)
    try:
        edges = np.asarray(bins, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"bins is not a rule, a count or an array of edges: {exc}") from exc
    if edges.ndim != 1:
        raise InvalidInputError(f"bin edges must be one-dimensional, got shape {edges.shape}")
    return _core.bin_numbers(ref.values, cur.values, "edges", 0, edges, integer)


def _labels(b: _core.DriftBins) -> npt.NDArray[np.float64] | list[str]:
    if len(b.edges):
        return b.edges
    if len(b.values):
        return b.values
    return b.categories


# --- statistics ------------------------------------------------------------------------------


def histogram_shares(
    reference: Any,
    current: Any,
    bins: Bins = "auto",
    *,
    n_quantiles: int = 10,
    fill_empty: bool = True,
) -> BinnedShares:
    """The shared bins and both samples' shares in them: Evidently's ``get_binned_data``.

    With the defaults (``bins="auto"``, ``fill_empty=True``) the shares are exactly those
    Evidently's ``psi`` and ``kl_div`` use; ``fill_empty=False`` gives the raw shares its
    ``jensenshannon`` uses. See the module docstring for ``bins`` and the empty-bin stand-in.
    """
    b = _bin(reference, current, bins, n_quantiles, "auto")
    ref_shares, cur_shares = b.shares(fill_empty)
    return BinnedShares(_labels(b), ref_shares, cur_shares)


def psi(reference: Any, current: Any, bins: Bins = "auto", *, n_quantiles: int = 10) -> float:
    """Population stability index, as Evidently's ``psi``: ``sum((r - c) * ln(r / c))``.

    ``r`` and ``c`` are the bin shares with empty bins filled (module docstring), not
    renormalized. Evidently flags drift at 0.1 by default.
    """
    return float(_core.psi(_bin(reference, current, bins, n_quantiles, "auto")))


def kl_divergence(
    reference: Any,
    current: Any,
    bins: Bins = "auto",
    *,
    base: float | None = None,
    n_quantiles: int = 10,
) -> float:
    """Kullback-Leibler divergence KL(reference || current), as Evidently's ``kl_div``.

    That is ``scipy.stats.entropy(r, c, base)``: ``sum(r * log(r / c))`` after filling empty bins
    and renormalizing both share vectors to sum 1. ``base=None`` is the natural logarithm.
    """
    b = _bin(reference, current, bins, n_quantiles, "auto")
    return float(_core.kl_divergence(b, base))


def jensenshannon(
    reference: Any,
    current: Any,
    bins: Bins = "auto",
    *,
    base: float | None = None,
    n_quantiles: int = 10,
) -> float:
    """Jensen-Shannon *distance*, as Evidently's ``jensenshannon``.

    That is ``scipy.spatial.distance.jensenshannon(r, c, base)`` on the raw (unfilled) shares:
    the square root of the JS divergence, in ``[0, 1]`` for ``base=2`` and in
    ``[0, sqrt(ln 2)]`` for the default natural logarithm (``base=None``), which is also
    Evidently's default.
    """
    b = _bin(reference, current, bins, n_quantiles, "auto")
    return float(_core.jensenshannon(b, base))


def hellinger(
    reference: Any, current: Any, bins: Bins = "sturges_distinct", *, n_quantiles: int = 10
) -> float:
    """Hellinger distance in ``[0, 1]``, as Evidently's ``hellinger``: ``sqrt(1 - sum(sqrt(r c)))``.

    It is already divided by sqrt 2 (0 for equal distributions, 1 for disjoint ones). Evidently
    bins numbers differently here than elsewhere: Sturges edges over the *distinct* values of both
    samples (the default, ``"sturges_distinct"``), whatever their number; strings use their
    categories. Computed as ``sqrt(sum((sqrt(r) - sqrt(c))**2) / 2)``, equal for shares that sum
    to 1 and more precise near 0, where Evidently's form keeps only about half the digits.
    """
    b = _bin(reference, current, bins, n_quantiles, "sturges_distinct")
    return float(_core.hellinger(b))


def total_variation(
    reference: Any, current: Any, bins: Bins = "values", *, n_quantiles: int = 10
) -> float:
    """Total variation distance ``sum(|r - c|) / 2``, the statistic of Evidently's ``TVD`` test.

    By default one bin per category (or distinct number), as Evidently does.
    """
    b = _bin(reference, current, bins, n_quantiles, "values")
    return float(_core.total_variation(b))


def l_infinity(
    reference: Any, current: Any, bins: Bins = "values", *, n_quantiles: int = 10
) -> float:
    """L-infinity distance ``max(|r - c|)``: TensorFlow Data Validation's categorical drift measure.

    TFDV takes it over the union of both samples' categories with frequencies normalized by each
    sample's size; by default here one bin per category (or distinct number) likewise.
    """
    b = _bin(reference, current, bins, n_quantiles, "values")
    return float(_core.l_infinity(b))


def chi2_contingency_test(reference: Any, current: Any) -> Chi2ContingencyResult:
    """Chi-square test of independence between sample and category.

    The table has one row per sample and one column per category (or distinct number) of either
    sample; a category seen in only one sample is a column too. Matches
    ``scipy.stats.chi2_contingency(table, correction=False)``: Pearson's statistic, ``dof = k - 1``,
    p-value from the chi-square survival function. With a single category the test is degenerate
    and, as in scipy, gives statistic 0, p-value 1 and dof 0.

    (Evidently's ``chisquare`` test instead runs a goodness-of-fit test of current against
    reference frequencies, which is undefined for a category missing from the reference.)
    """
    b = _bin(reference, current, "values", 1, "values")
    statistic, pvalue, dof = _core.chi2_contingency(b)
    return Chi2ContingencyResult(float(statistic), float(pvalue), int(dof))


def z_test_proportions(reference: Any, current: Any) -> ZTestResult:
    """Two-proportion z-test, as Evidently's ``z`` test (meant for columns with two values).

    The smallest value (or first category by code point) is coded 0, every other value 1; ``z``
    compares the shares of 1s with the pooled-variance standard error, and the p-value is
    two-sided, ``2 * P(Z > |z|)`` (Evidently's ``2 * (1 - cdf(|z|))``, which agrees to 1e-16
    absolute but rounds to 0 in the far tail). When both samples hold one same value the result
    is statistic 0, p-value 1.
    """
    b = _bin(reference, current, "values", 1, "values")
    statistic, pvalue = _core.z_test_proportions(b)
    return ZTestResult(float(statistic), float(pvalue))
