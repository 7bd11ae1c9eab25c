"""Fairness across a sensitive column against Fairlearn's metrics on fresh random data; a
sensitive column with nulls, a group whose rate is undefined, several columns at once."""

from __future__ import annotations

import numpy as np
import pytest
from fairlearn import metrics as flm

from seawall.errors import InvalidInputError
from seawall.evaluation import evaluate


def data(rng: np.random.Generator, n: int = 20_000):
    groups = np.array(["a", "b", "c", "d"], dtype=object)
    sensitive = rng.choice(groups, n, p=[0.4, 0.3, 0.2, 0.1])
    bias = {"a": 0.0, "b": 0.1, "c": -0.1, "d": 0.2}
    scores = np.clip(np.round(rng.random(n), 2) + np.vectorize(bias.get)(sensitive) * 0.5, 0, 1)
    labels = (rng.random(n) < scores).astype(int)
    return scores, labels, sensitive


@pytest.mark.parametrize("threshold", [0.5, 0.31])
def test_disparities_equal_fairlearn(rng, threshold):
    scores, y, sensitive = data(rng)
    pred = (scores >= threshold).astype(int)
    ev = evaluate(
        scores, {"group": sensitive}, y, sensitive="group", threshold=threshold, bootstrap=0
    )
    f = ev.fairness["group"]
    for name in (
        "demographic_parity_difference",
        "demographic_parity_ratio",
        "equalized_odds_difference",
        "equalized_odds_ratio",
        "equal_opportunity_difference",
        "equal_opportunity_ratio",
    ):
        expected = getattr(flm, name)(y, pred, sensitive_features=sensitive)
        assert getattr(f, name) == pytest.approx(expected, rel=1e-12), name
    frame = flm.MetricFrame(
        metrics={
            "selection_rate": flm.selection_rate,
            "true_positive_rate": flm.true_positive_rate,
            "false_positive_rate": flm.false_positive_rate,
            "false_negative_rate": flm.false_negative_rate,
            "true_negative_rate": flm.true_negative_rate,
            "count": flm.count,
        },
        y_true=y,
        y_pred=pred,
        sensitive_features=sensitive,
    ).by_group
    assert [g.group for g in f.groups] == list(frame.index)
    for g in f.groups:
        row = frame.loc[g.group]
        assert g.count == row["count"]
        for rate in (
            "selection_rate",
            "true_positive_rate",
            "false_positive_rate",
            "false_negative_rate",
            "true_negative_rate",
        ):
            assert getattr(g, rate) == pytest.approx(row[rate], rel=1e-12), (g.group, rate)
        m = sensitive == g.group
        assert g.error_rate == pytest.approx(np.mean(pred[m] != y[m]), rel=1e-12)


def test_two_sensitive_columns_at_once_and_hard_predictions(rng):
    scores, y, sensitive = data(rng, 5_000)
    age = rng.choice(["young", "old"], len(y))
    pred = (scores >= 0.5).astype(int)
    ev = evaluate(
        pred,
        {"group": sensitive, "age": age},
        y,
        sensitive=["group", ("group", "age")],
        bootstrap=0,
    )
    assert set(ev.fairness) == {"group", "group x age"}
    both = np.array([f"{a}|{b}" for a, b in zip(sensitive, age, strict=True)])
    expected = flm.equalized_odds_difference(y, pred, sensitive_features=both)
    assert ev.fairness["group x age"].equalized_odds_difference == pytest.approx(
        expected, rel=1e-12
    )


def test_a_sensitive_column_with_nulls_is_an_error_naming_it(rng):
    scores, y, sensitive = data(rng, 1_000)
    sensitive[[3, 10, 11]] = None
    with pytest.raises(
        InvalidInputError, match=r"'group' has 3 rows without a value \(group=null\)"
    ):
        evaluate(scores, {"group": sensitive}, y, sensitive="group")


def test_a_group_without_positives_is_left_out_and_named(rng):
    scores, y, sensitive = data(rng, 2_000)
    y[sensitive == "d"] = 0
    pred = (scores >= 0.5).astype(int)
    f = evaluate(scores, {"group": sensitive}, y, sensitive="group", bootstrap=0).fairness["group"]
    d = next(g for g in f.groups if g.group == "d")
    assert d.true_positive_rate is None and d.false_negative_rate is None
    assert f.undefined == {"true_positive_rate": ["group=d"], "false_negative_rate": ["group=d"]}
    rest = sensitive != "d"
    expected = flm.equal_opportunity_difference(
        y[rest], pred[rest], sensitive_features=sensitive[rest]
    )
    assert f.equal_opportunity_difference == pytest.approx(expected, rel=1e-12)
    # Fairlearn counts the missing rate as 0, a disparity made of the missing data:
    assert flm.equal_opportunity_difference(y, pred, sensitive_features=sensitive) >= expected
    with pytest.raises(InvalidInputError, match="binary tasks"):
        evaluate(scores, {"group": sensitive}, scores, task="regression", sensitive="group")


def test_measure_fairness_alone_is_evaluates_fairness(rng):
    from seawall.evaluation import measure_fairness

    scores, y, sensitive = data(rng, 3_000)
    alone = measure_fairness(scores, {"group": sensitive, "y": y}, "y", "group", threshold=0.4)
    within = evaluate(
        scores, {"group": sensitive}, y, sensitive="group", threshold=0.4, bootstrap=0
    )
    assert alone == within.fairness["group"]
    pred = (scores >= 0.4).astype(int)
    assert alone.demographic_parity_difference == pytest.approx(
        flm.demographic_parity_difference(y, pred, sensitive_features=sensitive), rel=1e-12
    )
