"""The `seawall` command line: `info` reports build_info, `demo` runs its checks end to end."""

from __future__ import annotations

import json
import shlex

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


def test_demo_runs_the_whole_loop(tmp_path, cli_app):
    folder = tmp_path / "not" / "there"  # an output folder: created with its parents
    result = CliRunner().invoke(main, ["demo", "--rows", "20000", "--folder", str(folder), "-q"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "drift share 0.00 -> none" in out  # steady traffic: the loop does nothing
    assert "the loop: canary" in out and "serves version 2" in out
    assert "none dropped" in out
    # The challenger went through a shadow phase, then a canary, whose rules promoted it.
    assert "shadow phase:" in out and "no client saw it" in out
    shadow = next(
        line for line in out.splitlines() if line.strip().startswith("shadow (version 2)")
    )
    assert "agrees with the primary on" in shadow and ", 0 errors" in shadow
    assert "canary phase: 20% of requests to challenger 2" in out
    assert "promotion of the canary (v2)" in out
    assert any(line.strip().startswith("canary (version 2)") for line in out.splitlines())
    assert out.strip().endswith("demo finished")
    (run_folder,) = folder.iterdir()
    html = (run_folder / "drift-report.html").read_text(encoding="utf-8")
    assert "Dataset drift detected" in html
    # The registry the demo leaves behind tells the same story.
    with seawall.Registry(
        f"sqlite:///{run_folder / 'registry.db'}", artifacts=run_folder / "artifacts"
    ) as reg:
        assert reg.resolve("models:/fraud@champion").version == 2
        (move,) = [m for m in reg.alias_history("fraud", "challenger") if m.version == 2]
        assert "drift" in (move.reason or "")  # the loop's: why it retrained
        (move,) = [m for m in reg.alias_history("fraud", "champion") if m.version == 2]
        assert "promotion of the canary" in (move.reason or "")  # the canary's: why it won
    # The commands it ends with open that registry again: the dashboard, whose feature pages
    # show the reference profile (from the demo's artifacts), and the model server.
    import httpx

    from seawall.serving import serve_in_thread

    ui = next(line for line in out.splitlines() if " seawall ui " in line)
    app, _ = cli_app(shlex.split(ui.split(" seawall ", 1)[1]))
    with serve_in_thread(app) as url:
        page = httpx.get(f"{url}/models/fraud/features/amount", timeout=60)
        assert page.status_code == 200
        assert "amount distribution" in page.text and "not available" not in page.text
    serve = next(line for line in out.splitlines() if " seawall serve " in line)
    app, _ = cli_app(shlex.split(serve.split(" seawall ", 1)[1]))
    with serve_in_thread(app) as url:
        assert httpx.get(f"{url}/v2/models/fraud", timeout=60).json()["versions"] == ["2"]
        assert "/ui/models/fraud" in httpx.get(f"{url}/ui/", timeout=60).text


def test_demo_says_in_one_line_when_its_folder_cannot_be_made(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = CliRunner().invoke(main, ["demo", "--rows", "5000", "--folder", f"{blocker}/out"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: cannot create the demo folder {blocker}/out: Not a directory"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


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


def test_every_option_and_command_has_a_help_text():
    import click

    missing = []

    def walk(command: click.Command, path: str) -> None:
        if not (command.help or "").strip():
            missing.append(path)
        for param in command.get_params(click.Context(command)):
            if isinstance(param, click.Option) and not (param.help or "").strip():
                missing.append(f"{path} {max(param.opts, key=len)}")
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {name}")

    walk(main, "seawall")
    assert missing == []


def test_models_lineage_without_a_version_says_how_to_name_one(tmp_path):
    seawall.Registry(tmp_path / "r.db", artifacts=tmp_path / "a").close()
    result = CliRunner().invoke(
        main, ["models", "lineage", "fraud", "--registry", str(tmp_path / "r.db")]
    )
    assert result.exit_code == 2
    assert "seawall models lineage fraud champion" in result.output
    assert "(" + repr("fraud") not in result.output  # no Python tuples
