"""The server follows a registry alias (hot swap) without dropping a request, and profiles what it
serves. A real registry, real bundles, a real uvicorn and real HTTP clients."""

from __future__ import annotations

import logging
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pyarrow as pa
import pytest
from serving_helpers import pipeline, records, running, transactions

import seawall
from seawall.serving import create_app, save_bundle


class Scaled:
    """A model whose output says which version answered: the feature sum times `factor`. It
    sleeps a little per batch, so swaps happen with requests in flight."""

    def __init__(self, factor: float) -> None:
        self.factor = factor

    def __call__(self, x: np.ndarray) -> np.ndarray:
        time.sleep(0.002)
        return x.astype(np.float64).sum(axis=1) * self.factor


def expected(pipe, rows, factor):
    features = pipe.transform(pa.Table.from_pylist(rows))
    return features.astype(np.float64).sum(axis=1) * factor


def two_versions(tmp_path, rng, train, profile=None):
    """A registry holding 'scaled' versions 1 (factor 1) and 2 (factor 2) of one pipeline fitted
    on `train`, with version 1 as champion."""
    reg = seawall.Registry(f"sqlite:///{tmp_path / 'reg.db'}", artifacts=tmp_path / "art")
    pipe = pipeline().fit(train)
    for factor in (1.0, 2.0):
        path = tmp_path / f"v{int(factor)}"
        save_bundle(
            path,
            python_model=Scaled(factor),
            pipeline=pipe,
            name="scaled",
            example=records(transactions(rng, 5)),
        )
        reg.register_model("scaled", path, profile=profile)
    reg.set_alias("scaled", "champion", 1, reason="first")
    return reg, pipe


@pytest.fixture(params=["local", "http"])
def registry_with_two_versions(request, tmp_path, rng):
    """Two versions in a registry, opened directly or through a registry server on loopback
    (the server then follows the alias through it)."""
    reg, pipe = two_versions(tmp_path, rng, transactions(rng, 500))
    if request.param == "local":
        yield reg, pipe
        reg.close()
        return
    from seawall._server.run import serve_in_thread
    from seawall.registry_server import create_registry_app

    with serve_in_thread(create_registry_app(reg)) as url, seawall.Registry(url) as remote:
        yield remote, pipe
    reg.close()


def test_alias_move_swaps_without_dropping_a_request(registry_with_two_versions, rng):
    reg, pipe = registry_with_two_versions
    app = create_app(
        "models:/scaled@champion",
        registry=reg,
        trust_code=True,
        watch_interval_s=0.05,
        max_queue_delay_us=500,
    )
    payloads = [records(transactions(rng, int(rng.integers(1, 6)))) for _ in range(400)]
    answers: list[tuple[int, int, str, list[float]]] = []
    lock = threading.Lock()
    moved = threading.Event()

    with running(app) as url:

        def client(k: int) -> None:
            with httpx.Client(base_url=url, timeout=30) as http:
                for i in range(k, len(payloads), 8):
                    r = http.post("/v1/models/scaled/predict", json={"records": payloads[i]})
                    body = r.json()
                    with lock:
                        answers.append(
                            (
                                i,
                                r.status_code,
                                body.get("model_version"),
                                body.get("outputs", {}).get("output"),
                            )
                        )
                    if i >= len(payloads) // 3:
                        moved.wait(10)  # a third of the traffic before the move, the rest after

        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(client, k) for k in range(8)]
            while len(answers) < len(payloads) // 3:
                time.sleep(0.005)
            reg.set_alias("scaled", "champion", 2, reason="better")
            moved.set()
            for f in futures:
                f.result()
        served = httpx.get(f"{url}/v2/models/scaled").json()
    assert served["versions"] == ["2"]
    assert len(answers) == len(payloads)
    assert all(status == 200 for _, status, _, _ in answers), [a for a in answers if a[1] != 200]
    versions = {v for _, _, v, _ in answers}
    assert versions == {"1", "2"}
    for i, _, version, output in answers:
        factor = 1.0 if version == "1" else 2.0
        np.testing.assert_allclose(output, expected(pipe, payloads[i], factor), rtol=1e-6)
    state = app.state.seawall
    assert state.watchers[0].swaps == 1 and state.models["scaled"].version == "2"
    state.close()


def test_server_profiles_what_it_serves(registry_with_two_versions, rng):
    reg, pipe = registry_with_two_versions
    slices = []
    app = create_app(
        "models:/scaled/1",
        registry=reg,
        trust_code=True,
        profile_slice_s=3600,
        on_slice=lambda name, s: slices.append((name, s)),
    )
    sent = [transactions(rng, int(rng.integers(1, 20))) for _ in range(30)]
    with running(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        for columns in sent:
            assert (
                http.post("/v1/models/scaled/predict", json={"columns": columns}).status_code == 200
            )
        # the v2 protocol with one JSON row: the live profile sees it too
        one = transactions(rng, 1)
        inputs = [
            {"name": "amount", "shape": [1], "datatype": "FP64", "data": [one["amount"][0] or 1.0]},
            {
                "name": "merchant",
                "shape": [1],
                "datatype": "BYTES",
                "data": [one["merchant"][0] or "x"],
            },
            {"name": "age", "shape": [1], "datatype": "INT64", "data": one["age"]},
        ]
        assert http.post("/v2/models/scaled/infer", json={"inputs": inputs}).status_code == 200
    profiler = app.state.seawall.profiler("scaled")
    profiler.flush(close_slice=True)
    assert len(slices) == 1 and slices[0][0] == "scaled"
    live = slices[0][1]
    table = pa.concat_tables([pa.table(c) for c in sent], promote_options="permissive")
    rows = table.num_rows + 1
    assert live.rows == rows
    assert live.features.stats("age")["count"] == rows
    assert live.features.stats("amount")["nulls"] == table.column("amount").null_count
    truth = np.concatenate([table.column("age").to_numpy(), np.asarray(one["age"], dtype=float)])
    assert live.features.stats("age")["max"] == truth.max()
    outputs = expected(pipe, table.to_pylist(), 1.0)
    assert live.predictions.columns == ["output"]
    assert live.predictions.stats("output")["count"] == rows
    assert live.predictions.stats("output")["min"] <= outputs.min()
    app.state.seawall.close()


def test_monitor_gets_slices_metrics_and_the_new_reference(tmp_path, rng):
    import math

    from seawall.drift import compare
    from seawall.monitoring import Monitor

    train = transactions(rng, 800)
    reg, _ = two_versions(tmp_path, rng, train, profile=seawall.Profile.from_data(train))
    monitor = Monitor(
        "scaled", registry=reg, version="champion", window_s=1, origin=0, background=False
    )
    app = create_app(
        "models:/scaled@champion",
        registry=reg,
        trust_code=True,
        profile_slice_s=3600,
        watch_interval_s=3600,
        monitors={"scaled": monitor},
        dashboard=True,
    )
    shifted = transactions(rng, 600)
    shifted["age"] = [a + 40 for a in shifted["age"]]  # older customers: age drifts
    with running(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        assert http.post("/v1/models/scaled/predict", json={"columns": shifted}).status_code == 200
        app.state.seawall.profiler("scaled").flush(close_slice=True)
        monitor.advance(math.inf)
        report = monitor.latest
        assert report is not None and report.rows == 600
        assert report.features["age"].drifted is True
        # The oracle: the same drift report straight from the two profiles.
        expected = compare(
            seawall.Profile.from_data(train), seawall.Profile.from_data(pa.table(shifted))
        )
        assert report.features["age"].statistic == pytest.approx(expected["age"].statistic)
        metrics = http.get("/metrics").text
        line = next(
            m
            for m in metrics.splitlines()
            if m.startswith("seawall_monitor_drift_score{") and 'feature="age"' in m
        )
        # the exported score of a test is its p-value
        assert float(line.rsplit(" ", 1)[1]) == pytest.approx(report.features["age"].pvalue)
        page = http.get("/ui/")
        assert page.status_code == 200 and "scaled" in page.text
    assert monitor.version == "1"
    reg.set_alias("scaled", "champion", 2, reason="retrained")
    assert app.state.seawall.watchers[0].check_now()  # what the watcher thread does
    assert app.state.seawall.models["scaled"].version == "2"
    assert monitor.version == "2"  # windows from now on compare with version 2's reference
    app.state.seawall.close()
    monitor.close()
    reg.close()


def test_a_stuck_monitor_never_stops_serving(registry_with_two_versions, rng):
    """The live profile's consumer hangs (a monitor stuck on a slow disk, say): requests go on
    being answered, the profiler's backlog stays bounded and what overflows is counted."""
    reg, pipe = registry_with_two_versions
    release = threading.Event()
    entered = threading.Event()

    def stuck(name, s):
        entered.set()
        release.wait(60)

    app = create_app(
        "models:/scaled/1", registry=reg, trust_code=True, profile_slice_s=0.05, on_slice=stuck
    )
    profiler = app.state.seawall.profiler("scaled")
    profiler.max_pending_rows = 200
    sent = 0
    with running(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        deadline = time.monotonic() + 30
        while not entered.is_set() or sent < 300:
            assert time.monotonic() < deadline, "the profiler never called its consumer"
            columns = transactions(rng, 5)
            r = http.post("/v1/models/scaled/predict", json={"columns": columns})
            assert r.status_code == 200
            np.testing.assert_allclose(
                r.json()["outputs"]["output"], expected(pipe, records(columns), 1.0), rtol=1e-6
            )
            sent += 1
        assert profiler.dropped_rows > 0  # the backlog was bounded, not grown
        release.set()
    app.state.seawall.close()


class Unloadable(Scaled):
    """A model whose unpickling fails while `broken` is set, as one whose class the server lacks
    does; once cleared, it loads (as when an artifact store that was down answers again).
    ``loads`` counts the attempts to unpickle it."""

    broken = threading.Event()
    loads = 0

    def __setstate__(self, state: dict) -> None:
        type(self).loads += 1
        if type(self).broken.is_set():
            raise ModuleNotFoundError("No module named 'fraud_features_v2'")
        self.__dict__.update(state)


@pytest.fixture
def broken_second_version(tmp_path, rng):
    """'scaled' version 1 (factor 1, champion) and version 2 (factor 2, without the 'age'
    column), whose model does not unpickle until Unloadable.broken is cleared."""
    reg, pipe = two_versions(tmp_path, rng, transactions(rng, 500))
    train = transactions(rng, 500)
    del train["age"]
    pipe2 = sw_pipeline_without_age().fit(train)
    example = records(transactions(rng, 5))
    for row in example:
        del row["age"]
    path = save_bundle(
        tmp_path / "v3",
        python_model=Unloadable(2.0),
        pipeline=pipe2,
        name="scaled",
        example=example,
    )
    reg.register_model("scaled", path)  # version 3: version 2 stays unused
    Unloadable.broken.set()
    Unloadable.loads = 0
    yield reg, pipe, pipe2
    Unloadable.broken.clear()
    reg.close()


def sw_pipeline_without_age():
    return seawall.FeaturePipeline(
        {
            "amount": [seawall.Impute("median"), seawall.Log1p(), seawall.StandardScale()],
            "merchant": [seawall.Impute("constant", fill_value="unknown"), seawall.OneHot()],
        }
    )


def attempts_in(polls: int, cap: int) -> int:
    """Loads tried in `polls` polls after the alias moved, by the back-off rule: the first poll
    tries; after the k-th failure the next try comes 2**k polls later, at most `cap` polls."""
    tried, due, k = 0, 1, 0
    for poll in range(1, polls + 1):
        if poll == due:
            tried += 1
            k += 1
            due = poll + min(2**k, cap)
    return tried


def swap_counts(metrics: str, model: str) -> dict[str, float]:
    out = {}
    for line in metrics.splitlines():
        if line.startswith("seawall_model_swaps_total{") and f'model="{model}"' in line:
            result = line.split('result="', 1)[1].split('"', 1)[0]
            out[result] = float(line.rsplit(" ", 1)[1])
    return out


def test_a_version_that_does_not_load_is_logged_once_and_retried_with_backoff(
    broken_second_version, rng, caplog
):
    reg, pipe, _ = broken_second_version
    caplog.set_level(logging.DEBUG, logger="seawall.serving")
    app = create_app(
        "models:/scaled@champion", registry=reg, trust_code=True, watch_interval_s=0.005
    )
    watcher = app.state.seawall.watchers[0]
    with running(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        before = watcher.checks
        reg.set_alias("scaled", "champion", 3, reason="broken")
        after = watcher.checks
        deadline = time.monotonic() + 60
        while watcher.checks < after + 150:  # many poll intervals of a broken version
            assert time.monotonic() < deadline, "the watcher stopped polling"
            time.sleep(0.01)
        watcher.close()
        # still serving version 1, as if nothing happened
        columns = transactions(rng, 7)
        r = http.post("/v1/models/scaled/predict", json={"columns": columns})
        assert r.status_code == 200 and r.json()["model_version"] == "1"
        np.testing.assert_allclose(
            r.json()["outputs"]["output"], expected(pipe, records(columns), 1.0), rtol=1e-6
        )
        counts = swap_counts(http.get("/metrics").text, "scaled")
    polls = watcher.checks
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert "version 3" in errors[0].getMessage() and "fraud_features_v2" in errors[0].getMessage()
    assert sum(1 for r in caplog.records if r.exc_info) == 1  # one traceback, not one a poll
    # every load attempt failed and was counted; back-off made them few
    assert Unloadable.loads == watcher.failures == counts["failed"]
    assert counts["ok"] == 0 and watcher.swaps == 0
    cap = math.ceil(watcher.max_backoff_s / watcher.interval_s)
    assert Unloadable.loads in {
        attempts_in(n, cap) for n in range(polls - after, polls - before + 1)
    }
    app.state.seawall.close()


def test_a_version_that_loads_later_is_swapped_and_logged(broken_second_version, rng, caplog):
    reg, _, pipe2 = broken_second_version
    caplog.set_level(logging.INFO, logger="seawall.serving")
    app = create_app(
        "models:/scaled@champion", registry=reg, trust_code=True, watch_interval_s=3600
    )
    watcher = app.state.seawall.watchers[0]
    watcher.interval_s, watcher.max_backoff_s = 1.0, 8.0  # polls driven by hand: at most every 8th
    reg.set_alias("scaled", "champion", 3, reason="broken")
    polls = int(rng.integers(40, 80))
    assert not any(watcher.check_now() for _ in range(polls))
    assert Unloadable.loads == attempts_in(polls, 8) == watcher.failures
    Unloadable.broken.clear()  # the store answers again
    waited = 1
    while not watcher.check_now():
        waited += 1
        assert waited <= 8, "the retry did not come within the back-off cap"
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    swap = [m for m in messages if "now serves version 3" in m]
    assert swap == ["hot swap: 'scaled' now serves version 3 (was 1); signature changes: input "
                    "'age' removed"]  # fmt: skip
    assert any("loads now, after" in m for m in messages)
    with running(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        columns = transactions(rng, 9)
        del columns["age"]
        r = http.post("/v1/models/scaled/predict", json={"columns": columns})
        assert r.status_code == 200 and r.json()["model_version"] == "3"
        np.testing.assert_allclose(
            r.json()["outputs"]["output"], expected(pipe2, records(columns), 2.0), rtol=1e-6
        )
        counts = swap_counts(http.get("/metrics").text, "scaled")
    assert counts == {"ok": 1.0, "failed": float(watcher.failures)}
    app.state.seawall.close()


def test_an_unreachable_registry_is_logged_once_and_again_when_it_answers(
    registry_with_two_versions, monkeypatch, caplog
):
    from seawall.errors import SeawallError

    reg, _ = registry_with_two_versions
    caplog.set_level(logging.INFO, logger="seawall.serving")
    app = create_app(
        "models:/scaled@champion", registry=reg, trust_code=True, watch_interval_s=0.005
    )
    watcher = app.state.seawall.watchers[0]
    answer = reg.resolve
    down = threading.Event()
    down.set()

    def resolve(uri):
        if down.is_set():
            raise SeawallError("could not connect to server: Connection refused")
        return answer(uri)

    monkeypatch.setattr(reg, "resolve", resolve)
    deadline = time.monotonic() + 60
    while watcher.errors < 100:
        assert time.monotonic() < deadline, "the watcher stopped polling"
        time.sleep(0.01)
    reg.set_alias("scaled", "champion", 2)
    down.clear()
    while app.state.seawall.models["scaled"].version != "2":
        assert time.monotonic() < deadline, "the watcher did not come back"
        time.sleep(0.01)
    app.state.seawall.close()
    assert sum(r.levelno >= logging.WARNING for r in caplog.records) == 1
    messages = [r.getMessage() for r in caplog.records]
    assert sum("cannot ask the registry" in m for m in messages) == 1
    assert sum("Connection refused" in m for m in messages) == 1
    assert sum("the registry answers again" in m for m in messages) == 1
    assert not any(r.exc_info for r in caplog.records)
