"""Rollback and promotion rules: parsing, the per-arm figures against numpy, and real servers
whose challenger fails (errors, or 3x latency), is promoted, or is rolled back with requests in
flight. Evaluations are called by hand (a rollout with a long interval) where the test counts
them, and by the rollout's own thread where it times them."""

from __future__ import annotations

import threading
import time

import httpx
import numpy as np
import pytest
from serving_helpers import running
from traffic_models import BROKEN, DELAY, GATES, mixed_bodies, registry_of, send_all

from seawall.errors import InvalidInputError
from seawall.serving import TrafficPolicy, create_app
from seawall.serving.figures import ArmFigures
from seawall.serving.rollout import ArmRule, parse_after, parse_rules

# --- rules -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("p99>2x", ArmRule("p99", ">", 2.0, relative=True)),
        ("p99 > 250ms", ArmRule("p99", ">", 0.25)),
        ("p50<=40us", ArmRule("p50", "<=", 40e-6)),
        ("p90>=0.5s", ArmRule("p90", ">=", 0.5)),
        ("errors>1%", ArmRule("errors", ">", 0.01)),
        ("errors>3x", ArmRule("errors", ">", 3.0, relative=True)),
        ("agreement<0.9", ArmRule("agreement", "<", 0.9)),
        ("agreement<90%", ArmRule("agreement", "<", 0.9)),
        ("shadow.mad>0.05", ArmRule("mad", ">", 0.05, arm="shadow")),
        ("canary.p99>1.5x", ArmRule("p99", ">", 1.5, relative=True, arm="canary")),
    ],
)
def test_rules_read_as_written_and_print_back(text, rule):
    parsed = ArmRule.parse(text)
    assert parsed.metric == rule.metric and parsed.op == rule.op
    assert parsed.relative == rule.relative and parsed.arm == rule.arm
    assert parsed.threshold == pytest.approx(rule.threshold, rel=1e-12)
    again = ArmRule.parse(str(parsed))
    assert (again.metric, again.op, again.relative, again.arm) == (
        parsed.metric,
        parsed.op,
        parsed.relative,
        parsed.arm,
    )
    assert again.threshold == pytest.approx(parsed.threshold, rel=1e-12)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("p99>2%", "% applies"),
        ("errors>5ms", "time unit"),
        ("agreement<2x", "not a multiple"),
        ("latency>1", "unknown rule metric"),
        ("canary.agreement<0.9", "only a shadow"),
        ("p99>-1", "cannot read"),
        ("p99", "cannot read"),
        ("", "cannot read"),
    ],
)
def test_bad_rules_are_clear_errors(text, match):
    with pytest.raises(InvalidInputError, match=match):
        ArmRule.parse(text)


def test_rule_lists_and_delays():
    assert parse_rules("p99>2x, errors>1%,") == (
        ArmRule("p99", ">", 2.0, True),
        ArmRule("errors", ">", 0.01),
    )
    assert parse_rules([ArmRule("mad", ">", 0.1), "agreement<0.8"])[1].metric == "agreement"
    assert parse_after("1000") == (1000, None)
    assert parse_after("250 requests") == (250, None)
    assert parse_after("30s") == (None, 30.0)
    assert parse_after("5m") == (None, 300.0)
    for bad in ("soon", "-3", "1.5 requests", "0s"):
        with pytest.raises(InvalidInputError):
            parse_after(bad)


# --- figures ---------------------------------------------------------------------------------


def test_latency_quantiles_are_numpys_within_two_per_cent(rng):
    seconds = rng.lognormal(np.log(2e-3), 1.0, int(rng.integers(50, 5000)))
    parts = [ArmFigures("7") for _ in range(3)]
    for i, s in enumerate(seconds):
        parts[i % 3].add_request(bool(i % 11 == 0), float(s))
    whole = ArmFigures().merge(parts[0]).merge(parts[1]).merge(parts[2])
    assert whole.requests == len(seconds)
    assert whole.errors == len(range(0, len(seconds), 11))
    for q in (0.5, 0.9, 0.99):
        exact = np.quantile(seconds, q, method="inverted_cdf")
        assert whole.quantile(q) == pytest.approx(exact, rel=0.021)
    assert whole.summary()["latency_s"]["mean"] == pytest.approx(seconds.mean(), rel=1e-9)
    assert ArmFigures().quantile(0.5) is None
    assert ArmFigures().summary()["error_rate"] is None


def test_prediction_figures_and_agreement_are_numpys(rng):
    n = int(rng.integers(1, 300))
    a_cls, b_cls = rng.integers(0, 3, n), rng.integers(0, 3, n)
    a_p, b_p = rng.dirichlet([1, 1, 1], n), rng.dirichlet([1, 1, 1], n)
    b_p[rng.random(n) < 0.1] = np.nan  # a score the model could not give
    f = ArmFigures()
    for lo in range(0, n, 7):  # requests of up to 7 rows
        hi = min(n, lo + 7)
        f.add_predictions({"predict": a_cls[lo:hi], "proba": a_p[lo:hi]})
        f.add_agreement(
            {"predict": a_cls[lo:hi], "proba": a_p[lo:hi]},
            {"predict": b_cls[lo:hi], "proba": b_p[lo:hi]},
        )
    summary = f.summary()
    shares = {str(k): float(np.mean(a_cls == k)) for k in np.unique(a_cls)}
    assert summary["classes"] == pytest.approx(shares)
    scores = a_p.max(axis=1)  # more than two classes: the largest probability
    assert summary["score"]["mean"] == pytest.approx(scores.mean(), rel=1e-12)
    assert summary["score"]["std"] == pytest.approx(scores.std(), rel=1e-6, abs=1e-12)
    assert summary["agreement"] == pytest.approx(float(np.mean(a_cls == b_cls)), abs=1e-15)
    diff = np.abs(a_p - b_p)
    assert summary["score_mad"] == pytest.approx(float(np.nanmean(diff)), rel=1e-12)
    g = ArmFigures()
    g.add_agreement({"predict": a_cls}, {"predict": b_cls[:0]})  # outputs of other shapes
    assert g.incomparable == 1 and g.agreement is None


# --- on a server -----------------------------------------------------------------------------


@pytest.fixture
def versions(tmp_path, rng):
    reg, _ = registry_of(tmp_path, rng, [0.0, 0.5], {"champion": 1, "challenger": 2})
    yield reg
    reg.close()
    BROKEN.clear()
    DELAY.clear()
    GATES.clear()


def app_with(reg, policy, watch_interval_s=None):
    return create_app(
        "models:/fraud@champion",
        registry=reg,
        trust_code=True,
        traffic=policy,
        watch_interval_s=watch_interval_s,
    )


def last_event(reg, alias):
    return reg.alias_history("fraud", alias)[-1]


def test_a_challenger_that_starts_failing_is_rolled_back_within_two_evaluations(versions, rng):
    reg = versions
    policy = TrafficPolicy(
        "models:/fraud@challenger",
        50,
        rollback_if="p90>5x,errors>5%",
        interval_s=3600,  # evaluated by hand below
        min_requests=10,
    )
    app = app_with(reg, policy)
    rollout = app.state.seawall.traffic["fraud"].rollout
    statuses = []
    with running(app) as url:
        for _ in range(3):  # healthy: nothing happens
            answers = send_all(url, mixed_bodies(rng, 40), clients=4)
            assert rollout.evaluate_now() is None
            statuses += [s for s, *_ in answers.items]
        BROKEN.add(2)  # the challenger starts failing
        decided = None
        for _ in range(2):
            answers = send_all(url, mixed_bodies(rng, 40), clients=4)
            failed = [(s, a, v) for s, a, v, _, _ in answers.items if s != 200]
            assert failed and set(failed) == {(500, "canary", "2")}  # the canary's answers
            decided = rollout.evaluate_now()
            if decided is not None:
                break
        assert decided is not None and decided.action == "rollback"
        after = send_all(url, mixed_bodies(rng, 40), clients=4)
        metrics = httpx.get(url + "/metrics").text
    app.state.seawall.close()
    assert set(statuses) == {200}
    assert [(s, a) for s, a, *_ in after.items] == [(200, "primary")] * 40
    after.check_attribution()
    event = last_event(reg, "challenger")
    assert (event.version, event.previous_version) == (1, 2)
    assert "rollback of the canary (v2)" in event.reason and "errors" in event.reason
    assert reg.resolve("models:/fraud@challenger").version == 1
    assert decided.moved and decided.to_version == "1" and rollout.state == "rolled_back"
    assert 'seawall_traffic_rollouts_total{action="rollback",model="fraud"} 1.0' in metrics


def test_a_three_times_slower_challenger_is_rolled_back(versions, rng):
    reg = versions
    policy = TrafficPolicy(
        "models:/fraud@challenger", 50, rollback_if="p90>2x", interval_s=3600, min_requests=20
    )
    app = app_with(reg, policy)
    rollout = app.state.seawall.traffic["fraud"].rollout
    DELAY[1] = DELAY[2] = 0.01  # per model method: 20 ms a batch each
    with running(app) as url:
        send_all(url, mixed_bodies(rng, 50), clients=1)
        assert rollout.evaluate_now() is None  # as fast as the primary: kept
        DELAY[2] = 0.03  # three times slower
        decided = None
        for _ in (1, 2):
            send_all(url, mixed_bodies(rng, 50), clients=1)
            decided = rollout.evaluate_now()
            if decided is not None:
                break
    app.state.seawall.close()
    assert decided is not None and decided.action == "rollback"
    assert "p90" in decided.reason and "2 x the primary's" in decided.reason
    assert reg.resolve("models:/fraud@challenger").version == 1


def test_a_rollback_with_requests_in_flight_drops_and_misattributes_nothing(versions, rng):
    reg = versions
    policy = TrafficPolicy(
        "models:/fraud@challenger", 50, rollback_if="p50>3x", interval_s=3600, min_requests=10
    )
    app = app_with(reg, policy, watch_interval_s=0.05)
    router = app.state.seawall.traffic["fraud"]
    DELAY[2] = 0.02  # slow enough to be rolled back
    with running(app) as url:
        send_all(url, mixed_bodies(rng, 60), clients=4)
        gate = GATES[2] = threading.Event()  # the canary's next batches wait: in flight
        results = []
        clients = threading.Thread(
            target=lambda: results.append(send_all(url, mixed_bodies(rng, 80), clients=8))
        )
        clients.start()
        canary = router.served("canary")
        waiting = lambda: canary.batcher.stats()["running"] + canary.batcher.stats()["queued"]  # noqa: E731
        deadline = time.monotonic() + 60
        while waiting() == 0 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert waiting() > 0
        decided = router.rollout.evaluate_now()  # rolled back while they wait
        assert decided is not None and decided.action == "rollback"
        gate.set()
        clients.join()
        deadline = time.monotonic() + 60
        while router.version_of("canary") != "1" and time.monotonic() < deadline:
            time.sleep(0.01)  # the canary's alias moved: it follows
    app.state.seawall.close()
    (answers,) = results
    assert [s for s, *_ in answers.items] == [200] * 80
    answers.check_attribution()
    on_canary = [(a, v) for _, a, v, _, _ in answers.items if a == "canary"]
    assert on_canary and set(on_canary) == {("canary", "2")}  # finished on what they went to
    assert router.version_of("canary") == "1" and router.share == 0


def test_a_healthy_challenger_is_promoted_and_becomes_the_primary(versions, rng):
    reg = versions
    policy = TrafficPolicy(
        "models:/fraud@challenger",
        50,
        rollback_if="errors>5%",
        promote_if="errors<1%,p90<50x",
        promote_after=30,
        interval_s=3600,
        min_requests=10,
    )
    app = app_with(reg, policy, watch_interval_s=0.05)
    router = app.state.seawall.traffic["fraud"]
    with running(app) as url:
        decided = None
        for _ in range(6):
            send_all(url, mixed_bodies(rng, 40), clients=4)
            decided = router.rollout.evaluate_now()
            if decided is not None:
                break
        assert decided is not None and decided.action == "promotion"
        deadline = time.monotonic() + 60
        while router.version_of("primary") != "2" and time.monotonic() < deadline:
            time.sleep(0.01)  # the champion alias moved: the primary follows
        after = send_all(url, mixed_bodies(rng, 30), clients=4)
    app.state.seawall.close()
    event = last_event(reg, "champion")
    assert (event.version, event.previous_version) == (2, 1)
    assert "promotion of the canary (v2)" in event.reason and "errors" in event.reason
    assert router.share == 0 and router.rollout.state == "promoted"
    assert {(a, v) for _, a, v, _, _ in after.items} == {("primary", "2")}
    after.check_attribution()


def test_promotion_after_a_time(versions, rng):
    reg = versions
    policy = TrafficPolicy(
        "models:/fraud@challenger", 50, promote_after="10m", interval_s=3600, min_requests=5
    )
    app = app_with(reg, policy)
    rollout = app.state.seawall.traffic["fraud"].rollout
    now = [0.0]
    rollout.clock = lambda: now[0]
    rollout.restart()
    with running(app) as url:
        send_all(url, mixed_bodies(rng, 20), clients=2)
        now[0] = 599.0
        assert rollout.evaluate_now() is None
        now[0] = 600.0
        decided = rollout.evaluate_now()
    app.state.seawall.close()
    assert decided is not None and decided.action == "promotion"
    assert "after 600 s" in decided.reason
    assert reg.resolve("models:/fraud@champion").version == 2


def test_an_alias_the_registry_refuses_is_moved_at_a_later_evaluation(versions, rng, monkeypatch):
    reg = versions
    policy = TrafficPolicy(
        "models:/fraud@challenger", 50, rollback_if="errors>5%", interval_s=3600, min_requests=5
    )
    app = app_with(reg, policy)
    router = app.state.seawall.traffic["fraud"]
    real = reg.set_alias
    refusals = [1]

    def flaky(*args, **kwargs):
        if refusals[0]:
            refusals[0] -= 1
            raise OSError("the database is down")
        return real(*args, **kwargs)

    monkeypatch.setattr(reg, "set_alias", flaky)
    BROKEN.add(2)
    with running(app) as url:
        send_all(url, mixed_bodies(rng, 40), clients=4)
        decided = router.rollout.evaluate_now()
        assert decided is not None and not decided.moved
        assert router.share == 0  # this server stopped at once
        assert reg.resolve("models:/fraud@challenger").version == 2
        assert router.rollout.evaluate_now() is None
    app.state.seawall.close()
    assert reg.resolve("models:/fraud@challenger").version == 1
    assert [e.moved for e in router.rollout.events] == [True]


def test_the_rollout_thread_rolls_back_within_two_intervals(versions, rng):
    """With the rollout's own thread: once the clients have seen enough failed canary answers
    for a window, at most two more evaluations pass before the rollback."""
    reg = versions
    policy = TrafficPolicy(
        "models:/fraud@challenger", 50, rollback_if="errors>5%", interval_s=0.2, min_requests=10
    )
    app = app_with(reg, policy)
    router = app.state.seawall.traffic["fraud"]
    rollout = router.rollout
    BROKEN.add(2)
    seen_at = None
    failed = 0
    with running(app) as url, httpx.Client(base_url=url) as client:
        for endpoint, body in mixed_bodies(rng, 2000):
            path = "/v1/models/fraud/predict" if endpoint == "v1" else "/v2/models/fraud/infer"
            r = client.post(path, json=body)
            failed += r.status_code == 500
            if seen_at is None and failed >= 10:
                seen_at = rollout.evaluations
            if rollout.events:
                break
    app.state.seawall.close()
    assert seen_at is not None and rollout.events
    rolled_back_at = rollout.events[0].evaluation
    assert rolled_back_at - seen_at <= 2, (seen_at, rolled_back_at)
    assert rollout.events[0].action == "rollback"
