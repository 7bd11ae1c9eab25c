"""Dashboard test setup: a registry holding models, versions, aliases with their history, runs
with metric histories and an input dataset, and a monitor with a history of drift (the traffic
moves for a while, then comes back) and open alerts. The traffic generator and the uvicorn
runner are the monitoring tests' (tests/monitoring/monitoring_helpers.py)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest


def _helpers() -> Any:
    name = "monitoring_helpers"
    if name not in sys.modules:
        path = Path(__file__).parents[1] / "monitoring" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


helpers = _helpers()


@dataclass
class World:
    registry: Any
    monitor: Any
    run_id: str
    reference: Any
    arms: dict[str, Any]  # the traffic policy's figures sent with the last window's slice


def build_world(rng: np.random.Generator, folder: Path) -> World:
    from seawall.monitoring import Monitor, Rule
    from seawall.profiles import Profile
    from seawall.registry import Registry

    reg = Registry(folder / "registry.db", artifacts=folder / "artifacts")
    bundle = helpers.make_bundle(rng, folder / "bundle")
    train = helpers.traffic(rng, 8000)
    reference = Profile.from_data(train)
    with reg.start_run(experiment="fraud", name="train-v2") as run:
        run.log_params({"lr": 0.05, "depth": 6})
        run.log_batch([("auc", 0.7 + 0.01 * i, i) for i in range(25)])
        run.log_metric("logloss", 0.41)
        run.log_input(train, name="transactions", profile=reference)
    reg.register_model("fraud", bundle, description="card fraud <b>model</b>")
    reg.register_model("fraud", bundle, run=run, profile=reference)
    reg.set_alias("fraud", "champion", 1, reason="first")
    reg.set_alias("fraud", "champion", 2, reason="better AUC on May data")
    reg.set_alias("fraud", "challenger", 1)
    reg.set_model_tag("fraud", "team", "<risk>")
    reg.register_model("churn", bundle)
    for i in range(3):
        with reg.start_run(experiment="churn", name=f"sweep-{i}") as r:
            r.log_metric("auc", float(rng.random()))
    monitor = Monitor(
        "fraud",
        registry=reg,
        version="champion",
        window_s=600,
        task="classification",
        rules=[Rule.drifted("*"), Rule.drift_share(above=0.5, severity="critical")],
        background=False,
    )
    t0 = 1_790_000_000.0
    # 14 windows of 10-minute slices: the traffic moves in windows 6-9, and again from 12 on;
    # the last one is served by a canary and a shadow beside the primary
    arms = _arm_figures(rng)
    for i, s in enumerate(
        helpers.make_slices(
            rng,
            14,
            600.0,
            t0,
            shift_of=lambda i: 0.9 if 6 <= i < 10 or i >= 12 else 0.0,
            rows=(1500, 2000),
        )
    ):
        if i == 13:
            monitor.add_arms(s.start, s.end, arms)
        y = rng.integers(0, 2, 200)
        monitor.add_labels(y, np.where(rng.random(200) < 0.85, y, 1 - y), time=s.start + 1)
        monitor.add_slice(s.start, s.end, s.features, s.prediction_profile)
    return World(reg, monitor, run.id, reference, arms)


def _arm_figures(rng: np.random.Generator) -> dict[str, Any]:
    from seawall.serving.figures import ArmFigures

    out = {}
    for arm, version, n in (("primary", "2", 900), ("canary", "3", 100), ("shadow", "4", 880)):
        f = ArmFigures(version)
        for seconds in rng.lognormal(np.log(4e-3), 0.5, n):
            f.add_request(bool(rng.random() < 0.02), float(seconds))
        labels = rng.integers(0, 2, n)
        f.add_predictions({"label": labels, "proba": rng.random(n)})
        if arm == "shadow":
            f.add_agreement({"label": labels}, {"label": np.where(rng.random(n) < 0.9, labels, 1)})
            f.dropped = 20
        out[arm] = f
    return out


@pytest.fixture
def world(rng: np.random.Generator, tmp_path: Path) -> Iterator[World]:
    w = build_world(rng, tmp_path)
    yield w
    w.monitor.close()
    w.registry.close()
