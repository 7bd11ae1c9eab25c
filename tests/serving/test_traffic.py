"""Traffic policies between registry versions: the canary's share, sticky routing, every answer
naming its arm and version, run-time share changes, hot swaps under mixed traffic, and bad
policies. Real registries and bundles, real uvicorn servers on loopback, real HTTP clients."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import os
import threading
from pathlib import Path

import httpx
import numpy as np
import pytest
from scipy.stats import binomtest
from serving_helpers import records, running, seawall_serve, transactions
from traffic_models import (
    BROKEN,
    METHODS,
    UNLOADABLE,
    ArmModel,
    mixed_bodies,
    registry_of,
    send_all,
    v1_body,
    v2_body,
)

import seawall
from seawall.errors import InvalidInputError, NotFoundError
from seawall.serving import TrafficPolicy, create_app, save_bundle

ALPHA = 1e-4  # the binomial tests' significance: a correct router fails one run in 10,000


@pytest.fixture
def three_versions(tmp_path, rng):
    reg, pipe = registry_of(
        tmp_path,
        rng,
        [0.0, 0.5, 1.0],
        {"champion": 1, "challenger": 2, "candidate": 3},
    )
    yield reg, pipe
    reg.close()


def app_with(reg, policy, **kwargs):
    kwargs.setdefault("watch_interval_s", None)
    return create_app(
        "models:/fraud@champion", registry=reg, trust_code=True, traffic=policy, **kwargs
    )


def test_the_canary_gets_its_share_and_every_answer_names_its_arm(three_versions, rng):
    reg, _ = three_versions
    share = float(rng.uniform(10, 40))
    n = 800
    app = app_with(reg, TrafficPolicy("models:/fraud@challenger", share))
    with running(app) as url:
        answers = send_all(url, mixed_bodies(rng, n))
    app.state.seawall.close()
    assert [s for s, *_ in answers.items] == [200] * n
    answers.check_attribution()
    arms = answers.arms()
    canary = arms.count("canary")
    assert canary + arms.count("primary") == n
    assert binomtest(canary, n, share / 100).pvalue > ALPHA, (canary, n, share)
    versions = {(a, v) for _, a, v, _, _ in answers.items}
    assert versions == {("primary", "1"), ("canary", "2")}


def test_tritonclient_reads_the_arm_from_the_parameters(three_versions, rng):
    tritonclient = pytest.importorskip("tritonclient.http")
    reg, _ = three_versions
    app = app_with(reg, TrafficPolicy("models:/fraud@challenger", 100))
    rows = records(transactions(rng, 3))
    with running(app) as url:
        client = tritonclient.InferenceServerClient(url.removeprefix("http://"))
        inputs = []
        for name, datatype, values in (
            ("amount", "FP64", [np.nan if r["amount"] is None else r["amount"] for r in rows]),
            ("merchant", "BYTES", [r["merchant"] or "" for r in rows]),
            ("age", "INT64", [r["age"] for r in rows]),
        ):
            t = tritonclient.InferInput(name, [len(rows)], datatype)
            dtype = object if datatype == "BYTES" else {"FP64": np.float64}.get(datatype, np.int64)
            t.set_data_from_numpy(np.array(values, dtype=dtype))
            inputs.append(t)
        result = client.infer("fraud", inputs)
        client.close()
    app.state.seawall.close()
    response = result.get_response()
    assert response["parameters"] == {"seawall_arm": "canary", "seawall_model_version": "2"}
    assert response["model_version"] == "2"
    assert result.as_numpy("version").tolist() == [2] * len(rows)


def blake2b_unit(key: str) -> float:
    """The sticky hash, written out independently of the router."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") / 2.0**64


def test_sticky_keys_reach_one_arm_on_independent_servers(
    three_versions, rng, tmp_path, monkeypatch
):
    """The same key reaches the same arm, every time, on this server and on a `seawall serve`
    process (another interpreter, another hash seed): what replicas behind a balancer see."""
    reg, _ = three_versions
    # the subprocess unpickles the test models: it needs their module on its path
    here = str(Path(__file__).parent)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([here, os.environ.get("PYTHONPATH", "")]))
    share = float(rng.uniform(20, 60))
    keys = [f"user-{rng.integers(1 << 40)}" for _ in range(120)]
    sends = [k for k in keys for _ in range(3)]
    bodies = [("v1", v1_body(records(transactions(rng, 1)))) for _ in sends]
    headers = [{"x-user-id": k} for k in sends]
    app = app_with(reg, TrafficPolicy("models:/fraud@challenger", share, sticky="header:x-user-id"))
    with running(app) as url:
        here = send_all(url, bodies, headers=headers)
    app.state.seawall.close()
    args = [
        "models:/fraud@champion",
        "--canary",
        f"models:/fraud@challenger={share}",
        "--sticky",
        "header:X-User-Id",
        "--trust-code",
        "--registry",
        reg.uri,
        "--artifacts",
        str(tmp_path / "art"),
    ]
    with seawall_serve(*args) as (url, _):
        there = send_all(url, bodies, headers=headers)
    for answers in (here, there):
        assert [s for s, *_ in answers.items] == [200] * len(sends)
        answers.check_attribution()
    expected = ["canary" if blake2b_unit(k) < share / 100 else "primary" for k in sends]
    assert here.arms() == expected
    assert there.arms() == expected
    on_canary = sum(blake2b_unit(k) < share / 100 for k in keys)
    assert binomtest(on_canary, len(keys), share / 100).pvalue > ALPHA


def test_sticky_input_reads_the_key_from_any_encoding(three_versions, rng):
    """input:merchant: the first row's merchant decides, whether the request is a v1 record, a
    v2 JSON tensor or v2 binary tensor data (tritonclient's default)."""
    tritonclient = pytest.importorskip("tritonclient.http")
    reg, _ = three_versions
    app = app_with(reg, TrafficPolicy("models:/fraud@challenger", 50, sticky="input:merchant"))
    merchants = [f"merchant_{i:02d}" for i in range(12)]
    seen: dict[str, set[str]] = {m: set() for m in merchants}
    with running(app) as url:
        triton = tritonclient.InferenceServerClient(url.removeprefix("http://"))
        with httpx.Client(base_url=url) as client:
            for m in merchants:
                row = {"amount": float(rng.uniform(1, 100)), "merchant": m, "age": 30}
                r1 = client.post("/v1/models/fraud/predict", json=v1_body([row]))
                r2 = client.post("/v2/models/fraud/infer", json=v2_body([row]))
                seen[m] |= {r1.headers["seawall-arm"], r2.headers["seawall-arm"]}
                inputs = []
                for name, datatype, value in (
                    ("amount", "FP64", np.array([row["amount"]])),
                    ("merchant", "BYTES", np.array([m], dtype=object)),
                    ("age", "INT64", np.array([30])),
                ):
                    t = tritonclient.InferInput(name, [1], datatype)
                    t.set_data_from_numpy(value, binary_data=True)
                    inputs.append(t)
                result = triton.infer("fraud", inputs)
                seen[m].add(result.get_response()["parameters"]["seawall_arm"])
        triton.close()
    app.state.seawall.close()
    for m in merchants:
        assert seen[m] == {"canary" if blake2b_unit(m) < 0.5 else "primary"}, m


def test_share_changes_at_run_time_through_the_api_and_the_admin_endpoint(three_versions, rng):
    reg, _ = three_versions
    app = app_with(reg, TrafficPolicy("models:/fraud@challenger", 50))
    router = app.state.seawall.traffic["fraud"]
    with running(app) as url, httpx.Client(base_url=url) as client:
        for share, arms in ((0, {"primary"}), (100, {"canary"})):
            r = client.post("/v2/models/fraud/traffic", json={"share": share})
            assert r.status_code == 200 and r.json()["arms"]["canary"]["share"] == share
            answers = send_all(url, mixed_bodies(rng, 40), clients=4)
            assert set(answers.arms()) == arms
        router.set_share(0)
        assert set(send_all(url, mixed_bodies(rng, 20), clients=4).arms()) == {"primary"}
        for bad in ({"share": 101}, {"share": -1}, {"share": "ten"}, {"share": True}):
            r = client.post("/v2/models/fraud/traffic", json=bad)
            assert r.status_code == 400 and "0 to 100" in r.json()["error"], r.text
        r = client.post("/v2/models/fraud/traffic", json={"canary": 10})
        assert r.status_code == 400 and "canary" in r.json()["error"]
        r = client.post("/v2/models/fraud/traffic", content=b"{not json")
        assert r.status_code == 400
        assert client.get("/v2/models/nope/traffic").status_code == 404
        assert router.share == 0
        described = client.get("/v2/models/fraud/traffic").json()
        assert described["arms"]["canary"]["version"] == "2"
    with pytest.raises(InvalidInputError, match="0 to 100"):
        router.set_share(float("nan"))
    with pytest.raises(InvalidInputError, match="no shadow"):
        router.set_shadow_share(10)
    app.state.seawall.close()


def test_the_admin_endpoint_refuses_clients_not_on_loopback(three_versions):
    reg, _ = three_versions
    app = app_with(reg, TrafficPolicy("models:/fraud@challenger", 10))

    async def as_a_remote_client():
        transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://server") as client:
            changed = await client.post("/v2/models/fraud/traffic", json={"share": 90})
            described = await client.get("/v2/models/fraud/traffic")
        return changed, described

    changed, described = asyncio.run(as_a_remote_client())
    assert changed.status_code == 403 and "loopback" in changed.json()["error"]
    assert described.status_code == 200
    assert app.state.seawall.traffic["fraud"].share == 10
    app.state.seawall.close()


def test_a_token_with_admin_on_the_model_changes_the_share_from_anywhere(three_versions):
    reg, _ = three_versions
    admin = reg.create_token("ops", team="fraud", scopes=["admin:models/fraud"]).secret
    reader = reg.create_token("dash", team="fraud", scopes=["read:models/fraud"]).secret
    app = app_with(reg, TrafficPolicy("models:/fraud@challenger", 10), auth=reg)

    async def as_a_remote_client():
        transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://server") as client:
            answers = []
            for token in (None, reader, admin):
                headers = {"authorization": f"Bearer {token}"} if token else {}
                answers.append(
                    await client.post(
                        "/v2/models/fraud/traffic", json={"share": 90}, headers=headers
                    )
                )
        return answers

    anonymous, read_only, allowed = asyncio.run(as_a_remote_client())
    assert anonymous.status_code == 401 and read_only.status_code == 403
    assert "admin:models/fraud" in read_only.json()["error"]
    assert allowed.status_code == 200, allowed.text
    assert app.state.seawall.traffic["fraud"].share == 90
    app.state.seawall.close()


def test_alias_moves_and_share_changes_drop_nothing_under_mixed_traffic(three_versions, rng):
    """Clients send steadily while the canary's alias moves, the champion's alias moves and the
    share changes: every request is answered, by the version its headers name."""
    reg, _ = three_versions
    app = app_with(
        reg,
        TrafficPolicy("models:/fraud@challenger", 30),
        watch_interval_s=0.05,
        max_queue_delay_us=500,
    )
    router = app.state.seawall.traffic["fraud"]
    bodies = mixed_bodies(rng, 600)
    stop = threading.Event()

    def churn():
        steps = [
            lambda: reg.set_alias("fraud", "challenger", 3),
            lambda: router.set_share(70),
            lambda: reg.set_alias("fraud", "champion", 2),
            lambda: router.set_share(10),
            lambda: reg.set_alias("fraud", "challenger", 1),
            lambda: router.set_share(50),
        ]
        for step in steps:
            if stop.wait(0.15):
                return
            step()

    with running(app) as url:
        mover = threading.Thread(target=churn)
        mover.start()
        answers = send_all(url, bodies, clients=8)
        stop.set()
        mover.join()
    app.state.seawall.close()
    assert [s for s, *_ in answers.items] == [200] * len(bodies)
    answers.check_attribution()
    assert len({(a, v) for _, a, v, _, _ in answers.items}) >= 3  # the versions did change


def test_a_challenger_that_does_not_load_leaves_the_primary_serving(three_versions, rng, caplog):
    reg, _ = three_versions
    caplog.set_level(logging.INFO, logger="seawall.serving")
    UNLOADABLE.add(2)
    try:
        app = app_with(reg, TrafficPolicy("models:/fraud@challenger", 50), watch_interval_s=0.05)
        with running(app) as url:
            answers = send_all(url, mixed_bodies(rng, 60), clients=4)
            metrics = httpx.get(url + "/metrics").text
            described = httpx.get(url + "/v2/models/fraud/traffic").json()
        app.state.seawall.close()
    finally:
        UNLOADABLE.discard(2)
    assert [s for s, *_ in answers.items] == [200] * 60
    assert set(answers.arms()) == {"primary"}
    answers.check_attribution()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "canary arm" in errors[0].getMessage(), errors
    assert described["arms"]["canary"]["loaded"] is False
    failed = [
        line
        for line in metrics.splitlines()
        if line.startswith("seawall_traffic_arm_loads_total{")
        and 'arm="canary"' in line
        and 'result="failed"' in line
    ]
    assert len(failed) == 1 and float(failed[0].rsplit(" ", 1)[1]) >= 1


def test_a_challenger_that_fails_its_warm_up_is_shown_and_retried(three_versions, rng):
    """Version 2 raises on every batch at start: its warm-up fails, the primary serves alone,
    and why is in the policy's description, the monitor's windows and on the dashboard's model
    page; once it works, the retry loads it and the failure is gone."""
    import re

    from seawall.monitoring import Monitor

    reg, _ = three_versions
    reference = seawall.Profile.from_data(transactions(rng, 500))
    monitor = Monitor("fraud", reference, window_s=1, origin=0, background=False)
    BROKEN.add(2)
    try:
        app = app_with(
            reg,
            TrafficPolicy("models:/fraud@challenger", 50),
            watch_interval_s=0.05,
            profile_slice_s=3600,
            monitors={"fraud": monitor},
            dashboard=True,
        )
        router = app.state.seawall.traffic["fraud"]
        with running(app) as url:
            answers = send_all(url, mixed_bodies(rng, 30), clients=3)
            described = httpx.get(url + "/v2/models/fraud/traffic").json()["arms"]["canary"]
            app.state.seawall.profiler("fraud").flush(close_slice=True)
            monitor.advance(math.inf)
            page = httpx.get(url + "/ui/models/fraud").text
            BROKEN.discard(2)
            for _ in range(500):  # version 2 works now: the retry (with back-off) loads it
                if router.version_of("canary") == "2":
                    break
                threading.Event().wait(0.02)
    finally:
        BROKEN.discard(2)
    assert set(answers.arms()) == {"primary"} and {s for s, *_ in answers.items} == {200}
    assert described["loaded"] is False
    assert described["load_error"].startswith("version 2 did not load: WarmupError")
    stored = [w.arms["canary"]["load_error"] for w in monitor.history() if "canary" in w.arms]
    assert stored and stored[-1] == described["load_error"]
    shown = re.sub(r"\s+", " ", page)
    assert "The canary arm is not serving: version 2 did not load: WarmupError" in shown
    assert router.version_of("canary") == "2" and "canary" not in router.load_errors
    app.state.seawall.close()
    monitor.close()


def test_a_challenger_that_loads_later_joins_the_traffic(three_versions, rng):
    reg, _ = three_versions
    UNLOADABLE.add(2)
    try:
        app = app_with(reg, TrafficPolicy("models:/fraud@challenger", 100), watch_interval_s=0.02)
        router = app.state.seawall.traffic["fraud"]
        assert router.version_of("canary") is None
    finally:
        UNLOADABLE.discard(2)
    with running(app) as url:
        for _ in range(500):  # the back-off lets a few polls go by
            if router.version_of("canary") == "2":
                break
            threading.Event().wait(0.02)
        answers = send_all(url, mixed_bodies(rng, 10), clients=2)
    app.state.seawall.close()
    assert set(answers.arms()) == {"canary"}
    answers.check_attribution()


@pytest.mark.parametrize(
    ("policy", "error", "match"),
    [
        (lambda: TrafficPolicy("models:/fraud@challenger", 150), InvalidInputError, "0 to 100"),
        (lambda: TrafficPolicy("models:/fraud@challenger", -5), InvalidInputError, "0 to 100"),
        (lambda: TrafficPolicy("models:/fraud@challenger", math.nan), InvalidInputError, "100"),
        (lambda: TrafficPolicy("models:/fraud@challenger", True), InvalidInputError, "100"),
        (
            lambda: TrafficPolicy(shadow="models:/fraud@c", shadow_share=101),
            InvalidInputError,
            "100",
        ),
        (lambda: TrafficPolicy(), InvalidInputError, "canary or a shadow"),
        (lambda: TrafficPolicy("fraud-v2", 10), InvalidInputError, "registry URI"),
        (lambda: TrafficPolicy(shadow="models:/f@c", share=5), InvalidInputError, "needs a canary"),
        (
            lambda: TrafficPolicy("models:/fraud@challenger", 10, sticky="cookie:id"),
            InvalidInputError,
            "header:NAME",
        ),
        (
            lambda: TrafficPolicy("models:/fraud@challenger", 10, rollback_if="p99 > twice"),
            InvalidInputError,
            "cannot read the rule",
        ),
        (
            lambda: TrafficPolicy("models:/fraud@challenger", 10, rollback_if="agreement<0.9"),
            InvalidInputError,
            "shadow arm",
        ),
        (
            lambda: TrafficPolicy("models:/fraud@challenger", 10, promote_if="errors<1%"),
            InvalidInputError,
            "promote_after",
        ),
        (
            lambda: TrafficPolicy("models:/fraud@challenger", 10, promote_after="soon"),
            InvalidInputError,
            "promotion delay",
        ),
    ],
)
def test_bad_policies_are_clear_errors(policy, error, match):
    with pytest.raises(error, match=match):
        policy()


def test_bad_arms_are_clear_errors_at_start(three_versions, tmp_path, rng):
    reg, _ = three_versions
    with pytest.raises(NotFoundError, match="canary arm models:/fraud@nobody"):
        app_with(reg, TrafficPolicy("models:/fraud@nobody", 10))
    with pytest.raises(NotFoundError, match="shadow arm models:/other/1"):
        app_with(reg, TrafficPolicy(shadow="models:/other/1"))
    with pytest.raises(InvalidInputError, match="sticky input 'user_id' is not an input"):
        app_with(reg, TrafficPolicy("models:/fraud@challenger", 10, sticky="input:user_id"))
    # a shadow whose signature differs from the primary's: a version without 'age'
    train = transactions(rng, 300)
    del train["age"]
    example = records(transactions(rng, 5))
    for row in example:
        del row["age"]
    narrow = seawall.FeaturePipeline(
        {
            "amount": [seawall.Impute("median"), seawall.Log1p(), seawall.StandardScale()],
            "merchant": [seawall.Impute("constant", fill_value="unknown"), seawall.OneHot()],
        }
    )
    path = save_bundle(
        tmp_path / "no-age",
        python_model=ArmModel(9, 0.0),
        methods=METHODS,
        pipeline=narrow.fit(train),
        name="fraud",
        example=example,
    )
    version = reg.register_model("fraud", path).version
    reg.set_alias("fraud", "narrow", version)
    with pytest.raises(InvalidInputError, match="signature differs: input 'age' removed"):
        app_with(reg, TrafficPolicy(shadow="models:/fraud@narrow"))
    reg.register_model("other", path)
    with pytest.raises(InvalidInputError, match="single model"):
        create_app(
            ["models:/fraud/1", "models:/other/1"],
            registry=reg,
            trust_code=True,
            traffic=TrafficPolicy("models:/fraud@challenger", 10),
        )
    with pytest.raises(InvalidInputError, match="moves the primary's alias"):
        create_app(
            "models:/fraud/1",
            registry=reg,
            trust_code=True,
            traffic=TrafficPolicy("models:/fraud@challenger", 10, promote_after=100),
        )


def test_a_monitor_gets_each_arms_figures_in_its_windows(three_versions, rng):
    from seawall.monitoring import Monitor

    reg, _ = three_versions
    reference = seawall.Profile.from_data(transactions(rng, 500))
    monitor = Monitor("fraud", reference, window_s=1, origin=0, background=False)
    app = app_with(
        reg,
        TrafficPolicy("models:/fraud@challenger", 30, shadow="models:/fraud@candidate"),
        profile_slice_s=3600,
        monitors={"fraud": monitor},
    )
    router = app.state.seawall.traffic["fraud"]
    with running(app) as url:
        answers = send_all(url, mixed_bodies(rng, 120), clients=4)
        deadline = 600
        while router.stats_for("shadow", "3").peek().requests < 120 and deadline:
            deadline -= 1
            threading.Event().wait(0.05)
        app.state.seawall.profiler("fraud").flush(close_slice=True)
        monitor.advance(math.inf)
    app.state.seawall.close()
    windows = monitor.history()
    assert windows
    arms = answers.arms()
    for arm, version in (("primary", "1"), ("canary", "2"), ("shadow", "3")):
        got = sum(w.arms.get(arm, {}).get("requests", 0) for w in windows)
        assert got == (arms.count(arm) if arm != "shadow" else 120), arm
        assert windows[-1].arms[arm]["version"] == version
    compared = sum(w.arms["shadow"]["compared"] for w in windows)
    assert compared > 0
    monitor.close()


def serve_args(reg, tmp_path, *extra):
    return [
        "serve",
        "models:/fraud@champion",
        "--trust-code",
        "--registry",
        reg.uri,
        "--artifacts",
        str(tmp_path / "art"),
        *extra,
    ]


def test_seawall_serve_builds_the_policy_from_its_options(three_versions, tmp_path, cli_app):
    reg, _ = three_versions
    app, output = cli_app(
        serve_args(
            reg,
            tmp_path,
            "--canary",
            "models:/fraud@challenger=12.5",
            "--shadow",
            "models:/fraud@candidate=40",
            "--sticky",
            "header:X-User",
            "--rollback-if",
            "p99>2x,errors>1%,agreement<0.9",
            "--promote-if",
            "errors<0.5%",
            "--promote-after",
            "30m",
            "--rollout-interval",
            "5",
        )
    )
    router = app.state.seawall.traffic["fraud"]
    try:
        assert (router.share, router.shadow_share) == (12.5, 40)
        policy = router.policy
        assert policy.sticky_kind == "header" and policy.sticky_key == "x-user"
        assert [str(r) for r in policy.rollback_if] == ["p99>2x", "errors>1%", "agreement<90%"]
        assert policy.promote_after_s == 1800 and policy.interval_s == 5
        assert router.version_of("canary") == "2" and router.version_of("shadow") == "3"
        assert "canary models:/fraud@challenger (version 2): 12.5% of requests" in output
        assert "shadow models:/fraud@candidate (version 3): 40% of requests copied" in output
        assert "answered on a worker process" in output and policy.shadow_process
    finally:
        app.state.seawall.close()


def test_seawall_serve_can_keep_the_shadow_on_its_threads(three_versions, tmp_path, cli_app):
    reg, _ = three_versions
    args = serve_args(reg, tmp_path, "--shadow", "models:/fraud@candidate", "--shadow-in-process")
    app, output = cli_app(args)
    router = app.state.seawall.traffic["fraud"]
    try:
        assert router.policy.shadow_process is False
        assert router.describe()["shadow_queue"]["process"] is None
        assert "100% of requests copied, off the request path, answered on server threads" in output
    finally:
        app.state.seawall.close()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--canary", "models:/fraud@challenger"], "URI=SHARE"),
        (["--canary", "models:/fraud@challenger=ten"], "per cent"),
        (["--canary", "models:/fraud@challenger=150"], "0 to 100"),
        (["--canary", "models:/fraud@nobody=5"], "canary arm models:/fraud@nobody"),
        (["--shadow", "models:/fraud@candidate=-1"], "0 to 100"),
        (["--sticky", "header:x"], "add --canary or --shadow"),
        (["--shadow-in-process"], "add --canary or --shadow"),
        (["--canary", "models:/fraud@challenger=5", "--sticky", "ip"], "header:NAME"),
        (["--canary", "models:/fraud@challenger=5", "--rollback-if", "p99>>2"], "rule"),
        (["--canary", "models:/fraud@challenger=5", "--promote-if", "errors<1%"], "promote"),
    ],
)
def test_seawall_serve_refuses_bad_traffic_options(three_versions, tmp_path, extra, message):
    from click.testing import CliRunner

    from seawall.cli import main

    reg, _ = three_versions
    result = CliRunner().invoke(main, serve_args(reg, tmp_path, *extra))
    assert result.exit_code != 0 and message in result.output, result.output
    assert "Traceback" not in result.output


def test_the_warm_up_requests_reach_no_arm(three_versions, rng):
    """The warm-up sends requests through the app before it serves: none is routed to an arm,
    counted in an arm's figures or copied to the shadow."""
    reg, _ = three_versions
    policy = TrafficPolicy("models:/fraud@challenger", 50, shadow="models:/fraud@candidate")
    app = app_with(reg, policy)
    router = app.state.seawall.traffic["fraud"]
    with running(app) as url:
        assert httpx.get(url + "/v2/health/ready").status_code == 200
        described = router.describe()
        assert (
            httpx.post(
                url + "/v1/models/fraud/predict", json=v1_body(records(transactions(rng, 1)))
            ).status_code
            == 200
        )
        after = router.describe()
    app.state.seawall.close()
    assert {arm: a["figures"]["requests"] for arm, a in described["arms"].items()} == {
        "primary": 0,
        "canary": 0,
        "shadow": 0,
    }
    assert described["shadow_queue"]["offered"] == 0
    assert after["shadow_queue"]["offered"] == 1
    assert sum(after["arms"][a]["figures"]["requests"] for a in ("primary", "canary")) == 1
