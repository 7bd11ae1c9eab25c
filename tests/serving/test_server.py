"""The Open Inference Protocol server, over real HTTP on loopback: health and metadata, inference
against the scikit-learn oracle (httpx and tritonclient's own implementation of the protocol),
raw records, bad requests, overload, concurrency, metrics, mounting, and the CLI."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import numpy as np
import pytest
from serving_helpers import (
    assert_matches_oracle,
    records,
    running,
    seawall_serve,
    transactions,
)

from seawall.errors import InvalidInputError
from seawall.serving import create_app, load_bundle, save_bundle


def v2_inputs(columns: dict[str, list[Any]], *, nested: bool = False) -> list[dict[str, Any]]:
    """Raw feature columns as v2 tensors: BYTES for strings, FP64 and INT64 for numbers."""
    n = len(columns["age"])
    types = {"amount": "FP64", "merchant": "BYTES", "age": "INT64"}
    return [
        {
            "name": name,
            "datatype": types[name],
            "shape": [n, 1] if nested else [n],
            "data": [[v] for v in values] if nested else values,
        }
        for name, values in columns.items()
    ]


def outputs_of(response: dict[str, Any]) -> dict[str, np.ndarray]:
    return {o["name"]: np.asarray(o["data"]).reshape(o["shape"]) for o in response["outputs"]}


@pytest.fixture(scope="module")
def server(onnx_bundle) -> Any:
    app = create_app(onnx_bundle, max_batch_size=32)
    with running(app) as url:
        yield url


@pytest.fixture
def client(server) -> Any:
    with httpx.Client(base_url=server, timeout=30) as c:
        yield c


# --- health and metadata ------------------------------------------------------------------------


def test_health_and_server_metadata(client):
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    meta = client.get("/v2").json()
    assert meta["name"] == "seawall"
    assert "extensions" in meta


def test_model_metadata_is_the_signature(client, onnx_bundle):
    meta = client.get("/v2/models/fraud").json()
    assert meta == client.get("/v2/models/fraud/versions/3").json()
    assert meta["name"] == "fraud"
    assert meta["versions"] == ["3"]
    assert meta["platform"] == "onnxruntime_onnx"
    assert meta["inputs"] == [s.to_dict() for s in onnx_bundle.signature.inputs]
    assert meta["outputs"] == [s.to_dict() for s in onnx_bundle.signature.outputs]
    assert client.get("/v2/models/fraud/ready").json() == {"name": "fraud", "ready": True}
    assert client.get("/v2/models/fraud/versions/3/ready").status_code == 200


def test_unknown_models_and_versions_are_404(client):
    for path in ("/v2/models/nope", "/v2/models/nope/ready", "/v2/models/fraud/versions/4"):
        r = client.get(path)
        assert r.status_code == 404, path
        assert "error" in r.json()
    r = client.post("/v2/models/nope/infer", json={"inputs": []})
    assert r.status_code == 404
    assert "fraud" in r.json()["error"]  # says what the server has


# --- inference --------------------------------------------------------------------------------


@pytest.mark.parametrize("nested", [False, True])
def test_infer_matches_the_oracle(client, fitted, rng, nested):
    data = transactions(rng, int(rng.integers(1, 200)))
    body = {"id": f"req-{rng.integers(1 << 30)}", "inputs": v2_inputs(data, nested=nested)}
    r = client.post("/v2/models/fraud/versions/3/infer", json=body)
    assert r.status_code == 200, r.text
    response = r.json()
    assert (response["model_name"], response["model_version"], response["id"]) == (
        "fraud",
        "3",
        body["id"],
    )
    kinds = {o["name"]: o["datatype"] for o in response["outputs"]}
    assert kinds == {"label": "INT64", "probabilities": "FP32"}
    assert_matches_oracle(outputs_of(response), fitted.oracle(data))


def test_single_rows_match_the_oracle(client, fitted, rng):
    """One-row requests take the pipeline's transform_one path: the same numbers."""
    data = transactions(rng, 30)
    for i in range(30):
        row = {k: v[i : i + 1] for k, v in data.items()}
        r = client.post("/v2/models/fraud/infer", json={"inputs": v2_inputs(row)})
        assert r.status_code == 200, r.text
        assert_matches_oracle(outputs_of(r.json()), fitted.oracle(row))
        x = fitted.pipeline.transform(row)
        np.testing.assert_array_equal(
            outputs_of(r.json())["probabilities"].astype(np.float32),
            fitted.onnx_session.run(None, {"X": x})[1],
        )


def test_infer_returns_only_the_outputs_asked_for(client, fitted, rng):
    data = transactions(rng, 7)
    body = {"inputs": v2_inputs(data), "outputs": [{"name": "probabilities"}]}
    response = client.post("/v2/models/fraud/infer", json=body).json()
    assert [o["name"] for o in response["outputs"]] == ["probabilities"]
    assert "id" not in response
    np.testing.assert_allclose(
        outputs_of(response)["probabilities"], fitted.oracle(data)["probabilities"], atol=1e-5
    )


def test_number_columns_take_any_number_type(client, fitted, rng):
    data = transactions(rng, 20)
    data["amount"] = [v if v is None else round(v) for v in data["amount"]]
    inputs = v2_inputs(data)
    inputs[0]["datatype"] = "INT32"
    inputs[2]["datatype"] = "FP32"
    r = client.post("/v2/models/fraud/infer", json={"inputs": inputs})
    assert r.status_code == 200, r.text
    assert_matches_oracle(outputs_of(r.json()), fitted.oracle(data))


def test_records_endpoint_matches_the_oracle(client, fitted, rng):
    data = transactions(rng, 40)
    expected = fitted.oracle(data)
    for body in ({"records": records(data)}, {"columns": data}, {"instances": records(data)}):
        r = client.post("/v1/models/fraud/predict", json={**body, "id": "x"})
        assert r.status_code == 200, r.text
        response = r.json()
        assert (response["model_name"], response["model_version"], response["id"]) == (
            "fraud",
            "3",
            "x",
        )
        assert_matches_oracle(response["outputs"], expected)
    r = client.post(
        "/v1/models/fraud/versions/3/predict", json={"records": records(data), "outputs": ["label"]}
    )
    assert list(r.json()["outputs"]) == ["label"]


def test_tritonclient_speaks_the_same_protocol(server, fitted, rng):
    """tritonclient's HTTP client is an independent implementation of the protocol."""
    import tritonclient.http as triton

    n = int(rng.integers(1, 50))
    data = transactions(rng, n)
    data["amount"] = [0.0 if v is None else v for v in data["amount"]]
    data["merchant"] = ["none" if v is None else v for v in data["merchant"]]
    client = triton.InferenceServerClient(url=server.removeprefix("http://"))
    try:
        assert client.is_server_live() and client.is_server_ready()
        assert client.is_model_ready("fraud", "3")
        meta = client.get_model_metadata("fraud")
        assert [i["name"] for i in meta["inputs"]] == ["amount", "merchant", "age"]
        inputs = [
            triton.InferInput("amount", [n], "FP64"),
            triton.InferInput("merchant", [n], "BYTES"),
            triton.InferInput("age", [n], "INT64"),
        ]
        inputs[0].set_data_from_numpy(np.array(data["amount"]), binary_data=False)
        inputs[1].set_data_from_numpy(np.array(data["merchant"], dtype=object), binary_data=False)
        inputs[2].set_data_from_numpy(np.array(data["age"], dtype=np.int64), binary_data=False)
        result = client.infer(
            "fraud",
            inputs,
            model_version="3",
            request_id="triton-1",
            outputs=[
                triton.InferRequestedOutput("label", binary_data=False),
                triton.InferRequestedOutput("probabilities", binary_data=False),
            ],
        )
        assert result.get_response()["id"] == "triton-1"
        got = {"label": result.as_numpy("label"), "probabilities": result.as_numpy("probabilities")}
        assert got["probabilities"].dtype == np.float32
        assert_matches_oracle(got, fitted.oracle(data))
    finally:
        client.close()


def test_tritonclient_binary_tensors_by_default(server, fitted, rng):
    """tritonclient sends inputs and asks for outputs as binary tensor data unless told not to;
    missing amounts travel as NaN there."""
    import tritonclient.http as triton

    n = int(rng.integers(1, 300))
    data = transactions(rng, n)
    data["merchant"] = ["none" if v is None else v for v in data["merchant"]]
    amount = np.array([np.nan if v is None else v for v in data["amount"]])
    client = triton.InferenceServerClient(url=server.removeprefix("http://"))
    try:
        inputs = [
            triton.InferInput("amount", [n], "FP64"),
            triton.InferInput("merchant", [n], "BYTES"),
            triton.InferInput("age", [n], "INT64"),
        ]
        inputs[0].set_data_from_numpy(amount)
        inputs[1].set_data_from_numpy(np.array(data["merchant"], dtype=object))
        inputs[2].set_data_from_numpy(np.array(data["age"], dtype=np.int64))
        result = client.infer("fraud", inputs)  # outputs: all, as binary
        got = {"label": result.as_numpy("label"), "probabilities": result.as_numpy("probabilities")}
        assert_matches_oracle(got, fitted.oracle(data))
        mixed = client.infer(
            "fraud",
            inputs,
            outputs=[
                triton.InferRequestedOutput("label", binary_data=False),
                triton.InferRequestedOutput("probabilities", binary_data=True),
            ],
        )
        np.testing.assert_array_equal(mixed.as_numpy("label"), got["label"])
        np.testing.assert_array_equal(mixed.as_numpy("probabilities"), got["probabilities"])
    finally:
        client.close()


def test_malformed_binary_requests_get_400(client, rng):
    data = transactions(rng, 2)
    header = {"inputs": v2_inputs(data)}
    header["inputs"][2] = {
        "name": "age",
        "datatype": "INT64",
        "shape": [2],
        "parameters": {"binary_data_size": 16},
    }
    text = json.dumps(header).encode()
    blob = np.array(data["age"], dtype="<i8").tobytes()
    url = "/v2/models/fraud/infer"

    def post(content, length):
        return client.post(
            url, content=content, headers={"Inference-Header-Content-Length": str(length)}
        )

    assert post(text + blob, len(text)).status_code == 200
    for content, length, message in [
        (text + blob, len(text) + len(blob) + 1, "Inference-Header-Content-Length"),
        (text + blob, "x", "Inference-Header-Content-Length"),
        (text + blob[:8], len(text), "past the end"),
        (text + blob + b"\0", len(text), "belong to no input"),
        (text + blob, len(text) - 1, "not valid JSON"),
    ]:
        r = post(content, length)
        assert r.status_code == 400, (length, r.text)
        assert message in r.json()["error"]
    r = client.post(
        "/v1/models/fraud/predict",
        content=text + blob,
        headers={"Inference-Header-Content-Length": str(len(text))},
    )
    assert r.status_code == 400


# --- bad requests ------------------------------------------------------------------------------


def encode(body: Any) -> bytes:
    """JSON text, with Python's inf written as a number too large for a double (as a careless
    client might send it), not as the non-standard Infinity."""
    return json.dumps(body).replace("Infinity", "1e400").encode()


def good_body(rng) -> dict[str, Any]:
    return {"inputs": v2_inputs(transactions(rng, 3))}


def with_input(rng, index: int, **changes: Any) -> dict[str, Any]:
    body = good_body(rng)
    body["inputs"][index].update(changes)
    return body


BAD = {
    "not JSON": lambda rng: b"{",
    "not an object": lambda rng: b"[1, 2]",
    "empty body": lambda rng: b"",
    "not UTF-8": lambda rng: b"\xff\xfe\xfa",
    "NaN literal": lambda rng: (
        b'{"inputs": [{"name": "amount", "datatype": "FP64", "shape": [1], "data": [NaN]}]}'
    ),
    "deep nesting": lambda rng: b"[" * 100_000 + b"]" * 100_000,
    "inputs missing": lambda rng: {"outputs": []},
    "inputs not a list": lambda rng: {"inputs": {"amount": 1}},
    "a missing input": lambda rng: {"inputs": good_body(rng)["inputs"][:2]},
    "an unknown input": lambda rng: {
        "inputs": [
            *good_body(rng)["inputs"],
            {"name": "x", "datatype": "FP64", "shape": [3], "data": [1, 2, 3]},
        ]
    },
    "an input twice": lambda rng: {
        "inputs": [*good_body(rng)["inputs"], good_body(rng)["inputs"][0]]
    },
    "an unknown datatype": lambda rng: with_input(rng, 0, datatype="FLOAT"),
    "strings for a number column": lambda rng: with_input(rng, 0, datatype="BYTES"),
    "numbers for a string column": lambda rng: with_input(rng, 1, datatype="FP64"),
    "strings in FP64 data": lambda rng: with_input(rng, 0, data=["1.5", "2", "3"]),
    "floats in INT64 data": lambda rng: with_input(rng, 2, data=[1.5, 2, 3]),
    "bools in INT64 data": lambda rng: with_input(rng, 2, data=[True, False, True]),
    "an int out of range": lambda rng: with_input(rng, 2, data=[1 << 70, 2, 3]),
    "a float overflowing": lambda rng: with_input(rng, 0, data=[1e400, 2, 3]),
    "data shorter than shape": lambda rng: with_input(rng, 0, shape=[4]),
    "a negative dimension": lambda rng: with_input(rng, 0, shape=[-3]),
    "a huge shape": lambda rng: with_input(rng, 0, shape=[1 << 40, 1 << 20]),
    "a 2-D column": lambda rng: with_input(rng, 0, shape=[1, 3]),
    "ragged rows": lambda rng: with_input(rng, 2, shape=[2], data=[1, 2]),
    "no rows": lambda rng: {
        "inputs": [{**i, "shape": [0], "data": []} for i in good_body(rng)["inputs"]]
    },
    "data not a list": lambda rng: with_input(rng, 0, data=3.5),
    "objects in data": lambda rng: with_input(rng, 1, data=[{"a": 1}, "b", "c"]),
    "an unknown output": lambda rng: {**good_body(rng), "outputs": [{"name": "nope"}]},
    "an id not a string": lambda rng: {**good_body(rng), "id": 12},
    "a negative priority": lambda rng: {**good_body(rng), "parameters": {"priority": -1}},
    "a priority too high": lambda rng: {**good_body(rng), "parameters": {"priority": 5}},
    "a huge priority": lambda rng: {**good_body(rng), "parameters": {"priority": 1 << 100}},
    "a huge timeout": lambda rng: {**good_body(rng), "parameters": {"timeout": 1 << 64}},
    "a fractional timeout": lambda rng: {**good_body(rng), "parameters": {"timeout": 1.5}},
    "binary data": lambda rng: with_input(rng, 0, parameters={"binary_data_size": 24}),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_requests_get_400_saying_what_is_wrong(client, fitted, rng, case):
    body = BAD[case](rng)
    content = body if isinstance(body, bytes) else encode(body)
    r = client.post("/v2/models/fraud/infer", content=content)
    assert r.status_code == 400, (case, r.text)
    message = r.json()["error"]
    assert isinstance(message, str) and len(message) > 10
    # ... and the server goes on serving.
    data = transactions(rng, 5)
    r = client.post("/v2/models/fraud/infer", json={"inputs": v2_inputs(data)})
    assert r.status_code == 200
    assert_matches_oracle(outputs_of(r.json()), fitted.oracle(data))


BAD_RECORDS = {
    "none of the keys": {"rows": []},
    "two of the keys": {"records": [], "columns": {}},
    "records not a list": {"records": {"amount": 1}},
    "records of numbers": {"records": [1, 2]},
    "no records": {"records": []},
    "a missing column": {"records": [{"amount": 1.0, "merchant": "a"}]},
    "mixed types in a column": {
        "records": [
            {"amount": 1.0, "merchant": "a", "age": 3},
            {"amount": "x", "merchant": "a", "age": 3},
        ]
    },
    "strings for numbers": {"columns": {"amount": ["1"], "merchant": ["a"], "age": [3]}},
    "columns of unequal length": {"columns": {"amount": [1.0, 2.0], "merchant": ["a"], "age": [3]}},
    "a column not a list": {"columns": {"amount": 1.0, "merchant": "a", "age": 3}},
    "nested values": {"records": [{"amount": [1.0], "merchant": "a", "age": 3}]},
    "an overflowing float": {"columns": {"amount": [1e400], "merchant": ["a"], "age": [3]}},
    "an unknown output": {
        "records": [{"amount": 1.0, "merchant": "a", "age": 3}],
        "outputs": ["nope"],
    },
}


@pytest.mark.parametrize("case", list(BAD_RECORDS))
def test_bad_records_get_400(client, case):
    r = client.post("/v1/models/fraud/predict", content=encode(BAD_RECORDS[case]))
    assert r.status_code == 400, (case, r.text)
    assert r.json()["error"]


@pytest.mark.parametrize("where", ["app", "server"])
def test_a_body_over_the_limit_gets_413(onnx_bundle, rng, where):
    """The app's own max_body_bytes (when mounted elsewhere) and the server's limits (seawall
    serve, serve_in_thread) answer 413, with or without a Content-Length; tritonclient gets a
    clean error saying so."""
    import tritonclient.http as triton

    from seawall._server import Limits
    from seawall.serving import serve_in_thread

    if where == "app":
        app, limits = create_app(onnx_bundle, max_body_bytes=2_000), Limits()
    else:
        app, limits = create_app(onnx_bundle), Limits(max_body_bytes=2_000)
    with (
        serve_in_thread(app, limits=limits, http="h11") as url,
        httpx.Client(base_url=url) as client,
    ):
        big = {"inputs": v2_inputs(transactions(rng, 200))}
        r = client.post("/v2/models/fraud/infer", json=big)
        assert r.status_code == 413
        assert "limit" in r.json()["error"]

        def chunks():  # no Content-Length: the limit is enforced while reading
            text = json.dumps(big).encode()
            for i in range(0, len(text), 500):
                yield text[i : i + 500]

        r = client.post("/v2/models/fraud/infer", content=chunks())
        assert r.status_code == 413
        assert "limit" in r.json()["error"]
        small = transactions(rng, 2)
        r = client.post("/v2/models/fraud/infer", json={"inputs": v2_inputs(small)})
        assert r.status_code == 200

        triton_client = triton.InferenceServerClient(url=url.removeprefix("http://"))
        try:
            inputs = [triton.InferInput("age", [1000], "INT64")]
            inputs[0].set_data_from_numpy(np.arange(1000, dtype=np.int64))
            with pytest.raises(triton.InferenceServerException) as error:
                triton_client.infer("fraud", inputs)
            assert error.value.status() == "413"
            assert "limit" in error.value.message()
        finally:
            triton_client.close()


def test_health_answers_while_a_large_body_is_parsed(onnx_bundle, monkeypatch, rng):
    """A large JSON body is parsed off the event loop and a block at a time: a health check sent
    once parsing has started is answered before parsing ends."""
    import seawall.serving.served_model as server_app

    parse = server_app._parse_json
    started = threading.Event()
    done = threading.Event()

    def watched(body: bytes) -> Any:
        if len(body) > 1_000_000:
            started.set()
        try:
            return parse(body)
        finally:
            if len(body) > 1_000_000:
                done.set()

    monkeypatch.setattr(server_app, "_parse_json", watched)
    inputs = v2_inputs(transactions(rng, 600_000))
    # Without 'age' the request is answered 400 once parsed: the model need not run.
    inputs = [i for i in inputs if i["name"] != "age"]
    body = json.dumps({"inputs": inputs}).encode()  # about 20 MB
    with running(create_app(onnx_bundle)) as url:
        answers: list[httpx.Response] = []

        def send_big() -> None:
            with httpx.Client(base_url=url, timeout=600) as c:
                answers.append(c.post("/v2/models/fraud/infer", content=body))

        sender = threading.Thread(target=send_big)
        sender.start()
        try:
            assert started.wait(600)
            with httpx.Client(base_url=url, timeout=600) as c:
                assert c.get("/v2/health/live").json() == {"live": True}
            parsing_when_answered = not done.is_set()
        finally:
            sender.join(600)
    assert answers[0].status_code == 400 and "missing inputs ['age']" in answers[0].text
    assert parsing_when_answered


def test_fuzzed_requests_never_crash_the_server(server, fitted, rng):
    """Random JSON documents shaped more or less like inference requests: every answer is 200
    or 400, never a 500, and a good request works afterwards."""
    from hypothesis import given
    from hypothesis import strategies as st

    scalars = (
        st.none()
        | st.booleans()
        | st.integers(-(1 << 70), 1 << 70)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=5)
    )
    values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4), max_leaves=12)
    tensor = st.fixed_dictionaries(
        {},
        optional={
            "name": st.sampled_from(["amount", "merchant", "age", "x"]) | st.integers(),
            "datatype": st.sampled_from(["FP64", "FP32", "INT64", "BYTES", "BOOL", "UINT8", "x"]),
            "shape": st.lists(st.integers(-2, 5), max_size=3) | values,
            "data": values,
            "parameters": st.dictionaries(st.text(max_size=3), scalars, max_size=2),
        },
    )
    request = st.fixed_dictionaries(
        {},
        optional={
            "inputs": st.lists(tensor, max_size=4) | values,
            "outputs": st.lists(st.fixed_dictionaries({"name": st.text(max_size=12)}), max_size=2)
            | values,
            "id": st.text(max_size=5) | st.integers(),
            "parameters": st.dictionaries(
                st.sampled_from(["priority", "timeout", "binary_data_output", "x"]),
                scalars | st.integers(-(1 << 80), 1 << 80) | st.sampled_from([0, 1, 1 << 63]),
            ),
        },
    )
    record = st.dictionaries(st.sampled_from(["amount", "merchant", "age"]), scalars)
    predict = st.fixed_dictionaries(
        {},
        optional={
            "records": st.lists(record, max_size=4) | values,
            "columns": st.dictionaries(
                st.sampled_from(["amount", "merchant", "age"]), st.lists(scalars, max_size=4)
            )
            | values,
            "instances": values,
            "outputs": values,
        },
    )

    with httpx.Client(base_url=server, timeout=30) as client:

        @given(request, predict, st.binary(max_size=64))
        def check(infer_body, predict_body, raw):
            for path, content in (
                ("/v2/models/fraud/infer", json.dumps(infer_body).encode()),
                ("/v1/models/fraud/predict", json.dumps(predict_body).encode()),
                ("/v2/models/fraud/infer", raw),
            ):
                r = client.post(path, content=content)
                assert r.status_code in (200, 400), (path, content, r.text)
                assert r.status_code == 200 or "error" in r.json()

        check()
        data = transactions(rng, 10)
        r = client.post("/v2/models/fraud/infer", json={"inputs": v2_inputs(data)})
        assert r.status_code == 200
        assert_matches_oracle(outputs_of(r.json()), fitted.oracle(data))


# --- overload and concurrency -------------------------------------------------------------------


class Gate:
    """A model that waits at a gate: lets a test hold the batcher busy."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.entered = threading.Event()
        self.gate = threading.Event()

    def __call__(self, x: np.ndarray) -> Any:
        self.entered.set()
        self.gate.wait(60)
        return self.model(x)


def test_a_full_queue_answers_503_with_retry_after(onnx_bundle, fitted, rng):
    """While the model is held at a gate, a queue of 2 takes at most 2 (or 3, should one more
    join the batch being formed) of 11 further requests: the rest are refused at once with 503
    and Retry-After; those queued finish once the gate opens."""
    from concurrent.futures import as_completed

    gate = Gate(onnx_bundle.model)
    bundle = load_bundle(onnx_bundle.path)
    bundle.model = gate
    gate.gate.set()  # open for the warm-up
    app = create_app(bundle, max_batch_size=1, max_queue_size=2, instances=1)
    n = 12
    batches = [transactions(rng, 2) for _ in range(n)]
    with running(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        gate.gate.clear()
        gate.entered.clear()
        with ThreadPoolExecutor(n) as pool:

            def post(data):
                return client.post("/v2/models/fraud/infer", json={"inputs": v2_inputs(data)})

            first = pool.submit(post, batches[0])
            assert gate.entered.wait(30)
            rest = [pool.submit(post, b) for b in batches[1:]]
            early = []
            for future in as_completed(rest):
                early.append(future.result())
                if len(early) == n - 4:
                    break
            gate.gate.set()
            answers = [first.result()] + [f.result() for f in rest]
    for r in early:  # nothing can succeed while the gate is shut
        assert r.status_code == 503, r.text
        assert r.headers["Retry-After"] == "1"
        assert "retry" in r.json()["error"]
    assert answers[0].status_code == 200
    for data, answer in zip(batches, answers, strict=True):
        assert answer.status_code in (200, 503)
        if answer.status_code == 200:
            assert_matches_oracle(outputs_of(answer.json()), fitted.oracle(data))


def test_concurrent_clients_each_get_their_own_answer(server, fitted, rng):
    threads, per_thread = 16, 12
    work = [
        [(f"t{t}-r{i}", transactions(rng, int(rng.integers(1, 20)))) for i in range(per_thread)]
        for t in range(threads)
    ]

    def run(jobs):
        out = []
        with httpx.Client(base_url=server, timeout=60) as client:
            for rid, data in jobs:
                r = client.post(
                    "/v2/models/fraud/infer", json={"id": rid, "inputs": v2_inputs(data)}
                )
                out.append((rid, data, r.status_code, r.json()))
        return out

    with ThreadPoolExecutor(threads) as pool:
        results = [x for chunk in pool.map(run, work) for x in chunk]
    assert len(results) == threads * per_thread
    for rid, data, status, response in results:
        assert status == 200, response
        assert response["id"] == rid
        got = outputs_of(response)
        assert got["label"].shape == (len(data["age"]),)
        assert_matches_oracle(got, fitted.oracle(data))


# --- metrics -----------------------------------------------------------------------------------


def test_metrics_count_requests_and_batches(onnx_bundle, rng):
    from prometheus_client.parser import text_string_to_metric_families

    app = create_app(onnx_bundle, max_batch_size=8)
    ok, bad = int(rng.integers(3, 10)), int(rng.integers(1, 5))
    with running(app) as url, httpx.Client(base_url=url) as client:
        for _ in range(ok):
            data = transactions(rng, int(rng.integers(1, 5)))
            assert (
                client.post("/v2/models/fraud/infer", json={"inputs": v2_inputs(data)}).status_code
                == 200
            )
        for _ in range(bad):
            assert client.post("/v2/models/fraud/infer", content=b"{").status_code == 400
        assert (
            client.post(
                "/v1/models/fraud/predict", json={"records": records(transactions(rng, 2))}
            ).status_code
            == 200
        )
        r = client.get("/metrics")
        assert r.headers["content-type"].startswith("text/plain")
        text = r.text
        stats = app.state.seawall.models["fraud"].batcher.stats()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted({"model": "fraud", "version": "3", **labels}.items())))]

    assert value("seawall_inference_requests_total", endpoint="infer", code="200") == ok
    assert value("seawall_inference_requests_total", endpoint="infer", code="400") == bad
    assert value("seawall_inference_requests_total", endpoint="predict", code="200") == 1
    assert value("seawall_inference_request_duration_seconds_count", endpoint="infer") == ok + bad
    assert value("seawall_batcher_requests_total") == stats["requests"] == ok + 1
    assert value("seawall_batcher_batches_total") == stats["batches"]
    assert value("seawall_batcher_batch_size_count") == stats["batches"]
    assert value("seawall_batcher_batch_size_sum") == sum(
        int(size) * count for size, count in stats["batch_size_histogram"].items()
    )
    assert value("seawall_batcher_batch_size_bucket", le="+Inf") == stats["batches"]
    assert value("seawall_batcher_queue_wait_seconds_count") == stats["queue_wait_us"]["count"]
    assert value("seawall_inference_requests_in_flight") == 0


# --- embedding, options, the command line --------------------------------------------------------


def test_the_app_mounts_inside_another_service(onnx_bundle, fitted, rng):
    from starlette.applications import Starlette
    from starlette.routing import Mount

    inner = create_app(onnx_bundle)
    outer = Starlette(routes=[Mount("/models", app=inner)])
    try:
        with running(outer) as url, httpx.Client(base_url=url) as client:
            data = transactions(rng, 4)
            r = client.post("/models/v2/models/fraud/infer", json={"inputs": v2_inputs(data)})
            assert r.status_code == 200
            assert_matches_oracle(outputs_of(r.json()), fitted.oracle(data))
    finally:
        inner.state.seawall.close()  # a mounted app's lifespan does not run


def test_several_bundles_and_create_app_checks(onnx_bundle, fitted, tmp_path, rng):
    other = load_bundle(
        save_bundle(tmp_path / "other", python_model=fitted.classifier, pipeline=fitted.pipeline),
        trust_code=True,
    )
    app = create_app([onnx_bundle, other])
    with running(app) as url, httpx.Client(base_url=url) as client:
        data = transactions(rng, 6)
        r = client.post("/v1/models/other/predict", json={"columns": data})
        assert r.status_code == 200
        X = fitted.pipeline.transform(data)
        assert r.json()["outputs"]["predict"] == fitted.classifier.predict(X).tolist()
        assert "model_version" not in r.json()
        assert client.get("/v2/models/other").json()["platform"] == "python"
        assert (
            client.post("/v2/models/fraud/infer", json={"inputs": v2_inputs(data)}).status_code
            == 200
        )
    with pytest.raises(InvalidInputError, match="two bundles"):
        create_app([onnx_bundle, onnx_bundle])
    with pytest.raises(InvalidInputError, match="single bundle"):
        create_app([onnx_bundle, other], name="x")
    with pytest.raises(InvalidInputError, match="at least one"):
        create_app([])


def test_requests_larger_than_a_batch_go_in_parts(onnx_bundle, fitted, rng):
    app = create_app(onnx_bundle, max_batch_size=4)
    with running(app) as url, httpx.Client(base_url=url) as client:
        data = transactions(rng, int(rng.integers(5, 60)))
        r = client.post("/v2/models/fraud/infer", json={"inputs": v2_inputs(data)})
        assert r.status_code == 200, r.text
        assert_matches_oracle(outputs_of(r.json()), fitted.oracle(data))
        stats = app.state.seawall.models["fraud"].batcher.stats()
    assert max(int(size) for size in stats["batch_size_histogram"]) <= 4
    assert stats["requests"] == -(-len(data["age"]) // 4)


def test_string_labels_come_back_as_bytes(fitted, tmp_path, rng):
    from sklearn.linear_model import LogisticRegression

    X = fitted.pipeline.transform(fitted.train)
    names = np.array(["ok", "fraud"], dtype=object)[fitted.classifier.predict(X)]
    model = LogisticRegression(max_iter=500).fit(X, names)
    path = save_bundle(tmp_path / "labels", python_model=model, pipeline=fitted.pipeline)
    bundle = load_bundle(path, trust_code=True)
    assert bundle.signature.outputs[0].datatype == "BYTES"
    with running(create_app(bundle, max_batch_size=8)) as url, httpx.Client(base_url=url) as client:
        data = transactions(rng, 20)
        expected = model.predict(fitted.pipeline.transform(data)).tolist()
        r = client.post("/v1/models/labels/predict", json={"records": records(data)})
        assert r.json()["outputs"]["predict"] == expected
        r = client.post("/v2/models/labels/infer", json={"inputs": v2_inputs(data)})
        (label,) = [o for o in r.json()["outputs"] if o["name"] == "predict"]
        assert (label["datatype"], label["shape"], label["data"]) == ("BYTES", [20], expected)


def test_a_bundle_without_pipeline_takes_the_model_tensor(tmp_path, rng):
    from test_bundle import linear_onnx

    weights, bias = rng.normal(size=(3, 2)), rng.normal(size=2)
    path = save_bundle(tmp_path / "linear", onnx_model=linear_onnx(weights, bias, np.float64))
    with running(create_app(path)) as url, httpx.Client(base_url=url) as client:
        x = rng.normal(size=(5, 3))
        tensor = {"name": "X", "datatype": "FP64", "shape": [5, 3], "data": x.ravel().tolist()}
        r = client.post("/v2/models/linear/infer", json={"inputs": [tensor]})
        assert r.status_code == 200, r.text
        np.testing.assert_allclose(outputs_of(r.json())["Y"], x @ weights + bias, rtol=1e-12)
        r = client.post("/v1/models/linear/predict", json={"instances": x.tolist()})
        np.testing.assert_allclose(r.json()["outputs"]["Y"], x @ weights + bias, rtol=1e-12)
        for bad in (
            {**tensor, "datatype": "FP32"},
            {**tensor, "shape": [3, 5]},
            {**tensor, "shape": [15], "data": x.ravel().tolist()},
        ):
            r = client.post("/v2/models/linear/infer", json={"inputs": [bad]})
            assert r.status_code == 400, r.text
        for body in (
            {"records": [{"a": 1}]},
            {"instances": [[1, 2], [3]]},
            {"instances": [["a", "b", "c"]]},
            {"instances": [[1, 2]]},
        ):
            r = client.post("/v1/models/linear/predict", json=body)
            assert r.status_code == 400, (body, r.text)


@pytest.mark.parametrize("access_log", [False, True])
def test_serve_command_runs_a_real_server(onnx_bundle, fitted, rng, tmp_path, access_log):
    """`seawall serve` answers as the app does; it logs requests only with --access-log."""
    args = ["--max-batch-size", "16", "--log-level", "info"]
    with seawall_serve(str(onnx_bundle.path), *args, *(["--access-log"] if access_log else [])) as (
        url,
        output,
    ):
        data = transactions(rng, 8)
        r = httpx.post(f"{url}/v2/models/fraud/versions/3/infer", json={"inputs": v2_inputs(data)})
        assert r.status_code == 200
        assert_matches_oracle(outputs_of(r.json()), fitted.oracle(data))
    out = output[0]
    assert f"serving 'fraud' version 3 from {onnx_bundle.path}" in out
    logged = '"POST /v2/models/fraud/versions/3/infer HTTP/1.1" 200' in out
    assert logged == access_log
    assert "loopback" not in out  # 127.0.0.1: no warning


def test_serve_command_warns_when_not_on_loopback(onnx_bundle):
    """The warning comes before the server listens; uvicorn's loop is replaced by a no-op here,
    so that nothing listens on other than loopback in a test."""
    import os
    import subprocess
    import sys

    code = (
        "import uvicorn; uvicorn.Server.run = lambda self, sockets=None: None; "
        "from seawall.cli import main; main()"
    )
    result = subprocess.run(
        [
            *(sys.executable, "-c", code, "serve", str(onnx_bundle.path)),
            *("--host", "0.0.0.0", "--insecure"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONWARNINGS": ""},
    )
    assert result.returncode == 0, result.stderr
    assert "WARNING" in result.stderr
    assert "seawall serve listens on '0.0.0.0', not on loopback" in result.stderr
    assert "no authentication" in result.stderr


def test_serve_command_follows_an_alias_of_a_named_registry(onnx_bundle, fitted, rng, tmp_path):
    """seawall serve --registry --artifacts: a registry that is not the default one; with
    --dashboard the dashboard at /ui; the hot swap is in the server's log."""
    from seawall.registry import Registry

    db, artifacts = tmp_path / "reg.db", tmp_path / "art"
    with Registry(db, artifacts=artifacts) as reg:
        for _ in range(2):
            reg.register_model("fraud", onnx_bundle.path)
        reg.set_alias("fraud", "champion", 1)
        with seawall_serve(
            "models:/fraud@champion",
            *("--registry", str(db), "--artifacts", str(artifacts), "--dashboard"),
        ) as (url, output):
            assert httpx.get(f"{url}/v2/models/fraud").json()["versions"] == ["1"]
            page = httpx.get(f"{url}/ui/models/fraud")
            assert page.status_code == 200 and "/ui/models/fraud/versions/2" in page.text
            reg.set_alias("fraud", "champion", 2, reason="retrained")
            deadline = time.monotonic() + 60
            while httpx.get(f"{url}/v2/models/fraud").json()["versions"] != ["2"]:
                assert time.monotonic() < deadline, "the server did not follow the alias"
                time.sleep(0.1)
            data = transactions(rng, 8)
            r = httpx.post(f"{url}/v2/models/fraud/infer", json={"inputs": v2_inputs(data)})
            assert r.json()["model_version"] == "2"
            assert_matches_oracle(outputs_of(r.json()), fitted.oracle(data))
            metrics = httpx.get(f"{url}/metrics").text
            assert 'seawall_model_swaps_total{model="fraud",result="ok"} 1.0' in metrics
    assert "hot swap: 'fraud' now serves version 2 (was 1); signature unchanged" in output[0]
    assert f"registry sqlite:///{db}" in output[0]


def test_serve_command_errors(fitted, tmp_path):
    from click.testing import CliRunner

    from seawall.cli import main

    path = save_bundle(tmp_path / "py", python_model=fitted.classifier, pipeline=fitted.pipeline)
    result = CliRunner().invoke(main, ["serve", str(path)])
    assert result.exit_code == 1
    assert "--trust-code" in result.output
    result = CliRunner().invoke(main, ["serve", str(tmp_path / "nowhere")])
    assert result.exit_code == 1
    assert "no bundle directory" in result.output
    from seawall.registry import Registry

    Registry().close()  # the default registry exists: the URI itself is what is wrong
    result = CliRunner().invoke(main, ["serve", "models:/"])
    assert result.exit_code == 2
    assert "models:/NAME/VERSION" in result.output
    result = CliRunner().invoke(main, ["serve", str(path), "--registry", str(tmp_path / "r.db")])
    assert result.exit_code == 2
    assert "--registry is for a models:/ URI, --dashboard or --auth registry" in result.output


def test_registry_uris_serve_what_the_registry_holds(onnx_bundle, monkeypatch, tmp_path):
    pytest.importorskip("sqlalchemy")
    from seawall.registry import Registry
    from seawall.serving.cli import resolve

    monkeypatch.setenv("SEAWALL_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SEAWALL_REGISTRY_URI", raising=False)
    monkeypatch.delenv("SEAWALL_ARTIFACTS_URI", raising=False)
    with Registry() as reg:
        reg.register_model("fraud", onnx_bundle.path)
        reg.register_model("fraud", onnx_bundle.path)
        reg.set_alias("fraud", "champion", 1, reason="test")
    path, name, version = resolve("models:/fraud/2")
    assert (name, version) == ("fraud", "2")
    bundle = load_bundle(path)
    assert bundle.signature == onnx_bundle.signature
    assert resolve("models:/fraud@champion")[1:] == ("fraud", "1")
    import click

    with pytest.raises(click.ClickException, match="cannot resolve"):
        resolve("models:/fraud/9")


def test_registry_uris_resolve_through_the_registry(monkeypatch, tmp_path):
    import click

    import seawall.registry
    from seawall.serving.cli import resolve

    def missing(name):
        raise AttributeError(name)

    def no_sqlalchemy(name):
        raise ImportError("No module named 'sqlalchemy'")

    monkeypatch.delitem(vars(seawall.registry), "resolve_bundle", raising=False)
    monkeypatch.setitem(vars(seawall.registry), "__getattr__", missing)
    with pytest.raises(click.ClickException, match="resolve_bundle"):
        resolve("models:/fraud/3")
    monkeypatch.setitem(vars(seawall.registry), "__getattr__", no_sqlalchemy)
    with pytest.raises(click.ClickException, match="sqlalchemy"):
        resolve("models:/fraud/3")
    asked = []

    def resolve_bundle(uri, registry=None):
        asked.append(uri)
        return tmp_path / "resolved"

    monkeypatch.setitem(vars(seawall.registry), "resolve_bundle", resolve_bundle)
    assert resolve("models:/fraud/3") == (tmp_path / "resolved", "fraud", "3")
    assert resolve("models:/fraud@prod") == (tmp_path / "resolved", "fraud", None)
    assert asked == ["models:/fraud/3", "models:/fraud@prod"]
    assert resolve(str(tmp_path)) == (tmp_path, None, None)


def test_the_command_line_loads_the_server_only_when_it_serves():
    """`seawall --help` and `import seawall.serving` import neither the web stack nor
    onnxruntime: those load when a server starts or an ONNX model loads."""
    import subprocess
    import sys

    code = (
        "import sys, seawall.cli, seawall.serving; "
        "print(sorted(m for m in ('starlette', 'uvicorn', 'onnxruntime', 'prometheus_client') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
