"""The `seawall` command line: `info` reports build_info, `demo` runs its checks end to end."""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner

import seawall
from seawall.cli import main
from seawall.demo import build_pipeline, generate_transactions


def test_info_prints_build_info():
    result = CliRunner().invoke(main, ["info"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == seawall.build_info()


def test_demo_runs_its_checks():
    result = CliRunner().invoke(main, ["demo", "--rows", "5000"])
    assert result.exit_code == 0, result.output
    assert "bit-identical to the batch path" in result.output
    assert "same numbers" in result.output
    assert result.output.strip().endswith("demo finished")


def test_demo_rejects_too_few_rows():
    result = CliRunner().invoke(main, ["demo", "--rows", "10"])
    assert result.exit_code == 2
    assert "at least 2,000 rows" in result.output


def test_demo_data_has_what_the_pipeline_exercises(seed):
    """The generated stream has missing amounts and countries and a long tail of merchants,
    so imputation and infrequent grouping really run in the demo."""
    table = generate_transactions(20_000, seed=seed % 2**32)
    amount = table.column("amount").to_numpy(zero_copy_only=False)
    assert 0.005 < np.isnan(amount).mean() < 0.05
    assert 0 < table.column("country").null_count < 1_000
    pipe = build_pipeline().fit(table)
    onehot = next(f for f in pipe.features_ if f.column == "merchant").ops[-1]
    assert onehot.infrequent_, "some merchants should fall under min_frequency"
    X = pipe.transform(table)
    assert X.shape == (20_000, len(pipe.feature_names_out_))
    assert np.isfinite(X).all()
