"""The loop tests' fixture: a registry in a temporary folder (opened directly, and through a
registry server on loopback), a trainer, and a loop whose first version is champion."""

from __future__ import annotations

import pytest
from loop_helpers import Trainer, auc, make_data

import seawall
from local_servers import registry_server
from seawall.loop import ContinuousTraining, Policy


@pytest.fixture(params=["local", "http"])
def registry(request, tmp_path):
    if request.param == "http":
        with registry_server(tmp_path / "server") as (url, _):
            yield seawall.Registry(url)
        return
    yield seawall.Registry(f"sqlite:///{tmp_path / 'reg.db'}", artifacts=tmp_path / "art")


@pytest.fixture
def setup(tmp_path, rng, registry):
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
