"""Evaluations in the registry, on SQLite and PostgreSQL: logged into a run (artifacts and
metrics), attached to a model version, read back whole; bad input."""

from __future__ import annotations

import numpy as np
import pytest
from registry_helpers import make_bundle

from seawall.errors import InvalidInputError, NotFoundError, RunClosedError
from seawall.evaluation import Evaluation, evaluate


def _evaluation(rng) -> Evaluation:
    s = np.round(rng.random(2_000), 2)
    y = (rng.random(2_000) < s).astype(int)
    return evaluate(s, {"g": rng.choice(["a", "b"], 2_000)}, y, slices=["g"], bootstrap=20, seed=1)


def test_an_evaluation_is_logged_into_a_run(reg, rng):
    ev = _evaluation(rng)
    with reg.start_run(experiment="fraud") as run:
        path = run.log_evaluation(ev, name="holdout")
    assert path == "evaluations/holdout.json"
    assert {a.path for a in run.artifacts} == {
        "evaluations/holdout.json",
        "evaluations/holdout.html",
    }
    assert Evaluation.from_json(run.read_artifact(path)).to_json() == ev.to_json()
    assert run.read_artifact("evaluations/holdout.html").startswith(b"<!DOCTYPE html>")
    fresh = reg.get_run(run.id)
    assert fresh.metrics["holdout.roc_auc"] == pytest.approx(ev["roc_auc"].value)
    assert fresh.metrics["holdout.log_loss"] == pytest.approx(ev["log_loss"].value)
    with pytest.raises(RunClosedError):
        run.log_evaluation(ev, name="again")
    with (
        reg.start_run(experiment="fraud") as other,
        pytest.raises(InvalidInputError, match="Evaluation"),
    ):
        other.log_evaluation({"roc_auc": 0.9})


def test_an_evaluation_is_attached_to_a_version_and_read_back(reg, tmp_path, rng):
    with reg.start_run(experiment="fraud") as train:
        train.log_metric("auc", 0.9)
    v1 = reg.register_model("fraud", make_bundle(tmp_path / "b1", seed=1), run=train)
    ev = _evaluation(rng)
    run_id = reg.attach_evaluation("fraud", v1.version, ev)
    evaluating = reg.get_run(run_id)
    assert evaluating.experiment == "fraud" and evaluating.status == "FINISHED"
    assert evaluating.tags["seawall.evaluates"] == "models:/fraud/1"
    back = reg.get_evaluation("fraud", 1)
    assert back.to_json() == ev.to_json()
    assert back.slice("g")[0]["roc_auc"] == ev.slice("g")[0]["roc_auc"]
    assert reg.list_evaluations("fraud", 1) == ["evaluation"]
    # another under the same name replaces the pointer; the first stays in its run
    second = _evaluation(rng)
    with reg.start_run(experiment="fraud") as mine:
        reg.attach_evaluation("models:/fraud/1", None, second, run=mine)
    assert reg.get_evaluation("fraud", 1).to_json() == second.to_json()
    assert (
        Evaluation.from_json(reg.read_artifact(run_id, "evaluations/evaluation.json")).to_json()
        == ev.to_json()
    )
    # a version without a run gets an "evaluations" experiment
    v2 = reg.register_model("fraud", make_bundle(tmp_path / "b2", seed=2))
    reg.attach_evaluation("fraud", v2.version, ev, name="shadow-traffic")
    assert reg.list_evaluations("fraud", 2) == ["shadow-traffic"]
    with pytest.raises(
        NotFoundError, match="has no evaluation 'evaluation' \\(it has: shadow-traffic\\)"
    ):
        reg.get_evaluation("fraud", 2)
    with pytest.raises(NotFoundError):
        reg.attach_evaluation("fraud", 9, ev)
    with pytest.raises(InvalidInputError, match="evaluation name"):
        reg.attach_evaluation("fraud", 1, ev, name="../x")
