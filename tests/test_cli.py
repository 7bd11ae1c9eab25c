"""The `seawall` command line: `info` reports build_info, `demo` runs its checks end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

import seawall
from seawall.cli import main
from seawall.demo import fraud_pipeline, transactions


def test_info_prints_build_info():
    result = CliRunner().invoke(main, ["info"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == seawall.build_info()


def test_demo_runs_the_whole_loop(tmp_path):
    result = CliRunner().invoke(main, ["demo", "--rows", "20000", "--folder", str(tmp_path), "-q"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "drift share 0.00 -> none" in out  # steady traffic: the loop does nothing
    assert "the loop: promoted" in out and "serves version 2" in out
    assert "none dropped" in out
    assert out.strip().endswith("demo finished")
    (run_folder,) = tmp_path.iterdir()
    html = (run_folder / "drift-report.html").read_text(encoding="utf-8")
    assert "Dataset drift detected" in html
    # The registry the demo leaves behind tells the same story.
    with seawall.Registry(
        f"sqlite:///{run_folder / 'registry.db'}", artifacts=run_folder / "artifacts"
    ) as reg:
        assert reg.resolve("models:/fraud@champion").version == 2
        (move,) = [m for m in reg.alias_history("fraud", "champion") if m.version == 2]
        assert "drift" in (move.reason or "")


def test_demo_rejects_too_few_rows():
    result = CliRunner().invoke(main, ["demo", "--rows", "10"])
    assert result.exit_code == 2
    assert "at least 5,000 rows" in result.output


def test_demo_data_has_what_the_pipeline_exercises(seed):
    """The generated stream has missing amounts and countries and a long tail of merchants,
    so imputation and infrequent grouping really run in the demo; its shift moves the amounts
    and the fraud rate."""
    table = transactions(20_000, seed=seed % 2**32)
    amount = table.column("amount").to_numpy(zero_copy_only=False)
    assert 0.005 < np.isnan(amount).mean() < 0.05
    assert 0 < table.column("country").null_count < 1_000
    pipe = fraud_pipeline().fit(table)
    onehot = next(f for f in pipe.features_ if f.column == "merchant").ops[-1]
    assert onehot.infrequent_, "some merchants should fall under min_frequency"
    X = pipe.transform(table)
    assert X.shape == (20_000, len(pipe.feature_names_out_))
    assert np.isfinite(X).all()
    shifted = transactions(20_000, seed=seed % 2**32 + 1, regime=1)
    assert np.nanmedian(
        shifted.column("amount").to_numpy(zero_copy_only=False)
    ) > 1.5 * np.nanmedian(amount)


def test_demo_model_matches_scikit_learn(rng):
    """The demo's numpy logistic regression and AUC against scikit-learn's."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    from seawall.demo.fraud_model import LogisticModel, roc_auc

    X = rng.normal(size=(3000, 5))
    y = (X @ rng.normal(size=5) + rng.normal(size=3000) > 0).astype(int)
    ours = LogisticModel(l2=1.0, steps=50).fit(X, y)
    # scikit-learn's C is the inverse of the L2 weight on 0.5 * ||w||^2 (ours: the same form)
    theirs = LogisticRegression(C=1.0, tol=1e-10, max_iter=1000).fit(X, y)
    np.testing.assert_allclose(ours.coef_, theirs.coef_[0], rtol=1e-4, atol=1e-6)
    p = ours.predict_proba(X)[:, 1]
    np.testing.assert_allclose(p, theirs.predict_proba(X)[:, 1], rtol=1e-4, atol=1e-7)
    ties = np.round(p, 1)  # many ties: the rank formula must average them
    assert roc_auc(y, ties) == pytest.approx(roc_auc_score(y, ties), rel=1e-12)
