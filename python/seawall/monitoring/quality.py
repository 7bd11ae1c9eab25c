"""Quality of binary predictions against their labels: ROC AUC, log-loss and accuracy, in numpy
float64, with scikit-learn's definitions (``roc_auc_score``, ``log_loss``, ``accuracy_score``).

Undefined values are NaN, never an exception: the AUC of labels of one class only (scikit-learn
also answers NaN, with a warning), and any metric of no rows (where scikit-learn raises).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import InvalidInputError

__all__ = ["accuracy", "log_loss", "log_loss_sum", "roc_auc"]


def _pair(y_true: Any, other: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true)
    o = np.asarray(other)
    if y.ndim != 1 or o.shape != y.shape:
        raise InvalidInputError(
            f"y_true and {what} must be 1-D and of one length, got {y.shape} and {o.shape}"
        )
    return y, o


def _scores(values: np.ndarray, what: str = "y_score") -> np.ndarray:
    try:
        scores = values.astype(np.float64)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{what} must be numbers, got {values.dtype}") from None
    if not np.isfinite(scores).all():
        raise InvalidInputError(f"{what} must be finite numbers")
    return scores


def _truth(y: np.ndarray, positive_label: Any) -> np.ndarray:
    return np.asarray(y == positive_label, dtype=bool)


def roc_auc(y_true: Any, y_score: Any, positive_label: Any = 1) -> float:
    """The area under the ROC curve of `y_score` for the rows whose label is `positive_label`:
    the rank-sum (Mann-Whitney U) statistic, tied scores sharing their average rank. NaN when
    the labels are all of one class, or there are none."""
    y, s = _pair(y_true, y_score, "y_score")
    truth = _truth(y, positive_label)
    scores = _scores(s)
    positives = int(truth.sum())
    negatives = len(truth) - positives
    if positives == 0 or negatives == 0:
        return math.nan
    # 1-based ranks, ties sharing their average rank
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2.0)[inverse]
    u = ranks[truth].sum() - positives * (positives + 1) / 2.0
    return float(u / (positives * negatives))


def log_loss_sum(y_true: Any, y_score: Any, positive_label: Any = 1) -> float:
    """The summed binary log-loss of `y_score`, the probability of `positive_label`, clipped to
    [eps, 1 - eps] with eps the machine epsilon of the scores' dtype (float64 for other types),
    as scikit-learn clips. Scores must lie in [0, 1]."""
    y, s = _pair(y_true, y_score, "y_score")
    truth = _truth(y, positive_label)
    scores = _scores(s)
    if scores.size and (scores.min() < 0 or scores.max() > 1):
        raise InvalidInputError("y_score must be probabilities in [0, 1] for the log-loss")
    eps = np.finfo(s.dtype if s.dtype.kind == "f" else np.float64).eps
    p = np.clip(scores, eps, 1 - eps)
    return float(-(np.log(p[truth]).sum() + np.log1p(-p[~truth]).sum()))


def log_loss(y_true: Any, y_score: Any, positive_label: Any = 1) -> float:
    """The mean binary log-loss (see :func:`log_loss_sum`); NaN without rows."""
    y, _ = _pair(y_true, y_score, "y_score")
    if len(y) == 0:
        return math.nan
    return log_loss_sum(y_true, y_score, positive_label) / len(y)


def accuracy(y_true: Any, y_pred: Any) -> float:
    """The share of rows whose prediction equals the label; NaN without rows."""
    y, p = _pair(y_true, y_pred, "y_pred")
    if len(y) == 0:
        return math.nan
    return float(np.mean(y == p))
