"""Warm-up: a model runs inputs through its pipeline and batcher at batch size 1, each preferred
size and the maximum before it serves (at start, and before a hot swap switches to it); one that
fails its warm-up is never served. Real bundles, a real registry, uvicorn and HTTP clients; the
models are instrumented (warmup_models) to count their calls by batch size."""

from __future__ import annotations

import collections
import json
import logging
import threading
import time
import uuid

import httpx
import numpy as np
import pyarrow as pa
import pytest
from serving_helpers import pipeline, records, running, transactions
from warmup_models import CALLS, FAIL_AT, GATES, STARTED, Recording, reset, sizes

import seawall
from seawall.bundles import records_to_table
from seawall.errors import IntegrityError, InvalidInputError, WarmupError
from seawall.profiles import Profile
from seawall.serving import create_app, load_bundle, save_bundle
from seawall.serving.warmup import LATER_PATH_ROUNDS, PATH_ROUNDS


@pytest.fixture
def key():
    """A fresh key for an instrumented model; a gate the test left closed is opened after it."""
    name = uuid.uuid4().hex
    reset(name)
    yield name
    if name in GATES:
        GATES[name].set()


def features_of(pipe, rows, n):
    return pipe.transform(records_to_table([rows[i % len(rows)] for i in range(n)]))


def metric(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_bundle_keeps_its_warmup_inputs_and_example(tmp_path, rng):
    train = transactions(rng, 200)
    pipe = pipeline().fit(train)
    warm = records(transactions(rng, 4))
    warm[1]["amount"] = float("nan")  # missing, kept as null
    example = pa.table({**transactions(rng, 3), "label": [0, 1, 0]})  # extra columns dropped
    path = save_bundle(
        tmp_path / "b", python_model=Recording("save"), pipeline=pipe, example=example, warmup=warm
    )
    manifest = json.loads((path / "bundle.json").read_text())
    assert manifest["warmup"] == {"file": "warmup.json"}
    assert manifest["example"] == {"file": "example.json"}
    assert set(manifest["files"]) >= {"warmup.json", "example.json"}
    bundle = load_bundle(path, trust_code=True)
    assert bundle.warmup == [
        {**r, "amount": None if i == 1 else r["amount"]} for i, r in enumerate(warm)
    ]
    assert bundle.example == example.select(["amount", "merchant", "age"]).to_pylist()
    # the stored rows are checked like every other file
    (path / "warmup.json").write_text(json.dumps(warm[:1]))
    with pytest.raises(IntegrityError, match=r"warmup\.json"):
        load_bundle(path, trust_code=True)


def test_a_bundle_without_them_loads_as_before(tmp_path, rng):
    pipe = pipeline().fit(transactions(rng, 100))
    path = save_bundle(tmp_path / "b", python_model=Recording("old"), pipeline=pipe)
    manifest = json.loads((path / "bundle.json").read_text())
    assert "warmup" not in manifest and "example" not in manifest
    assert manifest["format_version"] == 1
    bundle = load_bundle(path, trust_code=True)
    assert bundle.warmup is None and bundle.example is None


def test_warmup_inputs_that_do_not_run_are_refused_at_save(tmp_path, rng):
    pipe = pipeline().fit(transactions(rng, 100))
    with pytest.raises(InvalidInputError, match="warm-up inputs do not run"):
        save_bundle(
            tmp_path / "b", python_model=Recording("x"), pipeline=pipe, warmup=[{"amount": 1.0}]
        )
    assert not (tmp_path / "b").exists()
    with pytest.raises(InvalidInputError, match="not finite"):
        save_bundle(
            tmp_path / "c",
            python_model=Recording("x"),
            example=np.ones((1, 2)),
            warmup=np.array([[1.0, np.inf]]),
        )


def test_each_batch_size_is_warmed_up_before_the_model_serves(tmp_path, rng, key):
    pipe = pipeline().fit(transactions(rng, 300))
    warm = records(transactions(rng, 3))
    path = save_bundle(
        tmp_path / "b",
        python_model=Recording(key),
        pipeline=pipe,
        example=records(transactions(rng, 5)),
        warmup=warm,
    )
    reset(key)  # save_bundle ran the model too
    app = create_app(path, trust_code=True, max_batch_size=16, preferred_batch_sizes=[8, 4])
    # before the server has answered anything: each size as a v2 and as a records request
    assert sizes(key) == [1, 1, 4, 4, 8, 8, 16, 16]
    for batch in CALLS[key]:  # the warm-up records, repeated, through the pipeline
        np.testing.assert_array_equal(batch, features_of(pipe, warm, len(batch)))
    path = [1] * (2 * PATH_ROUNDS)  # a v2 and a records request through the app, each time
    with running(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        assert http.get("/v2/health/ready").status_code == 200
        # and on the server's event loop, as a request handler calls the batcher, then
        # through the whole app
        assert sizes(key) == [1, 1, 4, 4, 8, 8, 16, 16, 1, *path]
        row = records(transactions(rng, 1))
        r = http.post("/v1/models/b/predict", json={"records": row})
        assert r.status_code == 200
        stats = http.get("/v2/models/b/stats").json()["model_stats"][0]
        text = http.get("/metrics").text
    assert sizes(key) == [1, 1, 4, 4, 8, 8, 16, 16, 1, *path, 1]
    # the warm-up is counted neither in Triton's statistics nor in the batcher's metrics
    assert stats["execution_count"] == 1 and stats["inference_count"] == 1
    assert [b["batch_size"] for b in stats["batch_stats"]] == [1]
    assert metric(text, "seawall_batcher_batches_total", model="b") == 1
    assert metric(text, "seawall_model_warmups_total", model="b", result="ok") == 1


def test_without_warmup_inputs_the_example_is_used(tmp_path, rng, key):
    pipe = pipeline().fit(transactions(rng, 300))
    example = records(transactions(rng, 3))
    path = save_bundle(tmp_path / "b", python_model=Recording(key), pipeline=pipe, example=example)
    reset(key)
    app = create_app(path, trust_code=True, max_batch_size=5)
    assert sizes(key) == [1, 1, 5, 5]
    for batch in CALLS[key]:
        np.testing.assert_array_equal(batch, features_of(pipe, example, len(batch)))
    app.state.seawall.close()


def test_without_rows_a_registry_version_is_warmed_up_from_its_reference_profile(
    tmp_path, rng, key
):
    # 150 rows: the profile's quantile sketch is still exact, and the merchants' counts differ
    n = 150
    merchants = np.repeat([f"m{i}" for i in range(5)], [50, 40, 30, 20, 10])
    rng.shuffle(merchants)
    train = {
        "amount": [float(v) for v in np.round(rng.lognormal(3, 1, n), 2)],
        "merchant": [str(m) for m in merchants],
        "age": [int(v) for v in rng.integers(18, 90, n)],
    }
    pipe = pipeline().fit(train)
    path = save_bundle(tmp_path / "b", python_model=Recording(key), pipeline=pipe, name="m")
    reg = seawall.Registry(f"sqlite:///{tmp_path / 'reg.db'}", artifacts=tmp_path / "art")
    reg.register_model("m", path, profile=Profile.from_data(pa.table(train)))
    reg.set_alias("m", "champion", 1, reason="first")
    reset(key)
    app = create_app(
        "models:/m@champion", registry=reg, trust_code=True, max_batch_size=8, watch_interval_s=None
    )
    qs = [0.05, 0.25, 0.5, 0.75, 0.95]
    top = [m for m, _ in collections.Counter(train["merchant"]).most_common(5)]
    oracle = [
        {
            "amount": float(np.quantile(train["amount"], q)),
            "merchant": top[i],
            "age": float(np.quantile(train["age"], q)),
        }
        for i, q in enumerate(qs)
    ]
    assert sizes(key) == [1, 1, 8, 8]  # v2 requests (every column FP64 here), records requests
    for batch in CALLS[key]:
        np.testing.assert_allclose(batch, features_of(pipe, oracle, len(batch)), rtol=1e-6)
    app.state.seawall.close()
    reg.close()


def test_with_nothing_to_warm_up_with_the_model_runs_on_zeros(tmp_path, rng, key):
    pipe = pipeline().fit(transactions(rng, 100))
    path = save_bundle(tmp_path / "b", python_model=Recording(key), pipeline=pipe)
    reset(key)
    app = create_app(path, trust_code=True, max_batch_size=4, preferred_batch_sizes=[2])
    assert sizes(key) == [1, 1, 2, 4]
    width = len(pipe.feature_names_out_)
    for batch in CALLS[key]:
        np.testing.assert_array_equal(batch, np.zeros((len(batch), width), np.float32))
    app.state.seawall.close()


def test_a_model_without_pipeline_is_warmed_up_on_its_example(tmp_path, rng, key):
    example = rng.normal(size=(3, 4))
    path = save_bundle(tmp_path / "b", python_model=Recording(key), example=example)
    reset(key)
    app = create_app(path, trust_code=True, max_batch_size=7)
    assert sizes(key) == [1, 1, 7, 7]
    for batch in CALLS[key]:
        np.testing.assert_array_equal(batch, example[np.arange(len(batch)) % 3])
    app.state.seawall.close()


def test_a_model_that_fails_its_warmup_is_never_served(tmp_path, rng, key):
    pipe = pipeline().fit(transactions(rng, 100))
    path = save_bundle(tmp_path / "b", python_model=Recording(key), pipeline=pipe)
    FAIL_AT[key] = 16
    with pytest.raises(WarmupError, match="batch size 16") as info:
        create_app(path, trust_code=True, max_batch_size=16)
    assert isinstance(info.value, RuntimeError)
    assert sizes(key)[-1] == 16


# --- hot swaps ----------------------------------------------------------------------------------


def registry_of(tmp_path, rng, second):
    """A registry with 'scaled' version 1 (factor 1) and version 2 (`second`), 1 as champion."""
    reg = seawall.Registry(f"sqlite:///{tmp_path / 'reg.db'}", artifacts=tmp_path / "art")
    pipe = pipeline().fit(transactions(rng, 300))
    example = records(transactions(rng, 5))
    for i, model in enumerate((Recording(uuid.uuid4().hex, 1.0), second), start=1):
        path = save_bundle(
            tmp_path / f"v{i}", python_model=model, pipeline=pipe, name="scaled", example=example
        )
        reg.register_model("scaled", path)
    reg.set_alias("scaled", "champion", 1, reason="first")
    return reg, pipe


def predict(http, rng):
    r = http.post("/v1/models/scaled/predict", json={"records": records(transactions(rng, 2))})
    return r.status_code, r.json().get("model_version")


def test_a_hot_swap_switches_only_after_the_warmup(tmp_path, rng, key):
    reg, _ = registry_of(tmp_path, rng, Recording(key, 2.0))
    app = create_app(
        "models:/scaled@champion",
        registry=reg,
        trust_code=True,
        watch_interval_s=0.02,
        max_batch_size=8,
        preferred_batch_sizes=[4],
    )
    reset(key)
    GATES[key] = gate = threading.Event()
    with running(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        reg.set_alias("scaled", "champion", 2, reason="better")
        assert STARTED[key].wait(30), "version 2 was not loaded"
        # version 2 is held in its warm-up: version 1 answers, version 2 shows as loading
        answers = [predict(http, rng) for _ in range(20)]
        assert answers == [(200, "1")] * 20
        index = http.post("/v2/repository/index").json()
        assert {"name": "scaled", "version": "2", "state": "LOADING", "reason": ""} in index
        gate.set()
        deadline = time.monotonic() + 30
        while predict(http, rng) != (200, "2"):
            assert time.monotonic() < deadline, "version 2 never took over"
            time.sleep(0.01)
    # every warm-up batch ran before version 2 answered its first request: the last ones on
    # the server's event loop (the app's request path had run at the start: a few times now)
    warm = [1, 1, 4, 4, 8, 8, 1, *[1] * (2 * LATER_PATH_ROUNDS)]
    assert sizes(key)[: len(warm)] == warm
    assert len(sizes(key)) > len(warm) and sizes(key)[len(warm)] == 2
    app.state.seawall.close()
    reg.close()


def test_a_version_that_fails_its_warmup_never_replaces_the_one_serving(tmp_path, rng, key, caplog):
    reg, _ = registry_of(tmp_path, rng, Recording(key, 2.0))
    caplog.set_level(logging.INFO, logger="seawall.serving")
    app = create_app(
        "models:/scaled@champion",
        registry=reg,
        trust_code=True,
        watch_interval_s=0.01,
        max_batch_size=8,
    )
    watcher = app.state.seawall.watchers[0]
    reset(key)
    FAIL_AT[key] = 8
    with running(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        reg.set_alias("scaled", "champion", 2, reason="broken")
        deadline = time.monotonic() + 30
        while watcher.failures < 3:  # tried again with back-off
            assert time.monotonic() < deadline, "the load was not retried"
            assert predict(http, rng) == (200, "1")
        assert [predict(http, rng) for _ in range(10)] == [(200, "1")] * 10
        text = http.get("/metrics").text
        index = http.post("/v2/repository/index").json()
    assert metric(text, "seawall_model_warmups_total", model="scaled", result="failed") >= 3
    assert metric(text, "seawall_model_swaps_total", model="scaled", result="failed") >= 3
    assert metric(text, "seawall_model_swaps_total", model="scaled", result="ok") == 0
    (failed,) = [e for e in index if e.get("version") == "2"]
    assert failed["state"] == "UNAVAILABLE" and "warm-up at batch size 8" in failed["reason"]
    assert {"name": "scaled", "version": "1", "state": "READY", "reason": ""} in index
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(errors) == 1 and "version 2" in errors[0].getMessage()  # logged once
    assert sizes(key) == [1, 1, 8] * (len(sizes(key)) // 3)  # each attempt stopped at size 8
    app.state.seawall.close()
    reg.close()


def test_the_request_path_runs_before_ready_and_counts_nowhere(tmp_path, rng, key):
    """Before the first request: the model's series on /metrics exist (at 0), and the warm-up
    rows went through the whole app (routing, handler, encoding) as v2 and records requests,
    PATH_ROUNDS times each; yet no figure, statistic, live profile or payload log saw them.
    The first real request then counts once everywhere."""
    from prometheus_client.parser import text_string_to_metric_families

    from seawall.serving import PayloadLog

    pipe = pipeline().fit(transactions(rng, 300))
    warm = records(transactions(rng, 2))
    path = save_bundle(
        tmp_path / "b", python_model=Recording(key), pipeline=pipe, name="b", warmup=warm
    )
    reset(key)
    log = PayloadLog(tmp_path / "payloads")
    app = create_app(path, trust_code=True, max_batch_size=4, payload_log=log)
    profiler = app.state.seawall.profiler("b")
    with running(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        calls = list(CALLS[key])
        text = http.get("/metrics").text
        stats = http.get("/v2/models/b/stats").json()["model_stats"][0]
        profiler.flush(close_slice=True)
        rows_before = sum(s.rows for s in profiler.slices())
        payloads_before = log.stats()["requests"]
        row = records(transactions(rng, 1))
        assert http.post("/v1/models/b/predict", json={"records": row}).status_code == 200
        after = http.get("/metrics").text
    app.state.seawall.close()
    # the warm-up (each size, then a row on the loop), then the app's path: rows of the warm-up
    through_app = calls[len(calls) - 2 * PATH_ROUNDS :]
    assert [len(x) for x in calls] == [1, 1, 4, 4, 1, *[1] * (2 * PATH_ROUNDS)]
    first = features_of(pipe, warm, 1)
    for x in through_app:
        np.testing.assert_array_equal(x, first)

    def samples(text: str) -> dict:
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    def series(name: str, **labels: str) -> tuple:
        return (name, tuple(sorted({"model": "b", "version": "", **labels}.items())))

    made = samples(text)
    for endpoint in ("infer", "predict"):
        assert made[series("seawall_inference_requests_total", endpoint=endpoint, code="200")] == 0
        count = series("seawall_inference_request_duration_seconds_count", endpoint=endpoint)
        assert made[count] == 0
    assert made[series("seawall_inference_requests_in_flight")] == 0
    assert made[series("seawall_batcher_requests_total")] == 0
    assert stats["inference_stats"]["success"]["count"] == 0 and stats["execution_count"] == 0
    assert rows_before == 0 and payloads_before == 0
    counted = samples(after)
    assert counted[series("seawall_inference_requests_total", endpoint="predict", code="200")] == 1
    assert counted[series("seawall_inference_requests_total", endpoint="infer", code="200")] == 0
    assert counted[series("seawall_batcher_requests_total")] == 1
    assert log.stats()["requests"] == 1
