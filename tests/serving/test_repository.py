"""The model repository extension and model control, against tritonclient's own implementation of
it (load_model, unload_model, get_model_repository_index) and raw HTTP: several live versions of a
model, explicit loads from a real registry and from bundle folders, the errors Triton answers, a
load that fails, an unload with requests in flight, and what an unload releases."""

from __future__ import annotations

import gc
import os
import threading
import time
import uuid
import weakref
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pyarrow as pa
import pytest
from serving_helpers import pipeline, records, running, seawall_serve, transactions
from warmup_models import FAIL_AT, GATES, SLEEP_S, STARTED, Recording, reset, sizes

import seawall
from seawall.serving import create_app, save_bundle
from seawall.serving.warmup import PATH_ROUNDS

triton = pytest.importorskip("tritonclient.http")
from tritonclient.utils import InferenceServerException  # noqa: E402


def expected(pipe, rows, factor):
    return pipe.transform(pa.Table.from_pylist(rows)).astype(np.float64).sum(axis=1) * factor


class Versions:
    """A registry holding model 'scaled' versions 1, 2 and 3 (factors 1, 2, 3), each an
    instrumented model with a key of its own, and version 1 as champion."""

    def __init__(self, tmp_path, rng) -> None:
        self.reg = seawall.Registry(f"sqlite:///{tmp_path / 'reg.db'}", artifacts=tmp_path / "art")
        self.pipe = pipeline().fit(transactions(rng, 300))
        self.keys = {}
        example = records(transactions(rng, 5))
        for version in (1, 2, 3):
            key = uuid.uuid4().hex
            path = save_bundle(
                tmp_path / f"v{version}",
                python_model=Recording(key, float(version)),
                pipeline=self.pipe,
                name="scaled",
                example=example,
            )
            self.reg.register_model("scaled", path)
            reset(key)
            self.keys[version] = key
        self.reg.set_alias("scaled", "champion", 1, reason="first")


@pytest.fixture
def versions(tmp_path, rng):
    v = Versions(tmp_path, rng)
    yield v
    for key in v.keys.values():
        if key in GATES:
            GATES[key].set()
    v.reg.close()


def client_of(url: str):
    return triton.InferenceServerClient(url=url.removeprefix("http://"))


def triton_infer(client, rows, version=""):
    """tritonclient's inference on `rows` (no missing values), the output as numpy."""
    n = len(rows)
    inputs = [
        triton.InferInput("amount", [n], "FP64"),
        triton.InferInput("merchant", [n], "BYTES"),
        triton.InferInput("age", [n], "INT64"),
    ]
    inputs[0].set_data_from_numpy(np.array([r["amount"] for r in rows], dtype=np.float64))
    inputs[1].set_data_from_numpy(np.array([r["merchant"] for r in rows], dtype=object))
    inputs[2].set_data_from_numpy(np.array([r["age"] for r in rows], dtype=np.int64))
    result = client.infer("scaled", inputs, model_version=version)
    return result.get_response()["model_version"], result.as_numpy("output")


def complete_rows(rng, n):
    rows = records(transactions(rng, n))
    for r in rows:
        r["amount"] = 1.5 if r["amount"] is None else r["amount"]
        r["merchant"] = "merchant_00" if r["merchant"] is None else r["merchant"]
    return rows


def test_tritonclient_loads_several_versions_and_unloads_them(versions, rng):
    app = create_app([], registry=versions.reg, trust_code=True, model_control="explicit")
    with running(app) as url:
        client = client_of(url)
        try:
            assert client.get_model_repository_index() == [
                {"name": "scaled", "state": "UNAVAILABLE", "reason": "not loaded"}
            ]
            assert client.is_server_ready() and not client.is_model_ready("scaled")
            extensions = client.get_server_metadata()["extensions"]
            assert {"model_repository", "model_configuration", "statistics"} <= set(extensions)
            client.load_model("scaled")  # models:/scaled@champion: version 1
            assert client.is_model_ready("scaled") and client.is_model_ready("scaled", "1")
            rows = complete_rows(rng, int(rng.integers(1, 20)))
            version, out = triton_infer(client, rows)
            assert version == "1"
            np.testing.assert_allclose(out, expected(versions.pipe, rows, 1.0), rtol=1e-6)
            # a second version, by number, beside the first
            r = httpx.post(
                f"{url}/v2/repository/models/scaled/load", json={"parameters": {"version": 2}}
            )
            assert r.status_code == 200 and r.content == b""
            assert client.get_model_repository_index() == [
                {"name": "scaled", "version": "1", "state": "READY", "reason": ""},
                {"name": "scaled", "version": "2", "state": "READY", "reason": ""},
            ]
            version, out = triton_infer(client, rows, version="2")
            assert version == "2"
            np.testing.assert_allclose(out, expected(versions.pipe, rows, 2.0), rtol=1e-6)
            assert triton_infer(client, rows)[0] == "1"  # the default is still the champion
            assert client.get_model_metadata("scaled", "2")["versions"] == ["2"]
            assert client.get_inference_statistics("scaled")["model_stats"][1]["version"] == "2"
            assert client.get_model_repository_index() == client.get_model_repository_index()
            client.unload_model("scaled")
            assert client.get_model_repository_index() == [
                {"name": "scaled", "version": "1", "state": "UNAVAILABLE", "reason": "unloaded"},
                {"name": "scaled", "version": "2", "state": "UNAVAILABLE", "reason": "unloaded"},
            ]
            assert not client.is_model_ready("scaled")
            with pytest.raises(InferenceServerException) as info:
                triton_infer(client, rows)
            assert info.value.status() == "404"
            assert app.state.seawall.repository.live() == []
        finally:
            client.close()
    app.state.seawall.close()


def test_one_version_unloads_and_the_highest_left_becomes_the_default(versions, rng):
    app = create_app([], registry=versions.reg, trust_code=True, model_control="explicit")
    with running(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        for version in (1, 3, 2):
            body = {"parameters": {"version": str(version)}}
            assert http.post("/v2/repository/models/scaled/load", json=body).status_code == 200
        rows = complete_rows(rng, 3)

        def answer(path):
            r = http.post(path, json={"records": rows})
            return r.status_code, r.json().get("model_version")

        assert answer("/v1/models/scaled/predict") == (200, "1")
        r = http.post("/v2/repository/models/scaled/unload", json={"parameters": {"version": "1"}})
        assert r.status_code == 200
        assert answer("/v1/models/scaled/predict") == (200, "3")
        assert answer("/v1/models/scaled/versions/2/predict") == (200, "2")
        assert answer("/v1/models/scaled/versions/1/predict")[0] == 404
        r = http.post("/v2/repository/models/scaled/unload", json={"parameters": {"version": "1"}})
        assert r.status_code == 404 and "no version '1'" in r.json()["error"]
        states = {e.get("version"): e["state"] for e in http.post("/v2/repository/index").json()}
        assert states == {"1": "UNAVAILABLE", "2": "READY", "3": "READY"}
        ready = http.post("/v2/repository/index", json={"ready": True}).json()
        assert [e["version"] for e in ready] == ["3", "2"]
    app.state.seawall.close()


def test_model_control_none_refuses_loads_as_triton_does(onnx_bundle, rng):
    app = create_app(onnx_bundle)
    with running(app) as url:
        client = client_of(url)
        try:
            for call in (client.load_model, client.unload_model):
                with pytest.raises(InferenceServerException) as info:
                    call("fraud")
                assert info.value.status() == "503"
                assert "explicit model load / unload is not allowed" in info.value.message()
            assert client.get_model_repository_index() == [
                {"name": "fraud", "version": "3", "state": "READY", "reason": ""}
            ]
            assert client.is_model_ready("fraud")  # still serving
        finally:
            client.close()
    app.state.seawall.close()


def test_unknown_models_and_versions_are_404_with_tritons_error(versions):
    app = create_app([], registry=versions.reg, trust_code=True, model_control="explicit")
    with running(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        assert http.post("/v2/repository/models/scaled/load").status_code == 200
        for method, path in [
            ("POST", "/v2/repository/models/nope/load"),
            ("POST", "/v2/repository/models/nope/unload"),
            ("GET", "/v2/models/nope/config"),
            ("GET", "/v2/models/nope/stats"),
            ("GET", "/v2/models/scaled/versions/9/config"),
            ("GET", "/v2/models/scaled/versions/9/stats"),
        ]:
            r = http.request(method, path)
            assert r.status_code == 404, path
            assert list(r.json()) == ["error"] and isinstance(r.json()["error"], str), path
        r = http.post("/v2/repository/models/scaled/load", json={"parameters": {"version": "9"}})
        assert r.status_code == 404 and "9" in r.json()["error"]
        client = client_of(url)
        try:
            with pytest.raises(InferenceServerException) as info:
                client.get_model_config("nope")
            assert info.value.status() == "404"
            with pytest.raises(InferenceServerException) as info:
                client.get_inference_statistics("scaled", "9")
            assert info.value.status() == "404"
        finally:
            client.close()
    app.state.seawall.close()


def test_bad_load_requests_are_400(versions, tmp_path, rng):
    folder = save_bundle(
        tmp_path / "folder", python_model=Recording("folder"), pipeline=versions.pipe
    )
    app = create_app([folder], registry=versions.reg, trust_code=True, model_control="explicit")
    with running(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        for name, body in [
            ("scaled", {"parameters": {"version": "abc"}}),
            ("scaled", {"parameters": {"version": True}}),
            ("scaled", {"parameters": {"alias": "a/b"}}),
            ("scaled", {"parameters": {"version": 2, "alias": "champion"}}),
            ("scaled", {"parameters": {"replicas": 2}}),
            ("scaled", {"parameters": "version 2"}),
            ("scaled", [1, 2]),
            ("folder", {"parameters": {"version": 2}}),
        ]:
            r = http.post(f"/v2/repository/models/{name}/load", json=body)
            assert r.status_code == 400, body
            assert list(r.json()) == ["error"]
        r = http.post("/v2/repository/models/scaled/load", content=b"{not json")
        assert r.status_code == 400
        client = client_of(url)
        try:
            with pytest.raises(InferenceServerException, match="not supported") as info:
                client.load_model("scaled", config='{"max_batch_size": 8}')
            assert info.value.status() == "400"
        finally:
            client.close()
        assert app.state.seawall.repository.live() == []  # nothing was loaded
    app.state.seawall.close()


def test_a_load_that_fails_leaves_the_old_versions_serving(versions, rng):
    FAIL_AT[versions.keys[2]] = 64  # version 2 fails its warm-up at the maximum batch size
    app = create_app([], registry=versions.reg, trust_code=True, model_control="explicit")
    with running(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        assert http.post("/v2/repository/models/scaled/load").status_code == 200
        rows = complete_rows(rng, 4)
        r = http.post("/v2/repository/models/scaled/load", json={"parameters": {"version": 2}})
        assert r.status_code == 400
        assert "warm-up at batch size 64" in r.json()["error"]
        # through the alias too: the champion moved to the broken version
        versions.reg.set_alias("scaled", "champion", 2, reason="broken")
        r = http.post("/v2/repository/models/scaled/load")
        assert r.status_code == 400 and "warm-up" in r.json()["error"]
        answer = http.post("/v1/models/scaled/predict", json={"records": rows}).json()
        assert answer["model_version"] == "1"
        np.testing.assert_allclose(
            answer["outputs"]["output"], expected(versions.pipe, rows, 1.0), rtol=1e-6
        )
        index = http.post("/v2/repository/index").json()
        assert index[0] == {"name": "scaled", "version": "1", "state": "READY", "reason": ""}
        assert index[1]["version"] == "2" and index[1]["state"] == "UNAVAILABLE"
        assert "failed to load" in index[1]["reason"]
        assert http.get("/v2/models/scaled/versions/2/ready").status_code == 404
    app.state.seawall.close()


def test_a_load_is_ready_only_after_its_warmup(versions, rng):
    key = versions.keys[1]
    GATES[key] = gate = threading.Event()
    app = create_app(
        [],
        registry=versions.reg,
        trust_code=True,
        model_control="explicit",
        max_batch_size=8,
        preferred_batch_sizes=[2],
    )
    with running(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        with ThreadPoolExecutor(1) as pool:
            load = pool.submit(http.post, "/v2/repository/models/scaled/load")
            assert STARTED[key].wait(30)
            # held in its warm-up: loading, not ready, not serving
            index = http.post("/v2/repository/index").json()
            assert index == [{"name": "scaled", "version": "1", "state": "LOADING", "reason": ""}]
            assert http.get("/v2/models/scaled/ready").status_code != 200
            rows = complete_rows(rng, 2)
            assert http.post("/v1/models/scaled/predict", json={"records": rows}).status_code == 404
            assert not load.done()
            gate.set()
            assert load.result().status_code == 200
        # the last on the server's event loop: a row, then requests through the app
        warm = [1, 1, 2, 2, 8, 8, 1, *[1] * (2 * PATH_ROUNDS)]
        assert sizes(key) == warm
        assert http.get("/v2/models/scaled/ready").status_code == 200
        r = http.post("/v1/models/scaled/predict", json={"records": rows})
        assert r.status_code == 200 and sizes(key) == [*warm, 2]
    app.state.seawall.close()


def test_unload_with_requests_in_flight_drops_none(versions, rng):
    key = versions.keys[1]
    SLEEP_S[key] = 0.01
    app = create_app(
        [],
        registry=versions.reg,
        trust_code=True,
        model_control="explicit",
        max_queue_delay_us=2000,
    )
    payloads = [complete_rows(rng, int(rng.integers(1, 5))) for _ in range(64)]
    answers: list[tuple[int, float, float, int, dict]] = []
    lock = threading.Lock()
    with running(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        assert http.post("/v2/repository/models/scaled/load").status_code == 200
        stop = threading.Event()

        def client(k: int) -> None:
            with httpx.Client(base_url=url, timeout=30) as own:
                i = k
                while not stop.is_set():
                    start = time.monotonic()
                    r = own.post("/v1/models/scaled/predict", json={"records": payloads[i % 64]})
                    with lock:
                        answers.append((i % 64, start, time.monotonic(), r.status_code, r.json()))
                    i += 8

        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(client, k) for k in range(8)]
            while len(answers) < 40:
                time.sleep(0.005)
            unloading = time.monotonic()
            assert http.post("/v2/repository/models/scaled/unload").status_code == 200
            unloaded = time.monotonic()
            time.sleep(0.1)
            stop.set()
            for f in futures:
                f.result()  # no client saw a connection error
    statuses = {status for _, _, _, status, _ in answers}
    assert statuses <= {200, 404, 503}, statuses
    for i, _, _, status, body in answers:
        if status == 200:
            np.testing.assert_allclose(
                body["outputs"]["output"], expected(versions.pipe, payloads[i], 1.0), rtol=1e-6
            )
        elif status == 503:
            assert "closed" in body["error"]
    # requests in flight when the unload began were answered, and it waited for them
    finished = [a for a in answers if a[1] < unloading and a[3] == 200 and a[2] > unloading]
    assert finished and all(end <= unloaded + 0.05 for _, _, end, _, _ in finished)
    # after the unload, every request is refused cleanly
    assert all(status == 404 for _, start, _, status, _ in answers if start > unloaded)
    app.state.seawall.close()


def native_threads() -> int:
    return len(os.listdir("/proc/self/task"))


def test_unload_releases_the_model_its_batcher_profile_and_watcher(versions, rng):
    app = create_app(
        [],
        registry=versions.reg,
        trust_code=True,
        model_control="explicit",
        watch_interval_s=0.05,
        profile_slice_s=0.05,
    )
    server = app.state.seawall
    with running(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        rows = complete_rows(rng, 3)
        threads = None
        for cycle in range(10):
            assert http.post("/v2/repository/models/scaled/load").status_code == 200
            body = {"parameters": {"version": 2}}
            assert http.post("/v2/repository/models/scaled/load", json=body).status_code == 200
            for path in ("/v1/models/scaled/predict", "/v1/models/scaled/versions/2/predict"):
                assert http.post(path, json={"records": rows}).status_code == 200
            live = server.repository.live()
            assert [s.version for s in live] == ["1", "2"] and len(server.watchers) == 1
            refs = [weakref.ref(x) for s in live for x in (s, s.bundle, s.batcher)]
            profiler = live[0].profiler
            assert live[1].profiler is profiler
            del live
            assert http.post("/v2/repository/models/scaled/unload").status_code == 200
            gc.collect()
            assert [r() for r in refs] == [None] * len(refs)
            assert not profiler._thread.is_alive()
            assert server.models == {} and server.watchers == [] and server.repository.live() == []
            if cycle == 0:
                threads = native_threads()
            else:
                assert native_threads() <= threads  # batcher, profiler and watcher threads ended
        assert len(server.repository._states) == 2  # one entry per version, not per cycle
    server.close()


def test_a_bundle_folder_is_read_again_at_each_load(tmp_path, rng):
    pipe = pipeline().fit(transactions(rng, 200))
    first, second = uuid.uuid4().hex, uuid.uuid4().hex
    path = save_bundle(tmp_path / "m", python_model=Recording(first, 1.0), pipeline=pipe, version=1)
    app = create_app(path, trust_code=True, model_control="explicit")
    with running(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        assert http.post("/v2/repository/index").json() == [
            {"name": "m", "state": "UNAVAILABLE", "reason": "not loaded"}
        ]
        rows = complete_rows(rng, 3)
        assert http.post("/v1/models/m/predict", json={"records": rows}).status_code == 404
        assert http.post("/v2/repository/models/m/load").status_code == 200
        out = http.post("/v1/models/m/predict", json={"records": rows}).json()
        np.testing.assert_allclose(out["outputs"]["output"], expected(pipe, rows, 1.0), rtol=1e-6)
        save_bundle(
            path, python_model=Recording(second, 5.0), pipeline=pipe, version=1, overwrite=True
        )
        assert http.post("/v2/repository/models/m/load").status_code == 200  # a reload
        out = http.post("/v1/models/m/predict", json={"records": rows}).json()
        np.testing.assert_allclose(out["outputs"]["output"], expected(pipe, rows, 5.0), rtol=1e-6)
        # a folder that no longer loads: the error, and the model loaded before goes on
        (path / "model.pkl").write_bytes(b"garbage")
        r = http.post("/v2/repository/models/m/load")
        assert r.status_code == 400 and "model.pkl" in r.json()["error"]
        out = http.post("/v1/models/m/predict", json={"records": rows}).json()
        np.testing.assert_allclose(out["outputs"]["output"], expected(pipe, rows, 5.0), rtol=1e-6)
    app.state.seawall.close()


def test_seawall_serve_with_explicit_model_control(onnx_bundle):
    with seawall_serve(str(onnx_bundle.path), "--model-control", "explicit") as (url, output):
        client = client_of(url)
        try:
            assert client.get_model_repository_index() == [
                {"name": "fraud", "state": "UNAVAILABLE", "reason": "not loaded"}
            ]
            assert not client.is_model_ready("fraud")
            client.load_model("fraud")
            assert client.is_model_ready("fraud", "3")
            config = client.get_model_config("fraud")
            assert config["name"] == "fraud" and config["max_batch_size"] == 64
            client.unload_model("fraud")
            assert not client.is_model_ready("fraud")
        finally:
            client.close()
    assert "model control explicit" in output[0]
