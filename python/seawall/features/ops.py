"""The feature ops: each is fit from data (if it needs to be) and then applied natively.

An op holds its settings (constructor arguments, never validated there, as in scikit-learn)
and, once fit, its learned values in attributes ending in ``_``. The pipeline drives fitting:
it asks an op what statistics to gather (``_collect``), gathers them natively over the output of
the already-fitted ops before it, and hands the result back (``_finish``).

Quantiles (median imputation, RobustScale, quantile Clip and Bucketize) are exact by default
when ``fit`` gets the whole data in memory (one table, DataFrame, dict of arrays or 2-D array) of
at most ``EXACT_QUANTILES_MAX_ROWS`` rows: numpy's "linear" definition, as scikit-learn uses, so
the fitted numbers are scikit-learn's. Streamed input (Parquet files and datasets, lists and
iterables of batches) and larger tables use a KLL sketch instead: memory stays bounded on any
data size, and each quantile is within the sketch's rank error
(``seawall.features.quantile_rank_error()``, 2% of the rows for the default k=200: 4/k,
calibrated on 1.5 million adversarial trials whose worst used 70% of it) of the exact one; while
a column has no more than about k values the sketch holds them all and is exact. ``exact=True``
on an op forces exact quantiles (fitting then keeps every value of that column in memory, however
large), ``exact=False`` forces the sketch. The fitted op records which was used in
``quantile_method_`` ("exact" or "sketch").
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from ..errors import DTypeError, InvalidInputError, NotFittedError

__all__ = [
    "Bucketize",
    "Categorify",
    "Clip",
    "HashBucket",
    "Impute",
    "Log1p",
    "MinMaxScale",
    "OneHot",
    "Op",
    "RobustScale",
    "StandardScale",
]


#: Integer ids at or past this (2**24) would be rounded in float32 outputs.
FLOAT32_EXACT_IDS = 2**24

#: Quantiles are exact by default when fit gets one in-memory table of at most this many rows
#: (a float64 copy of each column with a quantile op, 8 MB a column at this size, lives while
#: fitting); streamed and larger inputs use the sketch. An op's ``exact`` overrides it.
EXACT_QUANTILES_MAX_ROWS = 1_000_000


class Op:
    """Base class of the feature ops."""

    #: Ends a chain and turns strings into numbers (Categorify, OneHot, HashBucket).
    categorical: ClassVar[bool] = False
    #: Names of the constructor arguments, in order.
    _param_names: ClassVar[tuple[str, ...]] = ()
    #: Names of the fitted attributes (without the trailing underscore).
    _fitted_names: ClassVar[tuple[str, ...]] = ()

    @property
    def needs_fit(self) -> bool:
        return bool(self._fitted_names)

    @property
    def is_fitted(self) -> bool:
        return all(hasattr(self, name + "_") for name in self._fitted_names)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        # `deep` as scikit-learn's protocol (sklearn.base.clone calls get_params(deep=False) on
        # every object that has get_params, and ops sit inside a FeaturePipeline's parameters).
        return {name: getattr(self, name) for name in self._param_names}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Op)
        return self._to_state() == other._to_state()

    __hash__ = None  # type: ignore[assignment]

    # The pipeline calls these; users don't.
    def _check(self, column: str, string_input: bool) -> None:
        """Raises if this op cannot apply to this column."""
        if string_input and not self.categorical and not isinstance(self, Impute):
            raise DTypeError(
                f"column '{column}' holds strings, but {type(self).__name__} needs numbers "
                "(use Categorify, OneHot or HashBucket for string columns)"
            )

    def _collect(self, string_input: bool, exact_quantiles: bool) -> dict[str, Any]:
        """What statistics to gather to fit this op; `exact_quantiles` is the default for ops
        whose ``exact`` is None (whether the input is in memory and small enough)."""
        raise NotImplementedError

    def _finish(self, state: Any, column: str, rows: int) -> None:
        """Sets the fitted attributes from the gathered statistics."""
        raise NotImplementedError

    def _native(self) -> dict[str, Any]:
        """The fitted op as the native core reads it."""
        raise NotImplementedError

    def _require_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(f"{type(self).__name__} is not fitted")

    def _to_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"op": type(self).__name__, "params": _jsonable(self.get_params())}
        if self.needs_fit and self.is_fitted:
            state["fitted"] = {n: _jsonable(getattr(self, n + "_")) for n in self._fitted_names}
        return state

    @classmethod
    def _from_state(cls, state: dict[str, Any]) -> Op:
        op = cls(**state.get("params", {}))
        fitted = state.get("fitted")
        if op.needs_fit and fitted is not None:
            for name in op._fitted_names:
                value = fitted[name]
                setattr(op, name + "_", tuple(value) if isinstance(value, list) else value)
        return op


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value


def _quantile_spec(exact: bool | None, default: bool) -> dict[str, Any]:
    if exact is not None and not isinstance(exact, (bool, np.bool_)):
        raise InvalidInputError(f"exact must be True, False or None (the default), got {exact!r}")
    return {"quantiles": "exact" if (default if exact is None else exact) else "sketch"}


def _quantile_method(state: Any) -> str:
    """What a fitted op records: how its quantiles were computed."""
    return "exact" if state.exact_quantiles else "sketch"


def _require_values(state: Any, column: str, what: str) -> None:
    if state.count == 0:
        raise InvalidInputError(
            f"column '{column}': no non-missing values to compute the {what} from"
        )


def _finite(value: float, column: str, what: str) -> float:
    if not math.isfinite(value):
        raise InvalidInputError(
            f"column '{column}': the {what} is not finite ({value}); the values are too large"
        )
    return float(value)


# --- missing values -------------------------------------------------------------------------


class Impute(Op):
    """Fills missing values (null, or NaN for numbers); must come first in a chain.

    strategy: "mean", "median", "most_frequent" (smallest on ties) or "constant" (fill_value,
    default 0 for numbers and "missing_value" for strings). add_indicator adds an output column
    ``<name>_missing`` that is 1.0 where the value was missing. As scikit-learn's SimpleImputer.
    """

    _param_names = ("strategy", "fill_value", "add_indicator", "exact")
    _strategies = ("mean", "median", "most_frequent", "constant")

    def __init__(
        self,
        strategy: str = "mean",
        fill_value: float | str | None = None,
        add_indicator: bool = False,
        exact: bool | None = None,
    ) -> None:
        self.strategy = strategy
        self.fill_value = fill_value
        self.add_indicator = add_indicator
        self.exact = exact

    @property
    def _fitted_names(self) -> tuple[str, ...]:  # type: ignore[override]
        if self.strategy == "median":
            return ("fill_value", "quantile_method")
        return () if self.strategy == "constant" else ("fill_value",)

    def _check(self, column: str, string_input: bool) -> None:
        if self.strategy not in self._strategies:
            raise InvalidInputError(
                f"Impute strategy must be one of {self._strategies}, got {self.strategy!r}"
            )
        if string_input and self.strategy in ("mean", "median"):
            raise DTypeError(
                f"column '{column}' holds strings: Impute({self.strategy!r}) needs numbers "
                "(use 'most_frequent' or 'constant')"
            )
        if self.strategy == "constant" and self.fill_value is not None:
            if string_input and not isinstance(self.fill_value, str):
                raise DTypeError(f"column '{column}': the fill value for strings must be a string")
            if not string_input and not (
                isinstance(self.fill_value, (int, float)) and math.isfinite(self.fill_value)
            ):
                raise DTypeError(f"column '{column}': the fill value must be a finite number")

    def _collect(self, string_input: bool, exact_quantiles: bool) -> dict[str, Any]:
        spec: dict[str, Any] = {"skip_missing": True}
        if self.strategy == "mean":
            spec["moments"] = True
        elif self.strategy == "median":
            spec.update(_quantile_spec(self.exact, exact_quantiles))
        elif string_input:
            spec["string_counts"] = True
        else:
            spec["number_counts"] = True
        return spec

    def _finish(self, state: Any, column: str, rows: int) -> None:
        _require_values(state, column, self.strategy)
        if self.strategy == "mean":
            self.fill_value_: float | str = _finite(state.mean, column, "mean")
        elif self.strategy == "median":
            self.fill_value_ = float(state.quantiles([0.5])[0])
            self.quantile_method_ = _quantile_method(state)
        else:  # most_frequent: string columns count strings, numeric ones count numbers
            counts = state.string_counts()
            self.fill_value_ = counts[0][0] if counts else float(state.most_frequent_number())

    def fill(self, string_input: bool) -> float | str:
        if self.strategy == "constant":
            if self.fill_value is not None:
                return self.fill_value
            return "missing_value" if string_input else 0.0
        self._require_fitted()
        return self.fill_value_

    def _native_impute(self, string_input: bool) -> dict[str, Any]:
        value = self.fill(string_input)
        if string_input:
            return {"text": str(value), "indicator": bool(self.add_indicator)}
        return {"number": float(value), "indicator": bool(self.add_indicator)}


# --- numeric ops ----------------------------------------------------------------------------


class Log1p(Op):
    """log(1 + x), for values greater than -1 (others are an error naming the row)."""

    def _native(self) -> dict[str, Any]:
        return {"kind": "log1p"}


class Clip(Op):
    """Limits values to [lower, upper]: fixed bounds, or bounds fit as quantiles of the data.

    ``Clip(lower=0, upper=100)``, or ``Clip(quantiles=(0.01, 0.99))`` (either side may be None).
    """

    _param_names = ("lower", "upper", "quantiles", "exact")

    def __init__(
        self,
        lower: float | None = None,
        upper: float | None = None,
        quantiles: tuple[float | None, float | None] | None = None,
        exact: bool | None = None,
    ) -> None:
        self.lower = lower
        self.upper = upper
        self.quantiles = quantiles
        self.exact = exact

    @property
    def _fitted_names(self) -> tuple[str, ...]:  # type: ignore[override]
        return ("lower", "upper", "quantile_method") if self.quantiles is not None else ()

    def _check(self, column: str, string_input: bool) -> None:
        super()._check(column, string_input)
        if self.quantiles is not None:
            if self.lower is not None or self.upper is not None:
                raise InvalidInputError("Clip takes fixed bounds or quantiles, not both")
            if len(self.quantiles) != 2 or not all(
                q is None or 0.0 <= q <= 1.0 for q in self.quantiles
            ):
                raise InvalidInputError(
                    f"Clip quantiles must be a pair of numbers in [0, 1] or None, got {self.quantiles!r}"
                )
        elif self.lower is None and self.upper is None:
            raise InvalidInputError("Clip needs lower and/or upper bounds, or quantiles")
        lo, hi = self._bounds_unchecked()
        if lo is not None and hi is not None and lo > hi:
            raise InvalidInputError(f"Clip lower bound {lo} is above the upper bound {hi}")

    def _bounds_unchecked(self) -> tuple[float | None, float | None]:
        if self.quantiles is None:
            return self.lower, self.upper
        if self.quantiles[0] is not None and self.quantiles[1] is not None:
            return self.quantiles[0], self.quantiles[1]
        return None, None

    def _collect(self, string_input: bool, exact_quantiles: bool) -> dict[str, Any]:
        return _quantile_spec(self.exact, exact_quantiles)

    def _finish(self, state: Any, column: str, rows: int) -> None:
        _require_values(state, column, "clip quantiles")
        assert self.quantiles is not None
        lo_q, hi_q = self.quantiles
        qs = [q for q in (lo_q, hi_q) if q is not None]
        values = iter(state.quantiles(qs))
        self.lower_ = float(next(values)) if lo_q is not None else None
        self.upper_ = float(next(values)) if hi_q is not None else None
        self.quantile_method_ = _quantile_method(state)

    def _native(self) -> dict[str, Any]:
        if self.quantiles is None:
            return {"kind": "clip", "lower": self.lower, "upper": self.upper}
        self._require_fitted()
        return {"kind": "clip", "lower": self.lower_, "upper": self.upper_}


class StandardScale(Op):
    """(x - mean) / std with the population std (ddof=0), as scikit-learn's StandardScaler.

    A constant column gets scale 1.
    """

    _param_names = ("with_mean", "with_std")
    _fitted_names = ("mean", "scale")

    def __init__(self, with_mean: bool = True, with_std: bool = True) -> None:
        self.with_mean = with_mean
        self.with_std = with_std

    def _collect(self, string_input: bool, exact_quantiles: bool) -> dict[str, Any]:
        return {"moments": True}

    def _finish(self, state: Any, column: str, rows: int) -> None:
        _require_values(state, column, "mean and standard deviation")
        mean = _finite(state.mean, column, "mean")
        var = _finite(state.m2 / state.count, column, "variance")
        std = math.sqrt(var)
        self.mean_ = mean if self.with_mean else 0.0
        self.scale_ = std if (self.with_std and state.min != state.max and std > 0.0) else 1.0

    def _native(self) -> dict[str, Any]:
        self._require_fitted()
        return {"kind": "scale", "shift": self.mean_, "scale": self.scale_}


class MinMaxScale(Op):
    """(x - min) / (max - min), into [0, 1] on the fitted data; clip=True keeps new data there."""

    _param_names = ("clip",)
    _fitted_names = ("min", "max")

    def __init__(self, clip: bool = False) -> None:
        self.clip = clip

    def _collect(self, string_input: bool, exact_quantiles: bool) -> dict[str, Any]:
        return {"moments": True}

    def _finish(self, state: Any, column: str, rows: int) -> None:
        _require_values(state, column, "minimum and maximum")
        self.min_ = float(state.min)
        self.max_ = float(state.max)
        _finite(self.max_ - self.min_, column, "range")

    def _native(self) -> dict[str, Any]:
        self._require_fitted()
        data_range = self.max_ - self.min_
        return {
            "kind": "scale",
            "shift": self.min_,
            "scale": data_range if data_range > 0.0 else 1.0,
            "clip": bool(self.clip),
            "lower": 0.0,
            "upper": 1.0,
        }


class RobustScale(Op):
    """(x - median) / (q_high - q_low), as scikit-learn's RobustScaler (a zero range gives 1)."""

    _param_names = ("quantile_range", "with_centering", "with_scaling", "exact")
    _fitted_names = ("center", "scale", "quantile_method")

    def __init__(
        self,
        quantile_range: tuple[float, float] = (25.0, 75.0),
        with_centering: bool = True,
        with_scaling: bool = True,
        exact: bool | None = None,
    ) -> None:
        self.quantile_range = quantile_range
        self.with_centering = with_centering
        self.with_scaling = with_scaling
        self.exact = exact

    def _check(self, column: str, string_input: bool) -> None:
        super()._check(column, string_input)
        lo, hi = self.quantile_range
        if not 0.0 <= lo <= hi <= 100.0:
            raise InvalidInputError(
                f"RobustScale quantile_range must satisfy 0 <= low <= high <= 100, got {self.quantile_range}"
            )

    def _collect(self, string_input: bool, exact_quantiles: bool) -> dict[str, Any]:
        return _quantile_spec(self.exact, exact_quantiles)

    def _finish(self, state: Any, column: str, rows: int) -> None:
        _require_values(state, column, "median and quantile range")
        lo, hi = self.quantile_range
        q_lo, median, q_hi = state.quantiles([lo / 100.0, 0.5, hi / 100.0])
        spread = q_hi - q_lo
        self.center_ = float(median) if self.with_centering else 0.0
        self.scale_ = float(spread) if (self.with_scaling and spread > 0.0) else 1.0
        _finite(self.scale_, column, "quantile range")
        self.quantile_method_ = _quantile_method(state)

    def _native(self) -> dict[str, Any]:
        self._require_fitted()
        return {"kind": "scale", "shift": self.center_, "scale": self.scale_}


class Bucketize(Op):
    """The bucket index of each value: the number of boundaries <= x.

    Explicit ``boundaries``, or ``n_bins`` buckets of equal frequency whose inner boundaries are
    quantiles of the data (as scikit-learn's KBinsDiscretizer(strategy="quantile"): a boundary
    within 1e-8 of the one before it, or of the minimum, is dropped, and so is one equal to the
    maximum, so there may be fewer buckets).
    """

    _param_names = ("boundaries", "n_bins", "exact")

    def __init__(
        self,
        boundaries: list[float] | None = None,
        n_bins: int | None = None,
        exact: bool | None = None,
    ) -> None:
        self.boundaries = boundaries
        self.n_bins = n_bins
        self.exact = exact

    @property
    def _fitted_names(self) -> tuple[str, ...]:  # type: ignore[override]
        return ("boundaries", "quantile_method") if self.boundaries is None else ()

    def _check(self, column: str, string_input: bool) -> None:
        super()._check(column, string_input)
        if (self.boundaries is None) == (self.n_bins is None):
            raise InvalidInputError("Bucketize takes boundaries or n_bins (one of them)")
        if self.boundaries is not None:
            b = [float(x) for x in self.boundaries]
            if any(not math.isfinite(x) for x in b) or b != sorted(b):
                raise InvalidInputError("Bucketize boundaries must be finite and sorted")
        elif not isinstance(self.n_bins, int) or self.n_bins < 1:
            raise InvalidInputError(
                f"Bucketize n_bins must be a positive integer, got {self.n_bins!r}"
            )

    def _collect(self, string_input: bool, exact_quantiles: bool) -> dict[str, Any]:
        return _quantile_spec(self.exact, exact_quantiles)

    def _finish(self, state: Any, column: str, rows: int) -> None:
        _require_values(state, column, "bucket boundaries")
        assert self.n_bins is not None
        # KBinsDiscretizer(strategy="quantile"): edges at the np.linspace(0, 100, n + 1)
        # percentiles, the outer ones being the minimum and the maximum; an edge within 1e-8 of
        # the one before it is dropped (so a quantile equal to the minimum or the maximum does
        # not make a bucket of its own), and the inner edges are the boundaries.
        qs = (np.linspace(0, 100, self.n_bins + 1) / 100.0).tolist()
        edges = np.asarray(state.quantiles(qs), dtype=np.float64)
        edges = edges[np.ediff1d(edges, to_begin=np.inf) > 1e-8]
        self.boundaries_ = tuple(float(v) for v in edges[1:-1])
        self.quantile_method_ = _quantile_method(state)

    def _native(self) -> dict[str, Any]:
        if self.boundaries is not None:
            return {"kind": "bucketize", "boundaries": [float(x) for x in self.boundaries]}
        self._require_fitted()
        return {"kind": "bucketize", "boundaries": list(self.boundaries_)}


# --- categorical ops ------------------------------------------------------------------------


def _select_categories(
    counts: list[tuple[str, int]],
    rows: int,
    min_frequency: int | float | None,
    max_categories: int | None,
    infrequent_slot: bool,
) -> tuple[list[str], list[str]]:
    """Splits (value, count) pairs into kept and infrequent values, as scikit-learn does.

    counts come most frequent first, ties by value. min_frequency: an int is a count, a float a
    share of the rows; below it a value is infrequent. max_categories caps the outputs; with
    infrequent_slot (OneHot) the infrequent group takes one of them, as in scikit-learn, which
    reserves that slot even when no value is infrequent yet (so max_categories=k with exactly k
    categories keeps k - 1 of them). Among equal counts at the cut, scikit-learn's stable sort
    keeps the larger values; so do we.
    """
    if min_frequency is None:
        threshold = 0.0
    elif isinstance(min_frequency, float):
        threshold = min_frequency * rows
    else:
        threshold = float(min_frequency)
    frequent = [(v, c) for v, c in counts if c >= threshold]
    infrequent = [v for v, c in counts if c < threshold]
    if max_categories is not None:
        # scikit-learn's _identify_infrequent counts the infrequent output whether or not any
        # value is infrequent: n_current_features = frequent + 1.
        outputs = len(frequent) + (1 if infrequent_slot else 0)
        if max_categories < outputs:
            keep = max_categories - 1 if infrequent_slot else max_categories
            keep = max(keep, 0)
            ranked = sorted(frequent, key=lambda vc: (-vc[1], _reverse_key(vc[0])))
            kept = {v for v, _ in ranked[:keep]}
            infrequent = infrequent + [v for v, _ in frequent if v not in kept]
            frequent = [(v, c) for v, c in frequent if v in kept]
    return [v for v, _ in frequent], infrequent


class _Reversed:
    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __lt__(self, other: _Reversed) -> bool:
        return self.value.encode() > other.value.encode()


def _reverse_key(value: str) -> _Reversed:
    return _Reversed(value)


class _VocabularyOp(Op):
    categorical = True
    _fitted_names = ("categories", "infrequent")
    _infrequent_slot = False

    def _check(self, column: str, string_input: bool) -> None:
        mf = self.min_frequency  # type: ignore[attr-defined]
        if mf is not None and not (
            (isinstance(mf, int) and mf >= 1) or (isinstance(mf, float) and 0.0 < mf < 1.0)
        ):
            raise InvalidInputError(
                f"min_frequency must be an int >= 1 or a float in (0, 1), got {mf!r}"
            )
        mc = self.max_categories  # type: ignore[attr-defined]
        if mc is not None and not (isinstance(mc, int) and mc >= 1):
            raise InvalidInputError(f"max_categories must be an int >= 1, got {mc!r}")

    def _collect(self, string_input: bool, exact_quantiles: bool) -> dict[str, Any]:
        return {"string_counts": True}

    def _finish(self, state: Any, column: str, rows: int) -> None:
        kept, infrequent = _select_categories(
            state.string_counts(),
            rows,
            self.min_frequency,  # type: ignore[attr-defined]
            self.max_categories,  # type: ignore[attr-defined]
            self._infrequent_slot,
        )
        if isinstance(self, Categorify) and len(kept) + 3 > FLOAT32_EXACT_IDS:
            raise InvalidInputError(
                f"column '{column}': {len(kept):,} categories would get ids past 2**24, which "
                "float32 outputs cannot hold exactly; set max_categories or use HashBucket"
            )
        self.categories_ = tuple(kept)
        self.infrequent_ = tuple(infrequent)


class Categorify(_VocabularyOp):
    """Maps each string to an integer id, most frequent first.

    Reserved ids: 0 for null, 1 for values not seen when fitting, 2 for infrequent values; the
    categories follow from 3 in order of frequency (ties by value). min_frequency (a count, or a
    share of the rows) and max_categories (how many categories keep their own id) group the rest
    as infrequent.
    """

    _param_names = ("min_frequency", "max_categories")

    def __init__(
        self, min_frequency: int | float | None = None, max_categories: int | None = None
    ) -> None:
        self.min_frequency = min_frequency
        self.max_categories = max_categories

    def _native(self) -> dict[str, Any]:
        self._require_fitted()
        return {
            "kind": "categorify",
            "categories": list(self.categories_),
            "infrequent": list(self.infrequent_),
        }


class OneHot(_VocabularyOp):
    """One 0/1 column per category, most frequent first, as scikit-learn's OneHotEncoder.

    Infrequent values (min_frequency, max_categories, as in scikit-learn, where max_categories
    counts the infrequent column) share one column ``<name>_infrequent``. Values not seen when
    fitting, and nulls, give all zeros (unknown="ignore") or set a column ``<name>_other``
    (unknown="other").
    """

    _param_names = ("min_frequency", "max_categories", "unknown")
    _infrequent_slot = True

    def __init__(
        self,
        min_frequency: int | float | None = None,
        max_categories: int | None = None,
        unknown: str = "ignore",
    ) -> None:
        self.min_frequency = min_frequency
        self.max_categories = max_categories
        self.unknown = unknown

    def _check(self, column: str, string_input: bool) -> None:
        super()._check(column, string_input)
        if self.unknown not in ("ignore", "other"):
            raise InvalidInputError(
                f"OneHot unknown must be 'ignore' or 'other', got {self.unknown!r}"
            )

    def output_names(self, name: str) -> list[str]:
        self._require_fitted()
        names = [f"{name}_{c}" for c in self.categories_]
        if self.infrequent_:
            names.append(f"{name}_infrequent")
        if self.unknown == "other":
            names.append(f"{name}_other")
        return names

    def _native(self) -> dict[str, Any]:
        self._require_fitted()
        return {
            "kind": "onehot",
            "categories": list(self.categories_),
            "infrequent": list(self.infrequent_),
            "infrequent_column": bool(self.infrequent_),
            "unknown_column": self.unknown == "other",
        }


class HashBucket(Op):
    """xxh64(value's UTF-8 bytes, seed 0) % n: the same on every platform and run.

    Integers hash as their decimal text. Null values get id n, one past the last bucket.
    """

    categorical = True
    _param_names = ("n",)

    def __init__(self, n: int) -> None:
        self.n = n

    def _check(self, column: str, string_input: bool) -> None:
        if (
            not isinstance(self.n, (int, np.integer))
            or isinstance(self.n, bool)
            or not 1 <= self.n < FLOAT32_EXACT_IDS
        ):
            raise InvalidInputError(
                f"HashBucket n must be an integer in [1, 2**24), got {self.n!r}: ids travel in "
                "float32 outputs, which hold integers exactly only below 2**24"
            )

    def _native(self) -> dict[str, Any]:
        return {"kind": "hash_bucket", "buckets": int(self.n)}


OPS: dict[str, type[Op]] = {
    cls.__name__: cls
    for cls in (
        Impute,
        Log1p,
        Clip,
        StandardScale,
        MinMaxScale,
        RobustScale,
        Bucketize,
        Categorify,
        OneHot,
        HashBucket,
    )
}
