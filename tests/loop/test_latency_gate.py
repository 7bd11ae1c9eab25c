"""The loop's latency gate: a challenger is load-tested, served in-process on loopback with rows
of its training data, before it may become champion. A fast one passes and is promoted; one
whose every call sleeps longer than the p99 target fails, is never promoted (nor made
challenger), and the measured p99 against the target is in the decision, the loop's run and the
alias audit."""

from __future__ import annotations

import pyarrow as pa
import pytest
from sklearn.linear_model import LogisticRegression
from test_loop import auc, make_data

import seawall
from seawall.errors import InvalidInputError
from seawall.loop import ContinuousTraining, LatencyGate, Policy
from seawall.serving import save_bundle
from slow_models import SlowClassifier


class Trainer:
    """Logistic regression behind a pipeline; `delay_s` > 0 makes every model call sleep."""

    def __init__(self, tmp_path) -> None:
        self.tmp_path = tmp_path
        self.calls = 0
        self.delay_s = 0.0

    def __call__(self, data: pa.Table, run) -> str:
        self.calls += 1
        features = data.drop_columns(["label"])
        pipeline = seawall.FeaturePipeline(
            {"x1": seawall.StandardScale(), "x2": seawall.StandardScale()}
        ).fit(features)
        model = LogisticRegression().fit(pipeline.transform(features), data["label"].to_numpy())
        served = SlowClassifier(model, self.delay_s) if self.delay_s else model
        path = self.tmp_path / f"bundle-{self.calls}"
        save_bundle(
            path, python_model=served, pipeline=pipeline, name="churn", example=features.slice(0, 5)
        )
        return str(path)


def _loop(tmp_path, rng, gate: LatencyGate):
    registry = seawall.Registry(f"sqlite:///{tmp_path / 'reg.db'}", artifacts=tmp_path / "art")
    trainer = Trainer(tmp_path)
    loop = ContinuousTraining(
        registry,
        "churn",
        train=trainer,
        score=auc,
        policy=Policy(drift_share=0.5, latency=gate),
        trust_code=True,
    )
    first = loop.bootstrap(make_data(rng, 3000, 0), labelled=make_data(rng, 1000, 0))
    assert first.action == "promoted"
    return registry, trainer, loop


def _drifted_check(loop, rng):
    return loop.check(make_data(rng, 3000, 1), labelled=make_data(rng, 2000, 1))


def test_a_fast_challenger_passes_and_is_promoted(tmp_path, rng):
    gate = LatencyGate(p99_ms=1000, at_rps=40, duration_s=1.5)
    registry, _, loop = _loop(tmp_path, rng, gate)
    decision = _drifted_check(loop, rng)
    assert decision.action == "promoted", decision
    figures = decision.details["latency"]
    assert figures["passed"] and figures["failed"] == 0 and figures["sent"] > 0
    assert 0 < figures["p50_ms"] <= figures["p99_ms"] <= 1000
    assert figures["target_p99_ms"] == 1000 and figures["at_rps"] == 40
    # Recorded: the loop's run, the version's tag, the alias moves' reasons.
    run = registry.get_run(decision.run_id)
    assert run.metrics["latency_p99_ms"] == pytest.approx(figures["p99_ms"])
    assert run.metrics["latency_failed"] == 0 and run.tags["loop.latency"] == "passed"
    version = registry.get_model_version("churn", decision.challenger)
    assert version.tags["loop.latency"].startswith("passed: latency gate passed: p99")
    champion_move = registry.alias_history("churn", "champion")[-1]
    assert champion_move.version == decision.challenger
    assert f"latency gate passed: p99 {figures['p99_ms']:.3g} ms at 40 rps" in champion_move.reason
    assert "latency gate passed" in registry.alias_history("churn", "challenger")[-1].reason


def test_a_slow_challenger_fails_and_stays_unpromoted(tmp_path, rng):
    # Every call sleeps 100 ms: no request can be answered within the 50 ms target.
    gate = LatencyGate(p99_ms=50, at_rps=20, duration_s=1.5)
    registry, trainer, loop = _loop(tmp_path, rng, gate)
    trainer.delay_s = 0.1
    challengers_before = registry.alias_history("churn", "challenger")
    decision = _drifted_check(loop, rng)
    assert decision.action == "kept", decision
    assert decision.challenger == 2 and decision.challenger_score is None  # never scored
    figures = decision.details["latency"]
    assert not figures["passed"] and figures["p99_ms"] >= 100 * (1 - 1 / 128)
    reason = f"p99 {figures['p99_ms']:.3g} ms at 20 rps, over the 50 ms target"
    assert reason in decision.reason
    # Never champion, never challenger (a canary following it would serve it): only rejected.
    assert registry.resolve("models:/churn@champion").version == 1
    assert registry.alias_history("churn", "challenger") == challengers_before
    rejected = registry.alias_history("churn", "rejected")
    assert [e.version for e in rejected] == [2] and reason in rejected[0].reason
    run = registry.get_run(decision.run_id)
    assert run.metrics["latency_p99_ms"] == pytest.approx(figures["p99_ms"])
    assert run.tags["loop.latency"] == "failed"
    assert loop.history()[0].details["latency"] == figures


def test_the_gate_judges_errors_and_the_p99():
    gate = LatencyGate(p99_ms=10, at_rps=100)
    assert gate.judge(p99_ms=10, sent=1000, failed=0) == (
        True,
        "latency gate passed: p99 10 ms at 100 rps (target 10 ms)",
    )
    failed, why = gate.judge(p99_ms=5, sent=1000, failed=3)
    assert not failed and why == "latency gate: 3 of 1000 requests failed at 100 rps"
    slow, why = gate.judge(p99_ms=12.5, sent=1000, failed=0)
    assert not slow and why == "latency gate: p99 12.5 ms at 100 rps, over the 10 ms target"
    assert not gate.judge(p99_ms=0, sent=0, failed=0)[0]  # nothing measured passes nothing


@pytest.mark.parametrize(
    "kwargs",
    [
        {"p99_ms": 0, "at_rps": 10},
        {"p99_ms": 5, "at_rps": -1},
        {"p99_ms": float("nan"), "at_rps": 10},
        {"p99_ms": 5, "at_rps": 10, "duration_s": 0},
        {"p99_ms": None, "at_rps": 10},
    ],
)
def test_bad_gates(kwargs):
    with pytest.raises(InvalidInputError):
        LatencyGate(**kwargs)


def test_policy_takes_only_a_gate():
    with pytest.raises(InvalidInputError, match="LatencyGate"):
        Policy(latency={"p99_ms": 5})  # type: ignore[arg-type]
    assert Policy(latency=LatencyGate(5, 10)).latency == LatencyGate(p99_ms=5, at_rps=10)
