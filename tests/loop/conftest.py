"""The loop tests' fixture: a registry in a temporary folder, a trainer, and a loop whose first
version is champion."""

from __future__ import annotations

import pytest
from loop_helpers import Trainer, auc, make_data

import seawall
from seawall.loop import ContinuousTraining, Policy


@pytest.fixture
def setup(tmp_path, rng):
    registry = seawall.Registry(f"sqlite:///{tmp_path / 'reg.db'}", artifacts=tmp_path / "art")
    trainer = Trainer(tmp_path)
    loop = ContinuousTraining(
        registry,
        "churn",
        train=trainer,
        score=auc,
        policy=Policy(drift_share=0.5),
        trust_code=True,
    )
    first = loop.bootstrap(make_data(rng, 4000, 0), labelled=make_data(rng, 2000, 0))
    assert first.action == "promoted" and first.challenger == 1
    yield registry, trainer, loop
    registry.close()
