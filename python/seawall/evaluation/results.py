"""What an evaluation reports: metric values with their interval and count, and the results of
one slice (or of all rows). Plain data, JSON-ready through ``to_dict``."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CalibrationBin", "Curve", "MetricValue", "SliceResult"]


def finite_or_none(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


@dataclass(frozen=True)
class MetricValue:
    """One metric on one set of rows.

    ``value`` is None when the metric is undefined there, and ``reason`` says why (ROC AUC with
    one class only, precision with no predicted positive, a slice below ``min_count``): never a
    NaN. ``low`` and ``high`` are the bootstrap interval (None without a bootstrap, or when fewer
    than half the resamples define the metric); ``resamples`` counts those that did. ``count``
    is the rows the metric was computed on.
    """

    name: str
    value: float | None
    count: int
    low: float | None = None
    high: float | None = None
    resamples: int = 0
    reason: str | None = None

    @property
    def defined(self) -> bool:
        return self.value is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "low": self.low,
            "high": self.high,
            "count": self.count,
            "resamples": self.resamples,
            "reason": self.reason,
        }

    def __format__(self, spec: str) -> str:
        if self.value is None:
            return f"undefined ({self.reason})"
        text = format(self.value, spec or ".4g")
        if self.low is not None and self.high is not None:
            text += f" [{format(self.low, spec or '.4g')}, {format(self.high, spec or '.4g')}]"
        return text

    def __str__(self) -> str:
        return format(self, "")


@dataclass(frozen=True)
class CalibrationBin:
    """One non-empty bin of the reliability curve: rows with lower < score <= upper (the first
    bin also takes score == lower), as sklearn.calibration.calibration_curve bins them."""

    lower: float
    upper: float
    count: int
    positives: int
    mean_predicted: float
    fraction_positive: float


@dataclass(frozen=True)
class Curve:
    """A curve's points in order (ROC: false positive rate, true positive rate; PR: recall,
    precision), thinned to a few hundred points, each with its score threshold."""

    x: list[float]
    y: list[float]
    threshold: list[float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "x": self.x,
            "y": self.y,
            "threshold": [finite_or_none(t) for t in self.threshold],
        }


@dataclass
class SliceResult:
    """The metrics of one slice (or of all rows: ``slicing == "overall"``).

    ``key`` is the slice's value (a tuple for several columns, (low, high) for a bucket, None for
    all rows or for missing values); ``label`` says it for people. ``status`` is "ok", or
    "too_small" when the slice has fewer rows than ``min_count`` (its metrics are then undefined).
    Binary tasks add ``positives``, ``confusion`` ([[tn, fp], [fn, tp]] at the threshold) and
    ``calibration``; multiclass ``confusion`` (labels x predictions) and ``class_roc_auc``.
    """

    slicing: str
    key: Any
    label: str
    count: int
    metrics: dict[str, MetricValue]
    status: str = "ok"
    positives: int | None = None
    confusion: list[list[int]] | None = None
    calibration: list[CalibrationBin] | None = None
    class_roc_auc: list[float | None] | None = None
    roc: Curve | None = None
    pr: Curve | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, metric: str) -> MetricValue:
        try:
            return self.metrics[metric]
        except KeyError:
            from ..errors import MissingColumnError

            raise MissingColumnError(
                f"no metric {metric!r} here (there are: {', '.join(self.metrics)})"
            ) from None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "slicing": self.slicing,
            "key": _json_key(self.key),
            "label": self.label,
            "count": self.count,
            "status": self.status,
            "metrics": {k: v.to_dict() for k, v in self.metrics.items()},
        }
        if self.positives is not None:
            out["positives"] = self.positives
        if self.confusion is not None:
            out["confusion"] = self.confusion
        if self.calibration is not None:
            out["calibration"] = [vars(b).copy() for b in self.calibration]
        if self.class_roc_auc is not None:
            out["class_roc_auc"] = self.class_roc_auc
        if self.roc is not None:
            out["roc"] = self.roc.to_dict()
        if self.pr is not None:
            out["pr"] = self.pr.to_dict()
        return out


def _json_key(key: Any) -> Any:
    if isinstance(key, tuple):
        return [_json_key(k) for k in key]
    if isinstance(key, float):
        return finite_or_none(key)
    return key
