"""Model evaluation against scikit-learn's per-slice loop and Fairlearn, in the same run.

    python -m pytest benchmarks/bench_evaluation.py -s --benchmark-columns=median,min,max,rounds

Slices: 10 x ROWS predictions (10M by default) in 50 slices; ROC AUC, average precision, log
loss and the calibration curve (with its ECE) overall and per slice, without intervals; the
anchor is the same figures from scikit-learn, one slice at a time (pandas' groupby indices).
The scores are a model's float32 probabilities, given to both as float64 (seawall sorts such
values as 32-bit keys; scores of arbitrary float64 values take the 64-bit sort, about 1.5x the
time: test_slices_seawall_float64). Target: >= 20x.

Fairness: the same rows and 50 groups; demographic parity, equal opportunity and equalized odds
(differences and ratios) with per-group selection, true and false positive rates; the anchor is
Fairlearn's MetricFrame. Target: >= 10x.

Bootstrap: 1,000 Poisson resamples of ROC AUC on ROWS predictions (1M). Target: <= 2 s on 2
cores. The anchor, scikit-learn's roc_auc_score on one resample drawn with numpy, is timed per
resample and scaled to 1,000.

Permutation importance: 25 columns (20 numeric, 5 categorical) x 5 repeats on ROWS / 10 rows
(100k) through a bundle (FeaturePipeline + logistic regression); the anchor is
sklearn.inspection.permutation_importance on the same pipeline and model. Target: >= 5x.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve
from sklearn.inspection import permutation_importance as sk_permutation_importance
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import make_scorer
from sklearn.pipeline import make_pipeline

import seawall as sw
from conftest import ROWS
from seawall.bundles import load_bundle, save_bundle
from seawall.evaluation import evaluate, measure_fairness, permutation_importance

SLICE_ROWS = 10 * ROWS
SLICES = 50
METRICS = ["roc_auc", "average_precision", "log_loss", "expected_calibration_error"]
BOOTSTRAP_ROWS = ROWS
RESAMPLES = 1000
IMPORTANCE_ROWS = max(ROWS // 10, 2_000)
# The AUC of the probabilities, as seawall scores a bundle's output ("roc_auc" alone would make
# scikit-learn score the decision function, whose float32 values tie differently).
PROBA_AUC = make_scorer(skm.roc_auc_score, response_method="predict_proba")
NUMERIC = [f"n{i}" for i in range(20)]
CATEGORIES = [f"c{i}" for i in range(5)]


@pytest.fixture(scope="module")
def predictions() -> dict[str, Any]:
    rng = np.random.default_rng(20261215)
    segment = rng.integers(0, SLICES, SLICE_ROWS).astype(np.int32)
    # a model's float32 probabilities (ties included), as float64 for both sides
    scores = rng.beta(2, 5, SLICE_ROWS).astype(np.float32).astype(np.float64)
    labels = (rng.random(SLICE_ROWS) < scores).astype(np.int8)
    data = pa.table({"segment": segment})
    return {"scores": scores, "labels": labels, "segment": segment, "data": data}


def sklearn_loop(p: dict[str, Any]) -> dict[Any, dict[str, float]]:
    """The figures one slice at a time, as one would write them with scikit-learn."""

    def figures(y: np.ndarray, s: np.ndarray) -> dict[str, float]:
        prob_true, prob_pred = calibration_curve(y, s, n_bins=10)
        counts = np.bincount(np.searchsorted(np.linspace(0, 1, 11)[1:-1], s), minlength=10)
        counts = counts[counts > 0]
        return {
            "roc_auc": skm.roc_auc_score(y, s),
            "average_precision": skm.average_precision_score(y, s),
            "log_loss": skm.log_loss(y, s, labels=[0, 1]),
            "expected_calibration_error": float(
                np.sum(counts / len(y) * np.abs(prob_true - prob_pred))
            ),
        }

    s, y = p["scores"], p["labels"]
    out = {None: figures(y, s)}
    for key, idx in pd.Series(p["segment"]).groupby(p["segment"]).indices.items():
        out[key] = figures(y[idx], s[idx])
    return out


def seawall_slices(p: dict[str, Any]) -> sw.Evaluation:
    return evaluate(
        p["scores"], p["data"], p["labels"], slices=["segment"], metrics=METRICS, bootstrap=0
    )


def test_slices_seawall(benchmark, predictions, medians):
    ev = benchmark.pedantic(lambda: seawall_slices(predictions), rounds=3, iterations=1)
    if SLICE_ROWS <= 1_000_000:  # the check itself takes the anchor's time
        expected = sklearn_loop(predictions)
        for r in [ev.overall, *ev.slice("segment")]:
            for name in METRICS:
                assert r[name].value == pytest.approx(expected[r.key][name], rel=1e-9)
    medians.record("slices_seawall", benchmark)


def test_slices_seawall_float64(benchmark, predictions, medians):
    """The same with scores that are no float32 values (the 64-bit sort)."""
    p = dict(predictions)
    p["scores"] = np.nextafter(p["scores"], 1.0)  # one ulp up: no longer float32 values
    benchmark.pedantic(lambda: seawall_slices(p), rounds=3, iterations=1)
    medians.record("slices_seawall_float64", benchmark)


def test_slices_sklearn_loop(benchmark, predictions, medians):
    benchmark.pedantic(lambda: sklearn_loop(predictions), rounds=1, iterations=1)
    medians.record("slices_sklearn", benchmark)


# --- fairness ------------------------------------------------------------------------------------


def test_fairness_seawall(benchmark, predictions, medians):
    p = predictions
    f = benchmark.pedantic(
        lambda: measure_fairness(p["scores"], p["data"], p["labels"], "segment", threshold=0.3),
        rounds=5,
        iterations=1,
    )
    assert len(f.groups) == SLICES
    medians.record("fairness_seawall", benchmark)


def test_fairness_fairlearn(benchmark, predictions, medians):
    from fairlearn import metrics as flm

    p = predictions
    pred = (p["scores"] >= 0.3).astype(np.int8)

    def fairlearn() -> dict[str, float]:
        frame = flm.MetricFrame(
            metrics={
                "selection_rate": flm.selection_rate,
                "true_positive_rate": flm.true_positive_rate,
                "false_positive_rate": flm.false_positive_rate,
            },
            y_true=p["labels"],
            y_pred=pred,
            sensitive_features=p["segment"],
        )
        diff, ratio = frame.difference(), frame.ratio()
        return {
            "demographic_parity_difference": diff["selection_rate"],
            "demographic_parity_ratio": ratio["selection_rate"],
            "equal_opportunity_difference": diff["true_positive_rate"],
            "equalized_odds_difference": max(
                diff["true_positive_rate"], diff["false_positive_rate"]
            ),
            "equalized_odds_ratio": min(ratio["true_positive_rate"], ratio["false_positive_rate"]),
        }

    expected = benchmark.pedantic(fairlearn, rounds=1, iterations=1)
    ours = measure_fairness(p["scores"], p["data"], p["labels"], "segment", threshold=0.3)
    for name, value in expected.items():
        assert getattr(ours, name) == pytest.approx(value, rel=1e-9)
    medians.record("fairness_fairlearn", benchmark)


# --- bootstrap -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bootstrap_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(20261216)
    scores = rng.random(BOOTSTRAP_ROWS)
    labels = (rng.random(BOOTSTRAP_ROWS) < scores).astype(np.int8)
    return scores, labels


def test_bootstrap_auc_seawall(benchmark, bootstrap_data, medians):
    s, y = bootstrap_data
    ev = benchmark.pedantic(
        lambda: evaluate(s, labels=y, metrics=["roc_auc"], bootstrap=RESAMPLES, seed=1),
        rounds=3,
        iterations=1,
    )
    auc = ev["roc_auc"]
    assert auc.resamples == RESAMPLES and auc.low < auc.value < auc.high
    medians.record("bootstrap_seawall", benchmark)


def test_bootstrap_auc_sklearn_one_resample(benchmark, bootstrap_data, medians):
    s, y = bootstrap_data
    rng = np.random.default_rng(3)

    def one() -> float:
        idx = rng.integers(0, len(s), len(s))
        return skm.roc_auc_score(y[idx], s[idx])

    benchmark.pedantic(one, rounds=3, iterations=1)
    medians.record("bootstrap_sklearn_one", benchmark)


# --- permutation importance ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def importance_setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    rng = np.random.default_rng(20261217)
    n = IMPORTANCE_ROWS
    cols: dict[str, Any] = {c: rng.normal(0, 1, n) for c in NUMERIC}
    levels = np.array([f"v{j}" for j in range(6)], dtype=object)
    for c in CATEGORIES:
        cols[c] = levels[rng.integers(0, 6, n)]
    table = pa.table(cols)
    logit = sum((i % 4 - 1.5) * 0.3 * cols[c] for i, c in enumerate(NUMERIC))
    logit = logit + sum((cols[c] == "v0") * 0.8 for c in CATEGORIES)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    pipe = sw.FeaturePipeline(
        {**{c: sw.StandardScale() for c in NUMERIC}, **{c: sw.OneHot() for c in CATEGORIES}}
    ).fit(table)
    model = LogisticRegression(max_iter=300).fit(pipe.transform(table), y)
    path = tmp_path_factory.mktemp("bundle") / "importance"
    save_bundle(path, python_model=model, pipeline=pipe, example=table.slice(0, 3))
    return {
        "bundle": load_bundle(path, trust_code=True),
        "sklearn": make_pipeline(pipe, model),
        "table": table,
        "frame": table.to_pandas(),
        "y": y,
    }


def test_importance_seawall(benchmark, importance_setup, medians):
    s = importance_setup
    result = benchmark.pedantic(
        lambda: permutation_importance(
            s["bundle"], s["table"], s["y"], n_repeats=5, random_state=0
        ),
        rounds=3,
        iterations=1,
    )
    assert len(result.features) == len(NUMERIC) + len(CATEGORIES)
    medians.record("importance_seawall", benchmark)


def test_importance_sklearn(benchmark, importance_setup, medians):
    s = importance_setup
    theirs = benchmark.pedantic(
        lambda: sk_permutation_importance(
            s["sklearn"], s["frame"], s["y"], scoring=PROBA_AUC, n_repeats=5, random_state=0
        ),
        rounds=1,
        iterations=1,
    )
    ours = permutation_importance(s["bundle"], s["table"], s["y"], n_repeats=5, random_state=0)
    columns = list(s["frame"].columns)
    for f in ours.features:
        assert f.mean == pytest.approx(
            theirs.importances_mean[columns.index(f.feature)], rel=1e-6, abs=1e-9
        )
    medians.record("importance_sklearn", benchmark)


def report(medians: dict[str, float]) -> list[str]:
    """The ratios against their targets (no timed asserts: the machine is shared)."""
    lines: list[str] = []
    if "slices_seawall" in medians and "slices_sklearn" in medians:
        ours, theirs = medians["slices_seawall"], medians["slices_sklearn"]
        lines.append(
            f"slices: {SLICE_ROWS:,} predictions x {SLICES} slices, {', '.join(METRICS)}: seawall "
            f"{ours:.3f} s, scikit-learn loop {theirs:.2f} s -> {theirs / ours:.1f}x  [target >= 20x]"
        )
        if "slices_seawall_float64" in medians:
            wide = medians["slices_seawall_float64"]
            lines.append(
                f"  scores that are no float32 values: seawall {wide:.3f} s -> {theirs / wide:.1f}x"
            )
    if "fairness_seawall" in medians and "fairness_fairlearn" in medians:
        ours, theirs = medians["fairness_seawall"], medians["fairness_fairlearn"]
        lines.append(
            f"fairness: {SLICE_ROWS:,} rows x {SLICES} groups: seawall {ours:.3f} s, Fairlearn "
            f"MetricFrame {theirs:.2f} s -> {theirs / ours:.1f}x  [target >= 10x]"
        )
    if "bootstrap_seawall" in medians:
        ours = medians["bootstrap_seawall"]
        line = (
            f"bootstrap: {RESAMPLES:,} resamples of ROC AUC on {BOOTSTRAP_ROWS:,} predictions: "
            f"seawall {ours:.2f} s  [target <= 2 s on 2 cores]"
        )
        if "bootstrap_sklearn_one" in medians:
            one = medians["bootstrap_sklearn_one"]
            line += f"; scikit-learn {one:.3f} s per resample -> {one * RESAMPLES:.0f} s for {RESAMPLES:,} ({one * RESAMPLES / ours:.0f}x)"
        lines.append(line)
    if "importance_seawall" in medians and "importance_sklearn" in medians:
        ours, theirs = medians["importance_seawall"], medians["importance_sklearn"]
        lines.append(
            f"permutation importance: {len(NUMERIC) + len(CATEGORIES)} columns x 5 repeats on "
            f"{IMPORTANCE_ROWS:,} rows through a bundle: seawall {ours:.2f} s, scikit-learn "
            f"{theirs:.2f} s -> {theirs / ours:.1f}x  [target >= 5x]"
        )
    if not lines:
        raise KeyError("no evaluation benchmark ran with timing on")
    return lines
