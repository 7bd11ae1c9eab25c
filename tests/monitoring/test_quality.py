"""The quality metrics of labelled predictions (ROC AUC, log-loss, accuracy) against
scikit-learn on random data with fresh seeds: ties, float32 scores, scores of exactly 0 and 1,
labels other than 0/1, one class only, one row, no rows, and the errors a caller can make."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.metrics import log_loss as sk_log_loss

from seawall.errors import InvalidInputError
from seawall.monitoring.quality import accuracy, log_loss, roc_auc


def _rel(s: np.ndarray) -> float:
    """scikit-learn computes the log-loss of float32 scores in float32; seawall in float64."""
    return 1e-6 if s.dtype == np.float32 else 1e-9


def _draw(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n = int(rng.integers(2, 3000))
    y = (rng.random(n) < rng.uniform(0.05, 0.95)).astype(np.int64)
    s = np.clip(rng.normal(0.35 + 0.3 * y, 0.25), 0, 1)
    kind = rng.integers(0, 3)
    if kind == 1:
        s = np.round(s, 1)  # many ties, within and across classes
    elif kind == 2:
        s = s.astype(np.float32)
    return y, s


def test_metrics_match_scikit_learn(rng):
    for _ in range(20):
        y, s = _draw(rng)
        if 0 < y.sum() < len(y):
            assert roc_auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
        assert log_loss(y, s) == pytest.approx(sk_log_loss(y, s, labels=[0, 1]), rel=_rel(s))
        p = (s > 0.5).astype(np.int64)
        assert accuracy(y, p) == accuracy_score(y, p)


def test_labels_other_than_zero_and_one(rng):
    y, s = _draw(rng)
    names = np.where(y == 1, "fraud", "ok").astype(object)
    assert roc_auc(names, s, positive_label="fraud") == pytest.approx(
        roc_auc_score(y, s), abs=1e-12
    )
    assert log_loss(names, s, positive_label="fraud") == pytest.approx(
        sk_log_loss(y, s, labels=[0, 1]), rel=_rel(s)
    )
    # the AUC of the other class is one minus this one
    assert roc_auc(names, s, positive_label="ok") == pytest.approx(1 - roc_auc(y, s), abs=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_scores_of_zero_and_one_are_clipped_as_scikit_learn_clips(rng, dtype):
    y = rng.integers(0, 2, 200)
    s = rng.random(200).astype(dtype)
    s[:20] = 0.0
    s[20:40] = 1.0
    assert log_loss(y, s) == pytest.approx(sk_log_loss(y, s, labels=[0, 1]), rel=_rel(s))
    assert math.isfinite(log_loss(y, s))


def test_one_class_only_leaves_the_auc_undefined(rng):
    s = rng.random(50)
    for label in (0, 1):
        y = np.full(50, label)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            assert math.isnan(roc_auc_score(y, s))  # scikit-learn agrees
        assert math.isnan(roc_auc(y, s))
        assert log_loss(y, s) == pytest.approx(sk_log_loss(y, s, labels=[0, 1]), rel=1e-9)


def test_one_row_and_no_rows():
    assert math.isnan(roc_auc([1], [0.3]))
    assert log_loss([1], [0.25]) == pytest.approx(-math.log(0.25), rel=1e-12)
    assert accuracy([1], [1]) == 1.0
    for metric in (roc_auc, log_loss, accuracy):
        assert math.isnan(metric([], []))


def test_huge_and_tied_scores(rng):
    y = np.array([0, 1, 0, 1, 1, 0])
    s = np.array([1e300, 1e300, -1e300, 5e299, 1e300, -1e300])
    assert roc_auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_bad_input_is_a_clear_error():
    with pytest.raises(InvalidInputError, match="one length"):
        roc_auc([0, 1, 1], [0.2, 0.4])
    with pytest.raises(InvalidInputError, match="1-D"):
        log_loss([[0, 1]], [[0.2, 0.4]])
    with pytest.raises(InvalidInputError, match="finite"):
        roc_auc([0, 1], [0.2, float("nan")])
    with pytest.raises(InvalidInputError, match="numbers"):
        roc_auc([0, 1], ["a", "b"])
    with pytest.raises(InvalidInputError, match=r"\[0, 1\]"):
        log_loss([0, 1], [0.2, 1.5])
    assert issubclass(InvalidInputError, ValueError)
