"""What a Monitor computes for one window, and how: drift per feature against the reference,
the share of drifted features, missing data per feature, the prediction distribution, quality.

Everything here is a pure function of the window's merged profiles and counters, so a test can
recompute it from the same slices (``seawall.drift.compare(reference, merged)`` is the oracle).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ..drift import ColumnDrift, DriftReport, compare
from ..errors import InvalidInputError, SeawallError
from ..profiles import Profile
from .quality import log_loss_sum, roc_auc

__all__ = ["PREDICTION_QUANTILES", "FeatureDrift", "FeatureStatus", "WindowReport"]

FeatureStatus = Literal["ok", "no_data", "error"]

log = logging.getLogger("seawall.monitoring")

PREDICTION_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
_TOP_CLASSES = 20


@dataclass(frozen=True)
class FeatureDrift:
    """One feature in one window.

    ``method``, ``statistic``, ``pvalue``, ``threshold``, ``drifted``, ``status`` and
    ``error`` are those of the feature's :class:`seawall.drift.ColumnDrift`: ``status="ok"``
    when it was compared; ``"no_data"`` when the window or the reference has no value of it
    left after dropping missing and infinite ones (``drifted``, ``statistic`` are None and
    ``error`` says which side and why, as in a drift report); ``"error"`` when comparing it
    raised (a type that changed, a method its values do not allow; ``error`` holds the
    message). Features that are not ``"ok"`` are left out of the window's drift share.
    ``missing_share`` is the share of the window's rows where the feature is null or NaN.
    """

    feature: str
    method: str | None
    statistic: float | None
    pvalue: float | None
    threshold: float | None
    drifted: bool | None
    missing_share: float | None
    error: str | None = None
    status: FeatureStatus = "ok"

    def __post_init__(self) -> None:
        if self.status == "ok" and self.drifted is None:  # not compared: say so
            object.__setattr__(self, "status", "error")

    @classmethod
    def of(cls, column: ColumnDrift, missing_share: float | None) -> FeatureDrift:
        """The feature's entry from its result in the window's drift report."""
        return cls(
            column.column,
            column.method,
            column.statistic,
            column.pvalue,
            column.threshold,
            column.drifted,
            missing_share,
            column.error,
            column.status,
        )

    @property
    def drift_score(self) -> float | None:
        """What the method compares with its threshold: the p-value for tests, else the
        statistic (as :attr:`seawall.drift.ColumnDrift.drift_score`)."""
        return self.pvalue if self.pvalue is not None else self.statistic

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "method": self.method,
            "statistic": self.statistic,
            "pvalue": self.pvalue,
            "drift_score": self.drift_score,
            "threshold": self.threshold,
            "drifted": self.drifted,
            "missing_share": self.missing_share,
            "status": self.status,
            "error": self.error,
        }


@dataclass(frozen=True)
class WindowReport:
    """One evaluated window of a model's traffic, ``[start, end)`` in seconds since the epoch.

    ``rows``: the rows the window's feature slices held (0 when only labels arrived).
    ``features``: per monitored feature, in the monitor's column order. ``drift_share``: drifted
    features over compared ones (None when none could be compared); ``dataset_drift`` is
    ``drift_share >= `` the monitor's ``drift_share`` (Evidently's rule).
    ``predictions``: per output column, ``{"kind": "numeric", "count", "mean", "quantiles":
    {q: value}}`` or ``{"kind": "string", "count", "shares": {class: share}}``.
    ``quality``: metric name to value (from ``add_labels`` and ``log_quality``); ``labels``: the
    labelled rows behind the label metrics. ``quality_by_arm`` and ``labels_by_arm``: the same
    per arm (the traffic arm that answered, for labels added with one). ``arms``: under a
    traffic policy, per arm (primary, canary, shadow) the
    :meth:`seawall.serving.figures.ArmFigures.summary` of the window (version, requests,
    errors, latency quantiles, predictions, the shadow's agreement with the primary).
    ``drift`` is the full DriftReport while the report is
    live (None when read back from the history), ``profile`` and ``prediction_profile`` the
    window's merged profiles where kept.
    """

    model: str
    version: str | None
    start: float
    end: float
    rows: int
    slices: int
    features: dict[str, FeatureDrift]
    drift_share: float | None
    dataset_drift: bool | None
    predictions: dict[str, dict[str, Any]] = field(default_factory=dict)
    quality: dict[str, float] = field(default_factory=dict)
    labels: int = 0
    id: int | None = None
    quality_by_arm: dict[str, dict[str, float]] = field(default_factory=dict)
    labels_by_arm: dict[str, int] = field(default_factory=dict)
    drift: DriftReport | None = field(default=None, repr=False, compare=False)
    profile: Profile | None = field(default=None, repr=False, compare=False)
    prediction_profile: Profile | None = field(default=None, repr=False, compare=False)
    arms: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def drifted_features(self) -> list[str]:
        return [f.feature for f in self.features.values() if f.drifted]

    def to_dict(self) -> dict[str, Any]:
        """The report as plain values (JSON-ready: no NaN; missing values are None)."""
        return {
            "id": self.id,
            "model": self.model,
            "version": self.version,
            "start": self.start,
            "end": self.end,
            "rows": self.rows,
            "slices": self.slices,
            "drift_share": self.drift_share,
            "dataset_drift": self.dataset_drift,
            "features": [f.to_dict() for f in self.features.values()],
            "predictions": self.predictions,
            "quality": self.quality,
            "labels": self.labels,
            "arms": self.arms,
            "quality_by_arm": self.quality_by_arm,
            "labels_by_arm": self.labels_by_arm,
        }


# --- computing a window ----------------------------------------------------------------------


def missing_share(profile: Profile, column: str) -> float | None:
    s = profile.stats(column)
    rows = int(s["rows"])
    if rows == 0:
        return None
    return (int(s["nulls"]) + int(s.get("nans", 0))) / rows


def summarize_predictions(profile: Profile) -> dict[str, dict[str, Any]]:
    """Per output column: quantiles and mean (numbers) or class shares (strings)."""
    out: dict[str, dict[str, Any]] = {}
    for column in profile.columns:
        s = profile.stats(column)
        count = int(s["count"])
        if profile.kind(column) == "numeric":
            entry: dict[str, Any] = {"kind": "numeric", "count": count}
            if count:
                qs = profile.quantiles(column, PREDICTION_QUANTILES)
                entry["mean"] = _finite(s["mean"])
                entry["quantiles"] = {
                    str(q): _finite(v) for q, v in zip(PREDICTION_QUANTILES, qs, strict=True)
                }
            out[column] = entry
        else:
            top = profile.top_values(column, _TOP_CLASSES) if count else []
            out[column] = {
                "kind": "string",
                "count": count,
                "shares": {label: n / count for label, n in top},
            }
    return out


def _finite(x: float) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def drift_of(
    reference: Profile,
    current: Profile,
    columns: Sequence[str],
    methods: Mapping[str, str] | None,
    thresholds: Mapping[str, float] | None,
    drift_share: float,
) -> tuple[DriftReport | None, dict[str, FeatureDrift]]:
    """``seawall.drift.compare(reference, current, columns)``, per feature. A feature without
    values on a side is in the report with ``status="no_data"``. When compare raises, the
    columns are split in halves until the ones at fault are found (a few compare calls per bad
    column, not one per column); their errors are kept (``status="error"``) and the rest make
    the report, so that one bad column does not hide the drift of the others. The report is
    None when no column could be given to compare."""
    errors: dict[str, str] = {}
    results: list[ColumnDrift] = []

    def options(cols: Sequence[str]) -> dict[str, Any]:
        wanted = set(cols)
        return {
            "methods": {c: m for c, m in (methods or {}).items() if c in wanted} or None,
            "thresholds": {c: t for c, t in (thresholds or {}).items() if c in wanted} or None,
        }

    def run(cols: Sequence[str]) -> None:
        try:
            found = compare(reference, current, cols, drift_share=drift_share, **options(cols))
        except SeawallError as exc:
            if len(cols) == 1:
                errors[cols[0]] = str(exc)
                return
            run(cols[: len(cols) // 2])
            run(cols[len(cols) // 2 :])
            return
        results.extend(found.columns)

    if columns:
        run(list(columns))
    report = (
        DriftReport.from_columns(results, drift_share, reference.num_rows, current.num_rows)
        if results
        else None
    )
    out: dict[str, FeatureDrift] = {}
    for c in columns:
        share = missing_share(current, c)
        if report is not None and c not in errors:
            out[c] = FeatureDrift.of(report[c], share)
        else:
            out[c] = FeatureDrift(c, None, None, None, None, None, share, errors.get(c), "error")
    return report, out


# --- quality ---------------------------------------------------------------------------------


class QualityCounts:
    """Mergeable sufficient statistics of labelled predictions, and logged metric points.

    Classification: rows, correct, and for the positive label true and false positives and false
    negatives, giving accuracy, precision, recall and F1 exactly (as scikit-learn's binary
    scores); for rows with a score (the probability of the positive label), the summed log-loss
    and the labels and scores themselves, giving the log-loss and the ROC AUC exactly (the AUC
    does not merge from sums: a window keeps 9 bytes per scored row until it closes).
    Regression: rows, sum of absolute and of squared errors, giving MAE and RMSE. Logged points
    (``log_quality``): the mean of the points in the window, per metric. ``arms``: the same
    counts per traffic arm.
    """

    __slots__ = (
        "abs_err",
        "arms",
        "correct",
        "fn",
        "fp",
        "logged",
        "loss",
        "rows",
        "scored",
        "scores",
        "sq_err",
        "task",
        "tp",
        "truths",
    )

    def __init__(self) -> None:
        self.task: str | None = None
        self.rows = 0
        self.correct = 0
        self.tp = self.fp = self.fn = 0
        self.abs_err = 0.0
        self.sq_err = 0.0
        self.logged: dict[str, tuple[float, int]] = {}
        self.scored = 0
        self.loss = 0.0
        self.truths: list[np.ndarray] = []
        self.scores: list[np.ndarray] = []
        self.arms: dict[str, QualityCounts] = {}

    def empty(self) -> bool:
        return self.rows == 0 and not self.logged

    def merge(self, other: QualityCounts) -> None:
        if other.task is not None:
            self.task = other.task
        self.rows += other.rows
        self.correct += other.correct
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        self.abs_err += other.abs_err
        self.sq_err += other.sq_err
        for k, (total, n) in other.logged.items():
            t0, n0 = self.logged.get(k, (0.0, 0))
            self.logged[k] = (t0 + total, n0 + n)
        self.scored += other.scored
        self.loss += other.loss
        self.truths += other.truths
        self.scores += other.scores
        for arm, counts in other.arms.items():
            self.arms.setdefault(arm, QualityCounts()).merge(counts)

    def metrics(self) -> dict[str, float]:
        out: dict[str, float] = {}
        if self.rows:
            if self.task == "classification":
                out["accuracy"] = self.correct / self.rows
                predicted, actual = self.tp + self.fp, self.tp + self.fn
                # scikit-learn's zero_division=0: an undefined score counts as 0
                precision = self.tp / predicted if predicted else 0.0
                recall = self.tp / actual if actual else 0.0
                out["precision"] = precision
                out["recall"] = recall
                denominator = 2 * self.tp + self.fp + self.fn
                out["f1"] = 2 * self.tp / denominator if denominator else 0.0
            elif self.task == "regression":
                out["mae"] = self.abs_err / self.rows
                out["rmse"] = math.sqrt(self.sq_err / self.rows)
        if self.scored:
            auc = roc_auc(np.concatenate(self.truths), np.concatenate(self.scores), True)
            if math.isfinite(auc):  # undefined with labels of one class only: left out
                out["auc"] = auc
            out["log_loss"] = self.loss / self.scored
        for k, (total, n) in self.logged.items():
            out[k] = total / n
        return out

    def arm_metrics(self) -> dict[str, dict[str, float]]:
        return {arm: counts.metrics() for arm, counts in sorted(self.arms.items())}

    def arm_rows(self) -> dict[str, int]:
        return {arm: counts.rows for arm, counts in sorted(self.arms.items())}


def label_counts(
    task: str,
    positive_label: Any,
    y_true: np.ndarray,
    y_pred: np.ndarray | None,
    y_score: np.ndarray | None,
) -> QualityCounts:
    """The quality counts of labelled rows (1-D arrays of one length; `y_pred` or, for
    classification, `y_score` given). Without `y_pred`, a row is predicted positive when its
    score is above 0.5."""
    counts = QualityCounts()
    counts.task = task
    counts.rows = len(y_true)
    if task == "classification":
        pos_true = np.asarray(y_true == positive_label, dtype=bool)
        if y_score is not None:
            counts.scored = len(y_true)
            counts.loss = log_loss_sum(pos_true, y_score, True)
            counts.truths = [pos_true]
            counts.scores = [np.asarray(y_score, dtype=np.float64)]
        if y_pred is not None:
            counts.correct = int(np.sum(y_true == y_pred))
            pos_pred = np.asarray(y_pred == positive_label, dtype=bool)
        else:
            assert y_score is not None
            pos_pred = np.asarray(y_score, dtype=np.float64) > 0.5
            counts.correct = int(np.sum(pos_true == pos_pred))
        counts.tp = int(np.sum(pos_true & pos_pred))
        counts.fp = int(np.sum(~pos_true & pos_pred))
        counts.fn = int(np.sum(pos_true & ~pos_pred))
    else:
        if y_pred is None:
            raise InvalidInputError("regression labels need y_pred")
        try:
            err = y_pred.astype(np.float64) - y_true.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"regression labels must be numbers: {exc}") from None
        if not np.isfinite(err).all():
            raise InvalidInputError("regression labels and predictions must be finite")
        counts.abs_err = float(np.abs(err).sum())
        counts.sq_err = float(np.square(err).sum())
    return counts
