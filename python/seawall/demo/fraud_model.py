"""The demo's model: L2-regularised logistic regression fit by Newton's method in numpy.

The base install has no machine-learning library, and the demo needs none: a few Newton steps
on the feature pipeline's output fit a fraud model in about a second. It has scikit-learn's
``predict`` / ``predict_proba``, so a bundle serves it like any scikit-learn classifier.
"""

from __future__ import annotations

import math

import numpy as np


class LogisticModel:
    def __init__(self, l2: float = 1.0, steps: int = 12) -> None:
        self.l2 = l2
        self.steps = steps

    def fit(self, X: np.ndarray, y: np.ndarray) -> LogisticModel:
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        A = np.hstack([X, np.ones((len(X), 1))])  # the last weight is the intercept
        w = np.zeros(A.shape[1])
        penalty = np.full(A.shape[1], self.l2)
        penalty[-1] = 0.0
        for _ in range(self.steps):
            p = 1.0 / (1.0 + np.exp(-(A @ w)))
            gradient = A.T @ (p - y) + penalty * w
            hessian = (A * (p * (1 - p))[:, None]).T @ A + np.diag(penalty + 1e-9)
            step = np.linalg.solve(hessian, gradient)
            w -= step
            if np.abs(step).max() < 1e-8:
                break
        self.coef_, self.intercept_ = w[:-1], w[-1]
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        z = np.asarray(X, dtype=np.float64) @ self.coef_ + self.intercept_
        p = 1.0 / (1.0 + np.exp(-z))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: np.ndarray) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.int64)


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve by the rank-sum (Mann-Whitney U) formula, ties averaged."""
    from ..monitoring.quality import roc_auc as auc

    value = auc(np.asarray(y).astype(bool), score, True)
    if math.isnan(value):
        raise ValueError("the AUC needs both classes")
    return value
