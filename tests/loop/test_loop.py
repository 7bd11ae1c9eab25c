"""The continuous-training loop against a real registry (SQLite in a temporary folder) and real
bundles: drift -> retrain -> promote; no drift -> nothing; a worse challenger -> kept; a failing
training run -> champion unchanged. Scores are checked against scikit-learn's roc_auc_score on
the bundles' own predictions."""

from __future__ import annotations

import pyarrow as pa
import pytest
from loop_helpers import auc, make_data
from sklearn.metrics import roc_auc_score

import seawall
from seawall.errors import InvalidInputError, MissingColumnError, NotFoundError
from seawall.loop import ContinuousTraining, Policy
from seawall.serving import load_bundle


def oracle_auc(registry, version: int, window: pa.Table) -> float:
    bundle = load_bundle(registry.bundle_path(f"models:/churn/{version}"), trust_code=True)
    proba = bundle.predict(window.drop_columns(["label"]))["predict_proba"][:, 1]
    return float(roc_auc_score(window.column("label").to_numpy(), proba))


def champion(registry) -> int:
    return registry.resolve("models:/churn@champion").version


def test_drift_retrains_and_promotes(setup, rng):
    registry, trainer, loop = setup
    traffic = make_data(rng, 3000, 1)
    window = make_data(rng, 2000, 1)
    decision = loop.check(
        seawall.Profile.from_data(traffic.drop_columns(["label"])),
        labelled=window,
        training_data=make_data(rng, 4000, 1),
    )
    assert "drift" in decision.triggers and "x1" in decision.drifted_features
    assert decision.action == "promoted", decision
    assert trainer.calls == 2 and champion(registry) == decision.challenger == 2
    assert decision.champion_score == pytest.approx(oracle_auc(registry, 1, window), rel=1e-12)
    assert decision.challenger_score == pytest.approx(oracle_auc(registry, 2, window), rel=1e-12)
    assert decision.challenger_score > decision.champion_score
    # The alias move is audited with its reason; the decision is recorded in the registry.
    moves = registry.alias_history("churn", "champion")
    assert [m.version for m in moves][-1] == 2 and "drift" in (moves[-1].reason or "")
    history = loop.history()
    assert [d.action for d in history] == ["promoted", "promoted"]
    assert history[0] == decision
    # The new champion's reference profile is its own training data's.
    assert registry.reference_profile("models:/churn@champion").stats("x1")["mean"] > 1.5


def test_no_drift_does_nothing(setup, rng):
    registry, trainer, loop = setup
    decision = loop.check(
        make_data(rng, 3000, 0).drop_columns(["label"]), labelled=make_data(rng, 2000, 0)
    )
    assert decision.action == "none" and decision.triggers == ()
    assert decision.drift_share is not None and decision.drift_share < 0.5
    assert trainer.calls == 1 and champion(registry) == 1
    assert len(registry.list_versions("churn")) == 1
    assert loop.history()[0].action == "none"


def test_worse_challenger_is_not_promoted(setup, rng):
    registry, trainer, loop = setup
    trainer.mode = "bad"
    window = make_data(rng, 2000, 1)
    decision = loop.check(make_data(rng, 3000, 1), labelled=window)
    assert decision.action == "kept", decision
    assert champion(registry) == 1
    assert registry.resolve("models:/churn@challenger").version == 2
    # What the loop compared is what scikit-learn says of the two bundles on the window.
    c1, c2 = oracle_auc(registry, 1, window), oracle_auc(registry, 2, window)
    assert (decision.champion_score, decision.challenger_score) == pytest.approx((c1, c2))
    assert not c2 > c1 + loop.policy.margin


def test_failing_training_leaves_the_champion(setup, rng):
    registry, trainer, loop = setup
    trainer.mode = "fail"
    before = registry.alias_history("churn")
    decision = loop.check(make_data(rng, 3000, 1), labelled=make_data(rng, 2000, 1))
    assert decision.action == "failed" and "on fire" in (decision.error or "")
    assert champion(registry) == 1 and len(registry.list_versions("churn")) == 1
    assert registry.alias_history("churn") == before
    failed_runs = registry.search_runs("churn.training", filter="attributes.status = 'FAILED'")
    assert len(failed_runs) == 1
    assert loop.history()[0].error == decision.error


def test_quality_schedule_and_new_data_triggers(setup, rng):
    registry, _, loop = setup
    created = registry.resolve("models:/churn@champion").created_at
    loop.policy = Policy(drift_share=None, quality_drop=0.05, every_s=3600, min_new_rows=500)
    calm = loop.check(labelled=make_data(rng, 2000, 0), new_rows=10, now=created + 60)
    assert calm.action == "none", calm
    # Concept drift only (labels change, x1 barely moves): the quality trigger sees it.
    window = make_data(rng, 2000, 1)
    quality = loop.check(labelled=window, now=created + 60)
    assert "quality" in quality.triggers and quality.action == "promoted"
    assert quality.details["promoted_score"] - quality.champion_score > 0.05
    later = registry.resolve("models:/churn@champion").created_at
    both = loop.check(labelled=make_data(rng, 2000, 1), new_rows=500, now=later + 3600)
    assert set(both.triggers) == {"schedule", "new_data"}


def test_bad_use_is_a_clear_error(setup, rng, tmp_path):
    registry, _, loop = setup
    with pytest.raises(InvalidInputError, match="already has"):
        loop.bootstrap(make_data(rng, 100, 0))
    with pytest.raises(MissingColumnError, match="none of the columns"):
        loop.check({"other": [1.0, 2.0]})
    with pytest.raises(InvalidInputError, match="drift_share"):
        Policy(drift_share=1.5)
    with pytest.raises(InvalidInputError, match="min_new_rows"):
        Policy(min_new_rows=0)
    other = ContinuousTraining(registry, "nobody", train=loop.train, score=auc)
    with pytest.raises(NotFoundError, match="bootstrap"):
        other.check()
    nothing = loop.check(make_data(rng, 3000, 1).drop_columns(["label"]))
    assert nothing.action == "failed" and "nothing to train on" in (nothing.error or "")
