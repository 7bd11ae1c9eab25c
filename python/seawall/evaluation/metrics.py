"""The metrics of each task, computed natively by group (the slices of an evaluation), turned
into :class:`~seawall.evaluation.results.SliceResult` objects with a reason for every metric
that is undefined."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import _core
from ..errors import InvalidInputError
from .results import CalibrationBin, Curve, MetricValue, SliceResult, finite_or_none
from .slices import Grouping

__all__ = [
    "ALIASES",
    "TASKS",
    "BinarySettings",
    "BootstrapSettings",
    "by_group",
    "metric_names",
    "resolve_metrics",
]

TASKS = ("binary", "multiclass", "regression")
_NAMES: dict[str, tuple[str, ...]] = {
    "binary": tuple(_core.BINARY_METRICS),
    "multiclass": tuple(_core.MULTICLASS_METRICS),
    "regression": tuple(_core.REGRESSION_METRICS),
}
#: Other names people use for the same metrics.
ALIASES = {
    "auc": "roc_auc",
    "pr_auc": "average_precision",
    "ece": "expected_calibration_error",
    "calibration": "expected_calibration_error",
    "brier_score": "brier",
    "quantile_loss": "pinball",
    "mean_absolute_error": "mae",
    "root_mean_squared_error": "rmse",
}
#: Metrics that read the scores as probabilities (binary).
PROBABILITY_METRICS = ("log_loss", "brier", "expected_calibration_error")


def metric_names(task: str) -> tuple[str, ...]:
    """Every metric the task computes, in report order."""
    if task not in _NAMES:
        raise InvalidInputError(f"task must be one of {', '.join(TASKS)}; got {task!r}")
    return _NAMES[task]


def resolve_metrics(task: str, metrics: Sequence[str] | None) -> list[str]:
    """The metrics asked for, by their canonical names in report order (all when None)."""
    names = metric_names(task)
    if metrics is None:
        return list(names)
    if isinstance(metrics, str):
        metrics = [metrics]
    wanted = set()
    for m in metrics:
        canonical = ALIASES.get(m, m) if isinstance(m, str) else m
        if canonical not in names:
            raise InvalidInputError(
                f"unknown metric {m!r} for task {task!r}: choose from {', '.join(names)}"
            )
        wanted.add(canonical)
    if not wanted:
        raise InvalidInputError("metrics is empty: name at least one, or pass None for all")
    return [n for n in names if n in wanted]


def _mask(task: str, names: Sequence[str]) -> int:
    order = metric_names(task)
    return sum(1 << order.index(n) for n in names)


@dataclass(frozen=True)
class BootstrapSettings:
    resamples: int = 1000
    confidence: float = 0.95
    seed: int = 0


@dataclass(frozen=True)
class BinarySettings:
    threshold: float = 0.5
    probabilities: bool = True
    calibration_bins: int = 10
    calibration_strategy: str = "uniform"
    curve_points: int = 0


def _groups_of(grouping: Grouping | None) -> tuple[np.ndarray | None, int]:
    if grouping is None:
        return None, 1
    return grouping.ids, max(grouping.count, 1)


def _slices(grouping: Grouping | None) -> list[tuple[str, Any, str]]:
    if grouping is None:
        return [("overall", None, "all rows")]
    return [
        (grouping.name, key, label)
        for key, label in zip(grouping.keys, grouping.labels, strict=True)
    ]


def _value(
    name: str,
    table: dict[str, Any],
    g: int,
    k: int,
    count: int,
    reason: str | None,
) -> MetricValue:
    value = finite_or_none(table["values"][g, k])
    if value is None:
        return MetricValue(name, None, count, reason=reason or "undefined")
    return MetricValue(
        name,
        value,
        count,
        low=finite_or_none(table["low"][g, k]),
        high=finite_or_none(table["high"][g, k]),
        resamples=int(table["resamples"][g, k]),
    )


def _too_small(name: str, count: int, min_count: int) -> MetricValue:
    return MetricValue(
        name,
        None,
        count,
        reason=f"the slice has {count:,} rows, fewer than min_count={min_count:,}",
    )


def _binary_reason(
    name: str, count: int, positives: int, tp: int, fp: int, threshold: float
) -> str:
    negatives = count - positives
    if count == 0:
        return "no rows"
    if name == "roc_auc":
        return f"one class only: {positives:,} positive and {negatives:,} negative labels"
    if name in ("average_precision", "recall"):
        return f"no positive labels in {count:,} rows"
    if name == "precision":
        return f"no row predicted positive (score >= {threshold:g})"
    if name == "f1":
        return f"no positive labels and no row predicted positive (score >= {threshold:g})"
    return "undefined"


def by_group(
    task: str,
    outputs: np.ndarray,
    labels: np.ndarray,
    grouping: Grouping | None,
    names: Sequence[str],
    *,
    binary: BinarySettings,
    bootstrap: BootstrapSettings,
    quantile: float = 0.5,
    min_count: int = 1,
) -> list[SliceResult]:
    """One SliceResult per group of `grouping` (or one for all rows when it is None)."""
    ids, count = _groups_of(grouping)
    mask = _mask(task, names)
    order = metric_names(task)
    boot = (bootstrap.resamples, bootstrap.confidence, bootstrap.seed, mask)
    if task == "binary":
        table = _core.binary_metrics(
            outputs,
            labels,
            ids,
            count,
            binary.threshold,
            binary.probabilities,
            binary.calibration_bins,
            binary.calibration_strategy,
            binary.curve_points,
            *boot,
        )
    elif task == "multiclass":
        table = _core.multiclass_metrics(outputs, labels, ids, count, *boot)
    else:
        table = _core.regression_metrics(outputs, labels, ids, count, quantile, *boot)
    results = []
    for g, (slicing, key, label) in enumerate(_slices(grouping)):
        n = int(table["count"][g])
        result = SliceResult(slicing, key, label, n, {})
        small = n < min_count
        if small:
            result.status = "too_small"
        if task == "binary":
            positives = int(table["positives"][g])
            tn, fp, fn, tp = (int(v) for v in table["confusion"][g])
            result.positives = positives
            result.confusion = [[tn, fp], [fn, tp]]
            if binary.probabilities and not small:
                result.calibration = [
                    CalibrationBin(b[0], b[1], int(b[2]), int(b[3]), b[4], b[5])
                    for b in table["calibration"][g].tolist()
                ]
            if binary.curve_points and not small:
                result.roc = _curve(table["roc"][g])
                result.pr = _curve(table["pr"][g])
        elif task == "multiclass":
            result.confusion = table["confusion"][g].tolist()
            result.class_roc_auc = [finite_or_none(v) for v in table["class_roc_auc"][g]]
        for name in names:
            k = order.index(name)
            if small:
                result.metrics[name] = _too_small(name, n, min_count)
                continue
            reason = None
            if task == "binary":
                reason = _binary_reason(name, n, positives, tp, fp, binary.threshold)
            elif n == 0:
                reason = "no rows"
            elif name == "r2":
                reason = "R² needs at least two rows"
            elif name == "roc_auc" and result.class_roc_auc is not None:
                absent = [c for c, v in enumerate(result.class_roc_auc) if v is None]
                reason = f"classes {absent} are absent from the labels (or alone in them)"
            result.metrics[name] = _value(name, table, g, k, n, reason)
        results.append(result)
    return results


def _curve(d: dict[str, np.ndarray]) -> Curve | None:
    if len(d["x"]) == 0:
        return None
    return Curve(d["x"].tolist(), d["y"].tolist(), d["threshold"].tolist())


def check_settings(
    task: str,
    names: Sequence[str],
    binary: BinarySettings,
    bootstrap: BootstrapSettings,
    min_count: int,
) -> None:
    """Clear errors for options the native kernels would also refuse, named as the caller
    spelled them."""
    if task == "binary" and not binary.probabilities:
        wrong = [n for n in names if n in PROBABILITY_METRICS]
        if wrong:
            raise InvalidInputError(
                f"{', '.join(wrong)} read the scores as probabilities: drop them from metrics, "
                "or pass probabilities (probabilities=True)"
            )
    if binary.calibration_strategy not in ("uniform", "quantile"):
        raise InvalidInputError(
            f"calibration_strategy must be 'uniform' or 'quantile', got {binary.calibration_strategy!r}"
        )
    if (
        not isinstance(bootstrap.resamples, int)
        or isinstance(bootstrap.resamples, bool)
        or not 0 <= bootstrap.resamples <= 1_000_000
    ):
        raise InvalidInputError(
            f"bootstrap must be a number of resamples from 0 to 1,000,000, got {bootstrap.resamples!r}"
        )
    if not 0 < bootstrap.confidence < 1:
        raise InvalidInputError(f"confidence must be in (0, 1), got {bootstrap.confidence!r}")
    if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 0:
        raise InvalidInputError(f"min_count must be a count (>= 0), got {min_count!r}")


#: Metrics where a larger value is better; for the others (losses, errors) smaller is better.
HIGHER_IS_BETTER = frozenset(
    {"roc_auc", "average_precision", "accuracy", "precision", "recall", "f1", "r2"}
)


def single_value(
    task: str,
    name: str,
    outputs: np.ndarray,
    labels: np.ndarray,
    binary: BinarySettings,
    quantile: float = 0.5,
) -> float:
    """One metric over all rows, without a bootstrap; an undefined value is an error saying why."""
    result = by_group(
        task,
        outputs,
        labels,
        None,
        [name],
        binary=binary,
        bootstrap=BootstrapSettings(resamples=0),
        quantile=quantile,
    )[0]
    value = result.metrics[name]
    if value.value is None:
        raise InvalidInputError(f"{name} is undefined on these rows: {value.reason}")
    return value.value
