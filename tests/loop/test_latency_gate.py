"""The loop's latency gate: a challenger is load-tested, served in-process on loopback with rows
of its training data, before it may become champion. A fast one passes and is promoted; one
whose every call sleeps longer than the p99 target fails, is never promoted (nor made
challenger), and the measured p99 against the target is in the decision, the loop's run and the
alias audit."""

from __future__ import annotations

import pytest
from loop_helpers import make_data

from seawall.errors import InvalidInputError
from seawall.loop import LatencyGate, Policy


def _gated(setup, gate: LatencyGate):
    registry, trainer, loop = setup
    loop.policy = Policy(drift_share=0.5, latency=gate)
    return registry, trainer, loop


def _drifted_check(loop, rng):
    return loop.check(make_data(rng, 3000, 1), labelled=make_data(rng, 2000, 1))


def test_a_fast_challenger_passes_and_is_promoted(setup, rng):
    gate = LatencyGate(p99_ms=1000, at_rps=40, duration_s=1.5)
    registry, _, loop = _gated(setup, gate)
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


def test_a_slow_challenger_fails_and_stays_unpromoted(setup, rng):
    # Every call sleeps 100 ms: no request can be answered within the 50 ms target.
    gate = LatencyGate(p99_ms=50, at_rps=20, duration_s=1.5)
    registry, trainer, loop = _gated(setup, gate)
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
