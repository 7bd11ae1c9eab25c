"""``Policy(canary=True)``: the loop leaves a winning challenger on the ``challenger`` alias,
and a real server's traffic policy (a canary following that alias, with promotion rules)
promotes it on live traffic: the champion alias moves, with the rule in the alias audit, and
the server hot-swaps its primary to it."""

from __future__ import annotations

import time

import httpx
import pytest
from loop_helpers import make_data

import seawall
from seawall.errors import InvalidInputError
from seawall.loop import ContinuousTraining, Policy
from seawall.serving import TrafficPolicy, create_app, serve_in_thread


@pytest.fixture
def canary_loop(tmp_path, rng):
    from loop_helpers import Trainer, auc

    registry = seawall.Registry(f"sqlite:///{tmp_path / 'reg.db'}", artifacts=tmp_path / "art")
    loop = ContinuousTraining(
        registry,
        "churn",
        train=Trainer(tmp_path),
        score=auc,
        policy=Policy(drift_share=0.5, canary=True),
        trust_code=True,
    )
    first = loop.bootstrap(make_data(rng, 4000, 0), labelled=make_data(rng, 2000, 0))
    assert first.action == "promoted"
    yield registry, loop
    registry.close()


def test_bootstrap_gives_the_first_version_both_aliases(canary_loop):
    registry, _ = canary_loop
    assert registry.resolve("models:/churn@champion").version == 1
    assert registry.resolve("models:/churn@challenger").version == 1


def test_a_winner_waits_on_the_challenger_alias_and_the_canary_promotes_it(canary_loop, rng):
    registry, loop = canary_loop
    policy = TrafficPolicy(
        "models:/churn@challenger",
        0,  # the canary gets traffic once there is a challenger to try
        promote_if="errors<1%",
        promote_after=30,
        interval_s=0.1,
        min_requests=5,
    )
    app = create_app(
        "models:/churn@champion",
        registry=registry,
        trust_code=True,
        traffic=policy,
        watch_interval_s=0.05,
        profile_slice_s=None,
    )
    router = app.state.seawall.traffic["churn"]
    rows = make_data(rng, 200, 1).drop_columns(["label"]).to_pylist()
    with serve_in_thread(app) as url, httpx.Client(base_url=url) as client:
        decision = loop.check(make_data(rng, 3000, 1), labelled=make_data(rng, 2000, 1))
        assert decision.action == "canary" and decision.challenger == 2, decision
        assert "the canary decides" in decision.reason
        assert registry.resolve("models:/churn@champion").version == 1  # not the loop's move
        assert registry.resolve("models:/churn@challenger").version == 2
        deadline = time.monotonic() + 30
        while router.version_of("canary") != "2":  # the arm follows its alias
            assert time.monotonic() < deadline, "the canary did not load version 2"
            time.sleep(0.02)
        router.set_share(50)
        arms = []
        for row in rows:
            answer = client.post("/v1/models/churn/predict", json={"records": [row]})
            assert answer.status_code == 200
            arms.append((answer.headers["seawall-arm"], answer.headers["seawall-model-version"]))
            if registry.resolve("models:/churn@champion").version == 2:
                break
        assert ("canary", "2") in arms and set(arms) <= {("primary", "1"), ("canary", "2")}
        deadline = time.monotonic() + 30
        while registry.resolve("models:/churn@champion").version != 2:
            assert time.monotonic() < deadline, router.describe()["rollout"]
            client.post("/v1/models/churn/predict", json={"records": rows[:1]})
            time.sleep(0.02)
        move = registry.alias_history("churn", "champion")[-1]
        assert move.version == 2 and "errors" in (move.reason or "")
        assert router.share == 0  # the promoted canary's share goes back to the primary
        while app.state.seawall.models["churn"].version != "2":  # the primary hot-swaps
            assert time.monotonic() < deadline, "the primary did not swap to version 2"
            time.sleep(0.02)
        answer = client.post("/v1/models/churn/predict", json={"records": rows[:1]})
        assert answer.headers["seawall-arm"] == "primary"
        assert answer.headers["seawall-model-version"] == "2"
    app.state.seawall.close()


def test_canary_must_be_a_bool():
    with pytest.raises(InvalidInputError, match="canary"):
        Policy(canary="yes")  # type: ignore[arg-type]
