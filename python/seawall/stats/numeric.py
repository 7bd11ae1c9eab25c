"""Drift statistics (numeric): two-sample tests and distances between a reference sample and a
current one, computed natively.

Each function matches the scipy.stats function of the same name (unweighted, float64 input) to
about 1e-12 relative in the statistic and the p-value, with these deliberate differences:

* bad input raises :class:`~seawall.errors.InvalidInputError` (a ``ValueError``) or
  :class:`~seawall.errors.DTypeError` (a ``TypeError``) naming the argument, where scipy would
  return NaN: NaN values (drop or impute them first), an empty sample, infinities where the
  statistic is undefined (Wasserstein and energy distances; the KS and Cramér-von Mises tests
  only rank values and accept them), fewer than two values for Cramér-von Mises;
* ``alternative`` and ``method`` must be spelled out (scipy also takes any word starting with
  "t", "g" or "l" as an alternative);
* ``ks_2samp(..., method="asymp")`` with one value on each side raises (scipy returns NaN).

Samples are 1-D array-likes of real numbers: numpy arrays of any integer or float dtype, lists,
pyarrow arrays (nulls count as missing values), pandas Series.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from .. import _core
from ..errors import DTypeError, InvalidInputError

__all__ = [
    "CramerVonMisesResult",
    "KsResult",
    "cramervonmises_2samp",
    "energy_distance",
    "ks_2samp",
    "wasserstein_distance",
    "wasserstein_distance_norm",
]

_ALTERNATIVES = ("two-sided", "less", "greater")
_KS_METHODS = ("auto", "exact", "asymp")
_CVM_METHODS = ("auto", "exact", "asymptotic")


@dataclass(frozen=True)
class KsResult:
    """Result of :func:`ks_2samp`, with scipy's ``KstestResult`` fields."""

    statistic: float
    """The KS statistic D: the largest difference between the two empirical CDFs (of the sign
    the alternative asks for)."""
    pvalue: float
    statistic_location: float
    """The value at which D is attained."""
    statistic_sign: int
    """+1 when the reference's CDF exceeds the current's there, -1 when it lies below."""


@dataclass(frozen=True)
class CramerVonMisesResult:
    """Result of :func:`cramervonmises_2samp`."""

    statistic: float
    """The two-sample statistic T (Anderson 1962)."""
    pvalue: float


def _sorted_sample(values: Any, name: str) -> npt.NDArray[np.float64]:
    """`_sample(values, name)` in ascending order, for the statistics that sort their samples.

    numpy's sort dispatches at run time to SIMD code (AVX-512 or AVX2 on x86, Highway on Arm)
    that is several times faster than the native core's radix sort, and releases the GIL. The
    core sees the order and does not sort again. A sample with NaN or infinities stays
    unsorted, so that the core's errors name the index of the first such value in the caller's
    data (and the tests that allow infinities sort it themselves).
    """
    array = _sample(values, name)
    ordered = np.sort(array)
    # numpy sorts NaN last, so the ends tell whether every value is finite.
    if ordered.size and not (np.isfinite(ordered[0]) and np.isfinite(ordered[-1])):
        return array
    return ordered


def _sample(values: Any, name: str) -> npt.NDArray[np.float64]:
    """`values` as a contiguous 1-D float64 array, or a typed error that names `name`."""
    if hasattr(values, "__arrow_c_array__") or type(values).__module__.startswith("pyarrow"):
        values = _from_arrow(values, name)
    try:
        array = np.asarray(values)
    except (TypeError, ValueError) as exc:
        raise DTypeError(f"{name}: cannot read it as an array of numbers: {exc}") from exc
    if array.dtype == object:
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise DTypeError(
                f"{name} must hold real numbers; it holds Python objects: {exc}"
            ) from exc
    if array.dtype.kind not in "iuf":
        raise DTypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    if array.ndim != 1:
        raise InvalidInputError(f"{name} must be 1-D, got an array of shape {array.shape}")
    return np.ascontiguousarray(array, dtype=np.float64)


def _from_arrow(values: Any, name: str) -> Any:
    import pyarrow as pa

    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    elif not isinstance(values, pa.Array):
        values = pa.array(values)
    if not (pa.types.is_integer(values.type) or pa.types.is_floating(values.type)):
        raise DTypeError(f"{name} must hold real numbers, got Arrow type {values.type}")
    if values.null_count:
        first = values.is_null().to_numpy(zero_copy_only=False).argmax()
        raise InvalidInputError(
            f"{name} has {values.null_count} missing (null) value"
            f"{'' if values.null_count == 1 else 's'}, the first at index {first}: "
            "drop or impute missing values first"
        )
    return values.to_numpy(zero_copy_only=False)


def _check_choice(value: Any, name: str, allowed: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in allowed:
        options = ", ".join(repr(a) for a in allowed)
        raise InvalidInputError(f"{name} must be one of {options}; got {value!r}")


def ks_2samp(
    reference: Any,
    current: Any,
    alternative: Literal["two-sided", "less", "greater"] = "two-sided",
    method: Literal["auto", "exact", "asymp"] = "auto",
) -> KsResult:
    """The two-sample Kolmogorov-Smirnov test, as ``scipy.stats.ks_2samp(reference, current)``.

    ``method="auto"`` computes the exact p-value when both samples have at most 10000 values and
    Smirnov's asymptotic one otherwise. As scipy, a ``RuntimeWarning`` says when an exact p-value
    was wanted but could not be computed (one-sided tests on unequal sizes above about 1000
    values in all overflow it; ``method="exact"`` on sizes whose lcm exceeds 2**31) and the
    asymptotic one is returned instead.

    ``alternative="less"``: the null hypothesis is that the reference's CDF is at least the
    current's everywhere; ``"greater"``: at most. Infinite values are allowed (ranks only).
    """
    _check_choice(alternative, "alternative", _ALTERNATIVES)
    _check_choice(method, "method", _KS_METHODS)
    ref = _sorted_sample(reference, "reference")
    cur = _sorted_sample(current, "current")
    statistic, pvalue, location, sign, _used, fallback = _core.ks_2samp(
        ref, cur, alternative, method
    )
    if fallback == "sizes_too_large":
        warnings.warn(
            f"Exact ks_2samp calculation not possible with samples sizes {ref.size} and "
            f"{cur.size}. Switching to 'asymp'.",
            RuntimeWarning,
            stacklevel=2,
        )
    elif fallback == "exact_failed":
        warnings.warn(
            "ks_2samp: Exact calculation unsuccessful. Switching to method=asymp.",
            RuntimeWarning,
            stacklevel=2,
        )
    return KsResult(float(statistic), float(pvalue), float(location), int(sign))


def cramervonmises_2samp(
    reference: Any,
    current: Any,
    method: Literal["auto", "exact", "asymptotic"] = "auto",
) -> CramerVonMisesResult:
    """The two-sample Cramér-von Mises test, as ``scipy.stats.cramervonmises_2samp``.

    ``method="auto"`` is exact when both samples have at most 20 values. Each sample needs at
    least two values. ``method="exact"`` raises :class:`~seawall.errors.InvalidInputError` for
    samples whose exact distribution would take too long to tabulate (it grows with
    lcm(n_ref, n_cur)**2). Infinite values are allowed (ranks only).

    The asymptotic p-value is 1 - CDF of the limiting distribution, so below about 1e-12 it has
    only absolute accuracy (as scipy's).
    """
    _check_choice(method, "method", _CVM_METHODS)
    ref = _sorted_sample(reference, "reference")
    cur = _sorted_sample(current, "current")
    statistic, pvalue, _used = _core.cramervonmises_2samp(ref, cur, method)
    return CramerVonMisesResult(float(statistic), float(pvalue))


def wasserstein_distance(reference: Any, current: Any) -> float:
    """The Wasserstein-1 (earth mover's) distance between the two samples' distributions, as
    ``scipy.stats.wasserstein_distance(reference, current)``: the area between their empirical
    CDFs, in the units of the data. Infinite values raise
    :class:`~seawall.errors.InvalidInputError`."""
    return float(
        _core.wasserstein_distance(
            _sorted_sample(reference, "reference"), _sorted_sample(current, "current")
        )
    )


def wasserstein_distance_norm(reference: Any, current: Any) -> float:
    """:func:`wasserstein_distance` divided by the reference's standard deviation (``np.std``,
    ddof=0): a scale-free drift measure, Evidently's default for numeric columns with more
    than 1000 values (drift when it is at least 0.1).

    A constant reference raises :class:`~seawall.errors.InvalidInputError`. (Evidently divides by
    ``max(std, 0.001)`` instead, so its value for a reference with a standard deviation below
    0.001 depends on the data's units; ``wasserstein_distance(ref, cur) / max(np.std(ref), 0.001)``
    reproduces it.)
    """
    return float(
        _core.wasserstein_distance_norm(
            _sorted_sample(reference, "reference"), _sorted_sample(current, "current")
        )
    )


def energy_distance(reference: Any, current: Any) -> float:
    """The energy distance between the two samples' distributions, as
    ``scipy.stats.energy_distance(reference, current)``: sqrt(2) times the L2 distance between
    their empirical CDFs. O(n log n). Infinite values raise
    :class:`~seawall.errors.InvalidInputError`."""
    return float(
        _core.energy_distance(
            _sorted_sample(reference, "reference"), _sorted_sample(current, "current")
        )
    )
