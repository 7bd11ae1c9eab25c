"""seawall.evaluate's metrics against scikit-learn on fresh random data with heavy ties, per
slice, and the bad inputs: NaN labels, one class only, probabilities outside [0, 1], empty and
one-row input, outputs of the wrong shape."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve
from sklearn.exceptions import UndefinedMetricWarning

import seawall
from gil_helpers import spins_during
from seawall.errors import DTypeError, InvalidInputError, MissingColumnError
from seawall.evaluation import Bucket, evaluate

REL = 1e-9


def binary_data(rng: np.random.Generator, n: int, levels: int) -> tuple[np.ndarray, np.ndarray]:
    scores = np.round(rng.random(n) * levels) / levels  # heavy ties at `levels` + 1 values
    labels = (rng.random(n) < scores * 0.8 + 0.1).astype(np.int64)
    return scores, labels


def sklearn_binary(y: np.ndarray, s: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    pred = (s >= threshold).astype(int)
    prob_true, prob_pred = calibration_curve(y, s, n_bins=10)
    binids = np.searchsorted(np.linspace(0, 1, 11)[1:-1], s)
    counts = np.bincount(binids, minlength=10)
    counts = counts[counts > 0]
    return {
        "roc_auc": skm.roc_auc_score(y, s),
        "average_precision": skm.average_precision_score(y, s),
        "log_loss": skm.log_loss(y, s, labels=[0, 1]),
        "brier": skm.brier_score_loss(y, s),
        "accuracy": skm.accuracy_score(y, pred),
        "precision": skm.precision_score(y, pred),
        "recall": skm.recall_score(y, pred),
        "f1": skm.f1_score(y, pred),
        "expected_calibration_error": float(
            np.sum(counts / len(y) * np.abs(prob_true - prob_pred))
        ),
    }


@pytest.mark.parametrize("levels", [4, 50, 100_000])
def test_binary_metrics_equal_sklearn_with_ties(rng, levels):
    s, y = binary_data(rng, 20_000, levels)
    ev = evaluate(s, labels=y, bootstrap=0)
    expected = sklearn_binary(y, s)
    for name, value in expected.items():
        assert ev[name].value == pytest.approx(value, rel=REL, abs=1e-12), name
        assert ev[name].count == len(y)
    tn, fp, fn, tp = skm.confusion_matrix(y, (s >= 0.5).astype(int)).ravel()
    assert ev.overall.confusion == [[tn, fp], [fn, tp]]
    assert ev.overall.positives == int(y.sum())
    prob_true, prob_pred = calibration_curve(y, s, n_bins=10)
    bins = ev.overall.calibration
    assert [b.fraction_positive for b in bins] == pytest.approx(prob_true, rel=REL)
    assert [b.mean_predicted for b in bins] == pytest.approx(prob_pred, rel=REL)


def test_quantile_calibration_and_threshold_equal_sklearn(rng):
    s, y = binary_data(rng, 5_000, 37)
    ev = evaluate(
        s, labels=y, threshold=0.3, calibration_bins=7, calibration_strategy="quantile", bootstrap=0
    )
    prob_true, prob_pred = calibration_curve(y, s, n_bins=7, strategy="quantile")
    assert [b.fraction_positive for b in ev.overall.calibration] == pytest.approx(
        prob_true, rel=REL
    )
    assert [b.mean_predicted for b in ev.overall.calibration] == pytest.approx(prob_pred, rel=REL)
    pred = (s >= 0.3).astype(int)
    assert ev["precision"].value == pytest.approx(skm.precision_score(y, pred), rel=REL)
    assert ev["recall"].value == pytest.approx(skm.recall_score(y, pred), rel=REL)


def test_curves_are_sklearns_points(rng):
    s, y = binary_data(rng, 3_000, 20)  # 21 thresholds: no thinning
    ev = evaluate(s, labels=y, bootstrap=0)
    fpr, tpr, _ = skm.roc_curve(y, s, drop_intermediate=False)
    assert ev.overall.roc.x == pytest.approx(fpr)
    assert ev.overall.roc.y == pytest.approx(tpr)
    precision, recall, thresholds = skm.precision_recall_curve(y, s)
    # sklearn's arrays run recall falling and end with (recall 0, precision 1); ours rise.
    assert ev.overall.pr.x == pytest.approx(recall[:-1][::-1])
    assert ev.overall.pr.y == pytest.approx(precision[:-1][::-1])
    assert ev.overall.pr.threshold == pytest.approx(thresholds[::-1])


def test_metrics_per_slice_equal_sklearn_on_each_slice(rng):
    n = 30_000
    s, y = binary_data(rng, n, 40)
    country = rng.choice(
        np.array(["FR", "DE", "JP", None], dtype=object), n, p=[0.4, 0.3, 0.2, 0.1]
    )
    channel = rng.choice(["web", "app"], n)
    amount = np.round(rng.lognormal(3, 1, n), 1)
    amount[rng.random(n) < 0.05] = np.nan
    data = pa.table({"country": country, "channel": channel, "amount": amount})
    ev = evaluate(
        s, data, y, slices=["country", ("country", "channel"), Bucket("amount", 4)], bootstrap=0
    )
    frame = pd.DataFrame({"country": country, "channel": channel, "amount": amount, "s": s, "y": y})

    def check(results, masks):
        assert [r.count for r in results] == [int(m.sum()) for m in masks]
        for r, m in zip(results, masks, strict=True):
            expected = sklearn_binary(y[m], s[m])
            for name, value in expected.items():
                assert r[name].value == pytest.approx(value, rel=REL, abs=1e-12), (r.label, name)

    by_country = ev.slice("country")
    assert [r.key for r in by_country] == ["DE", "FR", "JP", None]
    assert by_country[-1].label == "country=null"
    check(
        by_country,
        [
            (frame.country == k).to_numpy() if k else frame.country.isna().to_numpy()
            for k in ["DE", "FR", "JP", None]
        ],
    )
    pairs = ev.slice(("country", "channel"))
    assert [r.key for r in pairs] == [
        (c, h) for c in ["DE", "FR", "JP", None] for h in ["app", "web"]
    ]
    check(
        pairs,
        [
            ((frame.country == c) if c else frame.country.isna()).to_numpy()
            & (frame.channel == h).to_numpy()
            for c, h in (r.key for r in pairs)
        ],
    )
    buckets = ev.slice(Bucket("amount", 4))
    present = amount[~np.isnan(amount)]
    edges = np.quantile(present, [0, 0.25, 0.5, 0.75, 1])
    assert [r.key for r in buckets[:-1]] == [(edges[i], edges[i + 1]) for i in range(4)]
    masks = [(amount >= edges[i]) & (amount < edges[i + 1]) for i in range(3)]
    masks.append((amount >= edges[3]) & (amount <= edges[4]))
    masks.append(np.isnan(amount))
    check(buckets, masks)


def test_one_class_only_is_undefined_with_counts_never_nan(rng):
    s = rng.random(500)
    group = np.where(np.arange(500) < 100, "only_negatives", "mixed")
    y = np.where(group == "only_negatives", 0, rng.random(500) < s).astype(int)
    ev = evaluate(s, {"g": group}, y, slices=["g"], bootstrap=50, seed=1)
    lone = next(r for r in ev.slice("g") if r.key == "only_negatives")
    auc = lone["roc_auc"]
    assert auc.value is None and auc.low is None and auc.high is None
    assert auc.reason == "one class only: 0 positive and 100 negative labels"
    assert auc.count == 100
    assert lone["average_precision"].value is None
    assert lone["log_loss"].value == pytest.approx(
        skm.log_loss(y[:100], s[:100], labels=[0, 1]), rel=REL
    )
    with pytest.warns(UndefinedMetricWarning, match="Only one class"):
        assert np.isnan(skm.roc_auc_score(y[:100], s[:100]))  # sklearn's silent NaN
    ev.to_json()  # allow_nan=False: no NaN anywhere
    document = ev.to_dict()
    assert document["slices"]["g"][1]["metrics"]["roc_auc"]["value"] is None


def test_bad_labels_and_probabilities_are_typed_errors_naming_the_row(rng):
    s = rng.random(10)
    y = (rng.random(10) < 0.5).astype(float)
    y[7] = np.nan
    with pytest.raises(InvalidInputError, match="label of row 7 is missing"):
        evaluate(s, labels=y)
    y[7] = 1
    bad = s.copy()
    bad[3] = 1.25
    with pytest.raises(InvalidInputError, match=r"probability of row 3 is 1.25, outside \[0, 1\]"):
        evaluate(bad, labels=y)
    # scores that are no probabilities rank fine once said so
    ev = evaluate(
        bad * 10 - 3, labels=y, probabilities=False, metrics=["roc_auc", "f1"], bootstrap=0
    )
    assert ev["roc_auc"].value == pytest.approx(skm.roc_auc_score(y, bad))
    with pytest.raises(InvalidInputError, match="log_loss read the scores as probabilities"):
        evaluate(bad, labels=y, probabilities=False, metrics=["log_loss"])
    with pytest.raises(InvalidInputError, match="label of row 2 is 2"):
        evaluate(s, labels=[0, 1, 2, 0, 1, 0, 1, 0, 1, 0])
    with pytest.raises(DTypeError, match="pos_label"):
        evaluate(s, labels=["yes", "no"] * 5)
    ev = evaluate(s, labels=["yes", "no"] * 5, pos_label="yes", bootstrap=0)
    assert ev["roc_auc"].value == pytest.approx(skm.roc_auc_score(np.array([1, 0] * 5), s))
    with pytest.raises(InvalidInputError, match="label of row 4 is missing"):
        evaluate(s, labels=["yes", "no", "yes", "no", None] * 2, pos_label="yes")
    with pytest.raises(InvalidInputError, match="10 outputs for 9 labels"):
        evaluate(s, labels=y[:9])
    with pytest.raises(InvalidInputError, match="does not match task='binary'"):
        evaluate(rng.random((10, 3)), labels=y)
    with pytest.raises(InvalidInputError, match="does not match task='regression'"):
        evaluate(rng.random((10, 2)), labels=y, task="regression")
    with pytest.raises(InvalidInputError, match="unknown metric 'rocauc'"):
        evaluate(s, labels=y, metrics=["rocauc"])
    with pytest.raises(MissingColumnError, match="slice column 'nope'"):
        evaluate(s, {"g": np.zeros(10)}, y, slices=["nope"])
    with pytest.raises(InvalidInputError, match="task must be one of"):
        evaluate(s, labels=y, task="ranking")


def test_empty_and_one_row_inputs():
    empty = evaluate(np.array([]), labels=np.array([]), bootstrap=10)
    assert empty.rows == 0
    assert all(m.value is None and m.reason == "no rows" for m in empty.overall.metrics.values())
    one = evaluate([0.8], labels=[1], bootstrap=10, seed=3)
    assert one["roc_auc"].value is None
    assert one["accuracy"].value == 1.0
    assert one["log_loss"].value == pytest.approx(-np.log(0.8))
    assert one["precision"].value == 1.0
    reg = evaluate([2.5], labels=[2.0], task="regression", bootstrap=10)
    assert reg["mae"].value == 0.5
    assert reg["r2"].value is None and "two rows" in reg["r2"].reason


def test_precision_without_predicted_positives_is_undefined(rng):
    y = (rng.random(50) < 0.5).astype(int)
    ev = evaluate(np.full(50, 0.1), labels=y, bootstrap=0)
    assert ev["precision"].value is None
    assert ev["precision"].reason == "no row predicted positive (score >= 0.5)"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert skm.precision_score(y, np.zeros(50, int)) == 0.0  # sklearn's silent 0


def test_bootstrap_intervals_are_reproducible_and_cover_the_value(rng, restore_threads):
    s, y = binary_data(rng, 20_000, 1000)
    seawall.set_num_threads(1)
    a = evaluate(s, labels=y, bootstrap=200, seed=7)
    seawall.set_num_threads(2)
    b = evaluate(s, labels=y, bootstrap=200, seed=7)
    c = evaluate(s, labels=y, bootstrap=200, seed=8)
    for name in ("roc_auc", "average_precision", "log_loss", "brier", "accuracy", "f1"):
        assert (a[name].low, a[name].high) == (b[name].low, b[name].high)
        assert a[name].low < a[name].value < a[name].high
        assert a[name].resamples == 200
    assert a["roc_auc"].low != c["roc_auc"].low
    # The spread of resampled AUCs is the AUC's standard error: about sqrt(auc(1-auc)/n)-ish.
    assert 0.002 < a["roc_auc"].high - a["roc_auc"].low < 0.05
    assert a.options["seed"] == 7
    unseeded = evaluate(s, labels=y, bootstrap=20)
    assert isinstance(unseeded.options["seed"], int)


def test_min_count_marks_small_slices(rng):
    s, y = binary_data(rng, 1_000, 10)
    g = np.where(np.arange(1_000) < 30, "small", "large")
    ev = evaluate(s, {"g": g}, y, slices="g", min_count=50, bootstrap=0)
    small = next(r for r in ev.slice("g") if r.key == "small")
    assert small.status == "too_small"
    assert small.count == 30
    assert small["roc_auc"].value is None
    assert small["roc_auc"].reason == "the slice has 30 rows, fewer than min_count=50"
    large = next(r for r in ev.slice("g") if r.key == "large")
    assert large.status == "ok" and large["roc_auc"].value is not None


def test_regression_metrics_equal_sklearn(rng):
    n = 10_000
    y = np.round(rng.normal(100, 20, n))
    pred = y + rng.normal(0, 10, n)
    g = rng.choice(["a", "b", "c"], n)
    ev = evaluate(
        pred, {"g": g}, y, task="regression", slices=["g"], quantile=0.8, bootstrap=100, seed=2
    )
    for r in [ev.overall, *ev.slice("g")]:
        m = np.ones(n, bool) if r.key is None else g == r.key
        assert r["mae"].value == pytest.approx(skm.mean_absolute_error(y[m], pred[m]), rel=REL)
        assert r["rmse"].value == pytest.approx(skm.root_mean_squared_error(y[m], pred[m]), rel=REL)
        assert r["r2"].value == pytest.approx(skm.r2_score(y[m], pred[m]), rel=REL)
        assert r["pinball"].value == pytest.approx(
            skm.mean_pinball_loss(y[m], pred[m], alpha=0.8), rel=REL
        )
        assert r["rmse"].low < r["rmse"].value < r["rmse"].high
    bad = y.copy()
    bad[5] = np.nan
    with pytest.raises(InvalidInputError, match="label of row 5 is missing"):
        evaluate(pred, labels=bad, task="regression")


def test_multiclass_metrics_equal_sklearn(rng):
    n, k = 5_000, 4
    raw = np.round(rng.random((n, k)) * 5) + 0.5  # ties within columns
    proba = raw / raw.sum(axis=1, keepdims=True)
    names = np.array(["ant", "bee", "cat", "dog"])
    y = names[rng.integers(0, k, n)]
    ev = evaluate(proba, labels=y, task="multiclass", bootstrap=50, seed=4)
    pred = names[proba.argmax(axis=1)]
    assert ev.options["classes"] == list(names)
    assert ev["accuracy"].value == pytest.approx(skm.accuracy_score(y, pred), rel=REL)
    assert ev["log_loss"].value == pytest.approx(skm.log_loss(y, proba), rel=REL)
    assert ev["brier"].value == pytest.approx(skm.brier_score_loss(y, proba), rel=REL)
    assert ev["roc_auc"].value == pytest.approx(
        skm.roc_auc_score(y, proba, multi_class="ovr"), rel=REL
    )
    for name, fn in (
        ("precision", skm.precision_score),
        ("recall", skm.recall_score),
        ("f1", skm.f1_score),
    ):
        assert ev[name].value == pytest.approx(fn(y, pred, average="macro"), rel=REL)
    assert ev.overall.confusion == skm.confusion_matrix(y, pred, labels=names).tolist()
    assert ev["roc_auc"].low < ev["roc_auc"].value < ev["roc_auc"].high
    with pytest.raises(InvalidInputError, match="4 columns for 3 classes"):
        evaluate(proba, labels=np.where(y == "dog", "cat", y), task="multiclass")
    with pytest.raises(InvalidInputError, match="label of row 0 is 'emu'"):
        evaluate(proba, labels=np.r_[["emu"], y[1:]], task="multiclass", classes=list(names))


def test_a_bundle_is_run_on_its_pipeline(tmp_path, rng):
    from sklearn.linear_model import LogisticRegression

    from seawall.bundles import load_bundle, save_bundle
    from seawall.demo import fraud_pipeline, transactions

    features = ["amount", "hour", "account_age_days", "merchant", "country"]
    train = transactions(3_000, seed=int(rng.integers(1 << 30)))
    pipe = fraud_pipeline().fit(train.select(features))
    model = LogisticRegression(max_iter=500).fit(pipe.transform(train), train["is_fraud"])
    save_bundle(
        tmp_path / "b",
        python_model=model,
        pipeline=pipe,
        example=train.select(features).slice(0, 3),
    )
    bundle = load_bundle(tmp_path / "b", trust_code=True)
    test = transactions(2_000, seed=int(rng.integers(1 << 30)))
    ev = evaluate(bundle, test, "is_fraud", slices=["merchant"], bootstrap=0)
    # float64 metrics of the model's float32 probabilities (sklearn would compute in float32)
    proba = model.predict_proba(pipe.transform(test))[:, 1].astype(np.float64)
    y = test["is_fraud"].to_numpy()
    assert ev["roc_auc"].value == pytest.approx(skm.roc_auc_score(y, proba), rel=REL)
    assert ev["log_loss"].value == pytest.approx(skm.log_loss(y, proba), rel=REL)
    assert ev.model["name"] == "b"
    # an estimator is called on the data, a callable too
    est = evaluate(model, pd.DataFrame(pipe.transform(test)), y, bootstrap=0)
    assert est["roc_auc"].value == pytest.approx(ev["roc_auc"].value, rel=REL)


@pytest.mark.parametrize("kind", ["small_range", "wide_range", "with_nulls", "float32_scores"])
def test_integer_slices_and_float32_scores(rng, kind):
    n = 20_000
    s, y = binary_data(rng, n, 1_000)
    segment = rng.integers(-3, 7, n)
    column: object = segment
    if kind == "wide_range":
        segment = segment * 10**12
        column = segment
    if kind == "with_nulls":
        column = pa.array(segment, mask=segment == 0)
    if kind == "float32_scores":  # sorted as 32-bit keys
        s = rng.random(n).astype(np.float32).astype(np.float64)
        y = (rng.random(n) < s).astype(int)
    ev = evaluate(s, {"segment": column}, y, slices=["segment"], bootstrap=0)
    keys = sorted(set(segment.tolist()) - ({0} if kind == "with_nulls" else set()))
    expected_keys = [*keys, None] if kind == "with_nulls" else keys
    results = ev.slice("segment")
    assert [r.key for r in results] == expected_keys
    for r in results:
        m = segment == (0 if r.key is None else r.key)
        assert r.count == int(m.sum())
        assert r["roc_auc"].value == pytest.approx(skm.roc_auc_score(y[m], s[m]), rel=REL)
        assert r["log_loss"].value == pytest.approx(
            skm.log_loss(y[m], s[m], labels=[0, 1]), rel=REL
        )


def test_the_native_metrics_release_the_gil(rng, restore_threads):
    """While a thread computes bootstrap intervals natively, the main thread keeps running
    Python (see gil_helpers)."""
    seawall.set_num_threads(1)
    s, y = binary_data(rng, 300_000, 10**6)
    y = y.astype(np.float64)
    count, rate, elapsed = spins_during(
        lambda: seawall._core.binary_metrics(
            s, y, None, 1, 0.5, True, 10, "uniform", 0, 200, 0.95, 1, 1
        )
    )
    assert elapsed > 0.05, "the call must be long enough to tell the two cases apart"
    assert count > 0.1 * rate * elapsed, (count, rate, elapsed)
