"""The server follows a registry alias (hot swap) without dropping a request, and profiles what it
serves. A real registry, real bundles, a real uvicorn and real HTTP clients."""

from __future__ import annotations

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


@pytest.fixture
def registry_with_two_versions(tmp_path, rng):
    reg, pipe = two_versions(tmp_path, rng, transactions(rng, 500))
    yield reg, pipe
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
