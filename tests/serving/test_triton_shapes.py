"""Triton's /v2/models/{m}/config and /stats, read by tritonclient (get_model_config,
get_inference_statistics) and checked field by field against what perf_analyzer reads (its
ModelParser::InitTriton and TritonClientBackend::ParseStatistics: perf_analyzer itself cannot be
installed here), with the counts checked against the instrumented model's own log of calls."""

from __future__ import annotations

import collections
import math
import time
import uuid

import httpx
import pytest
from serving_helpers import pipeline, records, running, transactions
from warmup_models import SLEEP_S, Recording, reset, sizes

from seawall.serving import create_app, save_bundle

triton = pytest.importorskip("tritonclient.http")


def perf_analyzer_reads_config(config, metadata):
    """The fields of a model config perf_analyzer reads, with the types it reads them as."""
    assert isinstance(config["name"], str)
    assert type(config["max_batch_size"]) is int
    assert isinstance(config.get("platform", ""), str)
    assert "sequence_batching" not in config and "ensemble_scheduling" not in config
    names = {i["name"] for i in metadata["inputs"]}
    for tensor in config["input"]:
        assert tensor["name"] in names
        assert isinstance(tensor.get("is_shape_tensor", False), bool)
        assert isinstance(tensor.get("optional", False), bool)
    outputs = {o["name"] for o in metadata["outputs"]}
    for tensor in config["output"]:
        assert tensor["name"] in outputs
        assert isinstance(tensor.get("is_shape_tensor", False), bool)


def perf_analyzer_reads_stats(stats):
    """The fields of a statistics answer perf_analyzer reads (GetUint64, GetString)."""
    for entry in stats["model_stats"]:
        assert isinstance(entry["name"], str) and isinstance(entry["version"], str)
        for key in ("inference_count", "execution_count"):
            assert type(entry[key]) is int and entry[key] >= 0
        for key in (
            "success",
            "queue",
            "compute_input",
            "compute_infer",
            "compute_output",
            "cache_hit",
            "cache_miss",
        ):
            for field in ("count", "ns"):
                value = entry["inference_stats"][key][field]
                assert type(value) is int and value >= 0, (key, field)


TRITON_TYPES = {
    "FP64": "TYPE_FP64",
    "INT64": "TYPE_INT64",
    "BYTES": "TYPE_STRING",
    "FP32": "TYPE_FP32",
}


def test_config_has_the_batching_settings_and_tensors(onnx_bundle):
    app = create_app(
        onnx_bundle,
        max_batch_size=32,
        preferred_batch_sizes=[16, 4],
        max_queue_delay_us=300,
        instances=2,
        max_queue_size=100,
        default_timeout_us=50_000,
        priority_levels=3,
    )
    with running(app) as url:
        client = triton.InferenceServerClient(url=url.removeprefix("http://"))
        try:
            config = client.get_model_config("fraud")
            metadata = client.get_model_metadata("fraud")
            assert client.get_model_config("fraud", "3") == config
        finally:
            client.close()
    perf_analyzer_reads_config(config, metadata)
    assert config["name"] == "fraud" and config["platform"] == "onnxruntime_onnx"
    assert config["max_batch_size"] == 32
    assert config["version_policy"] == {"specific": {"versions": [3]}}
    batching = config["dynamic_batching"]
    assert batching["preferred_batch_size"] == [4, 16]
    assert batching["max_queue_delay_microseconds"] == 300
    assert batching["priority_levels"] == 3 and batching["default_priority_level"] == 3
    assert batching["default_queue_policy"]["max_queue_size"] == 100
    assert batching["default_queue_policy"]["default_timeout_microseconds"] == 50_000
    assert config["instance_group"][0]["count"] == 2
    assert config["instance_group"][0]["kind"] == "KIND_CPU"
    # one tensor per metadata tensor, the same datatype, dims without the batch axis
    for kind, meta in (("input", metadata["inputs"]), ("output", metadata["outputs"])):
        assert [t["name"] for t in config[kind]] == [t["name"] for t in meta]
        for tensor, spec in zip(config[kind], meta, strict=True):
            assert tensor["data_type"] == TRITON_TYPES[spec["datatype"]]
            dims = [int(d) for d in spec["shape"][1:]]
            if dims:
                assert tensor["dims"] == dims
            else:  # one value per row
                assert tensor["dims"] == [1] and tensor["reshape"] == {"shape": []}
    assert [w["batch_size"] for w in config["model_warmup"]] == [1, 4, 16, 32]
    app.state.seawall.close()


def test_stats_count_requests_batches_and_phases(tmp_path, rng):
    key = uuid.uuid4().hex
    pipe = pipeline().fit(transactions(rng, 300))
    path = save_bundle(
        tmp_path / "m",
        python_model=Recording(key),
        pipeline=pipe,
        version=4,
        example=records(transactions(rng, 5)),
    )
    reset(key)
    SLEEP_S[key] = 0.003
    max_batch = 8
    app = create_app(path, trust_code=True, max_batch_size=max_batch, max_queue_delay_us=1000)
    good = [int(rng.integers(1, 20)) for _ in range(int(rng.integers(10, 25)))]
    bad = int(rng.integers(1, 5))
    with running(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        before = http.get("/v2/models/m/stats").json()["model_stats"][0]
        warmup_calls = len(sizes(key))  # its last one ran as the server started
        for rows in good:
            r = http.post(
                "/v1/models/m/predict", json={"records": records(transactions(rng, rows))}
            )
            assert r.status_code == 200
        for _ in range(bad):
            assert http.post("/v1/models/m/predict", json={"records": "x"}).status_code == 400
        client = triton.InferenceServerClient(url=url.removeprefix("http://"))
        try:
            deadline = time.monotonic() + 10
            while True:  # the batcher counts compute_output just after it answers
                stats = client.get_inference_statistics("m")
                phases = stats["model_stats"][0]["inference_stats"]
                if phases["compute_output"]["count"] == phases["queue"]["count"]:
                    break
                assert time.monotonic() < deadline
                time.sleep(0.01)
            assert client.get_inference_statistics("m", "4") == stats
            every = client.get_inference_statistics()
        finally:
            client.close()
    perf_analyzer_reads_stats(stats)
    perf_analyzer_reads_stats(every)
    assert before["execution_count"] == 0 and before["inference_stats"]["success"]["count"] == 0
    (entry,) = stats["model_stats"]
    assert every["model_stats"][0]["name"] == "m"
    calls = sizes(key)[warmup_calls:]  # the model's own log, after its warm-up
    assert entry["name"] == "m" and entry["version"] == "4"
    assert entry["execution_count"] == len(calls)
    assert entry["inference_count"] == sum(calls) == sum(good)
    inference = entry["inference_stats"]
    assert inference["success"]["count"] == len(good)
    assert inference["fail"]["count"] == bad
    parts = sum(math.ceil(rows / max_batch) for rows in good)  # batcher requests
    for phase in ("queue", "compute_input", "compute_infer", "compute_output"):
        assert inference[phase]["count"] == parts, phase
    # each request counts its batch's model call, which slept 3 ms
    assert inference["compute_infer"]["ns"] >= parts * 3_000_000
    assert inference["success"]["ns"] >= inference["compute_infer"]["ns"] / max_batch
    assert entry["last_inference"] > 0
    by_size = {b["batch_size"]: b for b in entry["batch_stats"]}
    assert {n: b["compute_infer"]["count"] for n, b in by_size.items()} == dict(
        collections.Counter(calls)
    )
    for b in by_size.values():
        assert b["compute_infer"]["ns"] >= b["compute_infer"]["count"] * 3_000_000
        assert (
            b["compute_input"]["count"]
            == b["compute_output"]["count"]
            == b["compute_infer"]["count"]
        )
    app.state.seawall.close()


def test_stats_of_every_live_version(tmp_path, rng):
    pipe = pipeline().fit(transactions(rng, 100))
    paths = [
        save_bundle(
            tmp_path / name, python_model=Recording(uuid.uuid4().hex), pipeline=pipe, version=v
        )
        for name, v in (("a", 1), ("b", 2))
    ]
    app = create_app(paths, trust_code=True)
    with running(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        every = http.get("/v2/models/stats").json()
        one = http.get("/v2/models/b/versions/2/stats").json()
    perf_analyzer_reads_stats(every)
    assert [(e["name"], e["version"]) for e in every["model_stats"]] == [("a", "1"), ("b", "2")]
    assert [(e["name"], e["version"]) for e in one["model_stats"]] == [("b", "2")]
    app.state.seawall.close()
