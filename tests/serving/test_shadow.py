"""Shadow traffic: copies answered off the request path, never seen by a client; the shadow's
agreement with the primary against an oracle; a failing or hanging shadow."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
from serving_helpers import pipeline, records, running, transactions
from traffic_models import (
    GATES,
    METHODS,
    ArmModel,
    FileGate,
    broken,
    oracle,
    registry_of,
    send_all,
    unloadable_elsewhere,
    v1_body,
    v2_body,
)

from seawall.serving import TrafficPolicy, create_app, save_bundle
from seawall.serving.shadow import BLOCK, GATHER_S

CUTS = [0.0, 0.5, -0.7]  # versions 1, 2, 3


@pytest.fixture
def versions(tmp_path, rng):
    reg, pipe = registry_of(tmp_path, rng, CUTS, {"champion": 1, "challenger": 2, "candidate": 3})
    yield reg, pipe
    reg.close()


@pytest.fixture(params=[True, False], ids=["worker-process", "server-threads"])
def shadow_process(request):
    """Where the shadow's model runs: in a worker process of its own, or on the server's
    threads."""
    return request.param


def worker_ready(router, version="3"):
    """Waits until the shadow's worker process (if it has one) serves `version`: faults are
    switched on once its warm-up is over."""
    process = router.describe()["shadow_queue"]["process"]
    if process is not None:
        wait_for(
            lambda: router.describe()["shadow_queue"]["process"]["version"] == version,
            "the worker process",
        )


def app_with(reg, policy):
    return create_app(
        "models:/fraud@champion",
        registry=reg,
        trust_code=True,
        traffic=policy,
        watch_interval_s=None,
    )


def assert_as_the_oracle(figures, rows, pipe, shadow_pipe=None, cut=CUTS[2]):
    """The shadow's figures over `rows` (every one answered by the primary and compared) are
    those of the oracle: no error, its agreement, score difference and classes."""
    mine = oracle(pipe, rows, CUTS[0])
    theirs = oracle(shadow_pipe if shadow_pipe is not None else pipe, rows, cut)
    assert figures.errors == 0 and figures.compared == len(rows)
    assert figures.agreement == pytest.approx(
        float(np.mean(mine["predict"] == theirs["predict"])), abs=1e-15
    )
    mad = float(np.mean(np.abs(mine["predict_proba"] - theirs["predict_proba"])))
    assert figures.score_mad == pytest.approx(mad, rel=1e-9)
    assert figures.classes == {
        str(c): int(np.sum(theirs["predict"] == c)) for c in np.unique(theirs["predict"])
    }


def metric(text: str, name: str, **labels: str) -> float:
    want = [f'{k}="{v}"' for k, v in labels.items()]
    found = [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + "{") and all(w in line for w in want)
    ]
    assert len(found) == 1, (name, labels, found)
    return found[0]


def wait_for(condition, what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting for {what}")
        time.sleep(0.01)


def test_the_shadow_is_invisible_and_agrees_with_the_primary_as_the_oracle_says(
    versions, rng, shadow_process
):
    reg, pipe = versions
    n = 200
    policy = TrafficPolicy(
        "models:/fraud@challenger",
        25,
        shadow="models:/fraud@candidate",
        shadow_queue=4096,
        shadow_process=shadow_process,
    )
    app = app_with(reg, policy)
    router = app.state.seawall.traffic["fraud"]
    payloads = [records(transactions(rng, int(rng.integers(1, 4)))) for _ in range(n)]
    bodies = [("v1", v1_body(p)) if i % 2 else ("v2", v2_body(p)) for i, p in enumerate(payloads)]
    with running(app) as url:
        answers = send_all(url, bodies, clients=6)
        wait_for(lambda: router.stats_for("shadow", "3").peek().requests == n, "the shadow")
        metrics = httpx.get(url + "/metrics").text
    app.state.seawall.close()
    assert router._shadow_queue.dropped == 0
    answers.check_attribution()
    primary_rows = []
    for (status, arm, version, _, body), rows in zip(answers.items, payloads, strict=True):
        assert status == 200 and arm in ("primary", "canary")  # never the shadow
        cut = CUTS[int(version) - 1]
        expected = oracle(pipe, rows, cut)
        outputs = body["outputs"]
        if isinstance(outputs, dict):
            label, proba = outputs["predict"], outputs["predict_proba"]
        else:
            got = {t["name"]: t["data"] for t in outputs}
            label, proba = got["predict"], got["predict_proba"]
        assert label == expected["predict"].tolist()
        np.testing.assert_allclose(np.ravel(proba), expected["predict_proba"].ravel(), rtol=1e-12)
        if arm == "primary":
            primary_rows += rows
    # the shadow is compared with the primary on the requests the primary answered
    mine, theirs = oracle(pipe, primary_rows, CUTS[0]), oracle(pipe, primary_rows, CUTS[2])
    agreement = float(np.mean(mine["predict"] == theirs["predict"]))
    mad = float(np.mean(np.abs(mine["predict_proba"] - theirs["predict_proba"])))
    figures = router.stats_for("shadow", "3").peek()
    assert figures.compared == len(primary_rows)
    assert figures.agreement == pytest.approx(agreement, abs=1e-15)
    assert figures.score_mad == pytest.approx(mad, rel=1e-9)
    assert figures.errors == 0 and figures.requests == n
    labels = {"model": "fraud", "arm": "shadow", "version": "3"}
    assert metric(metrics, "seawall_traffic_shadow_agreement_ratio", **labels) == pytest.approx(
        agreement, abs=1e-12
    )
    assert metric(metrics, "seawall_traffic_requests_total", **labels) == n


def test_copies_answered_in_blocks_are_answered_row_for_row(versions, rng, shadow_process):
    """The shadow is held while copies pile up, then answers them in blocks (joined bodies of
    records, columns and tensors, beside copies that cannot be joined): its figures are those
    of answering each copy alone."""
    reg, pipe = versions
    n = 150
    policy = TrafficPolicy(
        "models:/fraud@challenger",
        30,
        shadow="models:/fraud@candidate",
        shadow_queue=n,
        shadow_process=shadow_process,
    )
    app = app_with(reg, policy)
    router = app.state.seawall.traffic["fraud"]
    payloads = [records(transactions(rng, int(rng.integers(1, 5)))) for _ in range(n)]
    bodies = []
    for i, p in enumerate(payloads):
        kind = i % 4
        if kind == 0:
            bodies.append(("v1", v1_body(p)))
        elif kind == 1:
            bodies.append(("v1", {"columns": {k: [r[k] for r in p] for k in p[0]}}))
        elif kind == 2:
            bodies.append(("v2", v2_body(p)))
        else:
            bodies.append(("v2", {**v2_body(p), "id": f"request-{i}"}))  # not joined
    worker_ready(router)
    gate = FileGate(3)
    try:
        with running(app) as url:
            answers = send_all(url, bodies, clients=6)
            gate.set()
            wait_for(lambda: router.stats_for("shadow", "3").peek().requests == n, "the shadow")
    finally:
        gate.set()
    app.state.seawall.close()
    assert router._shadow_queue.dropped == 0 and router._shadow_queue.errors == 0
    answers.check_attribution()
    primary_rows = [
        row
        for (_, arm, *_), rows in zip(answers.items, payloads, strict=True)
        if arm == "primary"
        for row in rows
    ]
    mine, theirs = oracle(pipe, primary_rows, CUTS[0]), oracle(pipe, primary_rows, CUTS[2])
    figures = router.stats_for("shadow", "3").peek()
    assert figures.compared == len(primary_rows)
    assert figures.agreement == pytest.approx(
        float(np.mean(mine["predict"] == theirs["predict"])), abs=1e-15
    )
    mad = float(np.mean(np.abs(mine["predict_proba"] - theirs["predict_proba"])))
    assert figures.score_mad == pytest.approx(mad, rel=1e-9)
    every = [row for rows in payloads for row in rows]
    shadow_classes = oracle(pipe, every, CUTS[2])["predict"]
    assert figures.classes == {
        str(c): int(np.sum(shadow_classes == c)) for c in np.unique(shadow_classes)
    }


def test_shadow_errors_never_reach_a_client(versions, rng, shadow_process):
    reg, _ = versions
    n = 60
    policy = TrafficPolicy(shadow="models:/fraud@candidate", shadow_process=shadow_process)
    app = app_with(reg, policy)
    router = app.state.seawall.traffic["fraud"]
    worker_ready(router)
    with broken(3):
        payloads = [records(transactions(rng, 2)) for _ in range(n)]
        with running(app) as url:
            answers = send_all(url, [("v2", v2_body(p)) for p in payloads], clients=4)
            wait_for(lambda: router.stats_for("shadow", "3").peek().requests == n, "the shadow")
            metrics = httpx.get(url + "/metrics").text
        app.state.seawall.close()
    assert [(s, a) for s, a, *_ in answers.items] == [(200, "primary")] * n
    answers.check_attribution()
    labels = {"model": "fraud", "arm": "shadow", "version": "3"}
    assert metric(metrics, "seawall_traffic_errors_total", **labels) == n
    assert router.describe()["shadow_queue"]["errors"] == n


def test_a_hanging_shadow_fills_its_queue_drops_and_counts(versions, rng, shadow_process):
    reg, _ = versions
    n, size = 400, 4
    policy = TrafficPolicy(
        shadow="models:/fraud@candidate",
        shadow_queue=size,
        shadow_workers=1,
        shadow_process=shadow_process,
    )
    app = app_with(reg, policy)
    router = app.state.seawall.traffic["fraud"]
    worker_ready(router)
    gate = FileGate(3)  # the shadow hangs on its first block of copies
    try:
        payloads = [records(transactions(rng, 1)) for _ in range(n)]
        with running(app) as url:
            answers = send_all(url, [("v1", v1_body(p)) for p in payloads], clients=4)
            metrics = httpx.get(url + "/metrics").text
            hung = router.describe()["shadow_queue"]
            gate.set()  # it comes back: it answers what it took
            accepted = hung["offered"] - hung["dropped"]
            wait_for(
                lambda: router.stats_for("shadow", "3").peek().requests == accepted, "the shadow"
            )
        app.state.seawall.close()
    finally:
        gate.set()
    assert [(s, a) for s, a, *_ in answers.items] == [(200, "primary")] * n
    answers.check_attribution()
    assert hung["offered"] == n
    # the hung worker holds one block at most, and the queue `size` copies: the rest dropped
    assert 0 < accepted <= BLOCK + size
    assert hung["dropped"] >= n - BLOCK - size
    assert metric(metrics, "seawall_traffic_shadow_dropped_total", model="fraud") == hung["dropped"]
    assert router.stats_for("shadow", "3").peek().dropped == hung["dropped"]


def test_payload_log_names_each_arm_and_keeps_the_shadows_answers(
    versions, rng, tmp_path, shadow_process
):
    """With a canary, a shadow and a payload log: each request's record names the arm and
    version the client was told; the shadow's answers (answered in blocks) are logged under
    the same request id, row for row as the oracle computes them."""
    import pyarrow.compute as pc

    from seawall.serving import PayloadLog, read_payloads

    reg, pipe = versions
    n = 120
    policy = TrafficPolicy(
        "models:/fraud@challenger",
        30,
        shadow="models:/fraud@candidate",
        shadow_queue=n,
        shadow_process=shadow_process,
    )
    app = create_app(
        "models:/fraud@champion",
        registry=reg,
        trust_code=True,
        traffic=policy,
        watch_interval_s=None,
        payload_log=PayloadLog(tmp_path / "payloads"),
    )
    router = app.state.seawall.traffic["fraud"]
    payloads = [records(transactions(rng, int(rng.integers(1, 4)))) for _ in range(n)]
    bodies = [("v1", v1_body(p)) if i % 2 else ("v2", v2_body(p)) for i, p in enumerate(payloads)]
    worker_ready(router)
    gate = FileGate(3)  # copies pile up, then are answered in blocks
    try:
        with running(app) as url:
            answers = send_all(url, bodies, clients=6)
            gate.set()
            wait_for(lambda: router.stats_for("shadow", "3").peek().requests == n, "the shadow")
    finally:
        gate.set()
    app.state.seawall.close()  # the payload log publishes what it holds
    answers.check_attribution()
    table = read_payloads(tmp_path / "payloads", "fraud")
    seen = set()
    for (status, arm, version, _, body), rows in zip(answers.items, payloads, strict=True):
        assert status == 200
        mine = table.filter(pc.equal(table["request_id"], body["id"])).to_pylist()
        served = [r for r in mine if r["arm"] != "shadow"]
        shadow = sorted((r for r in mine if r["arm"] == "shadow"), key=lambda r: r["row"])
        assert {(r["arm"], r["version"]) for r in served} == {(arm, version)}
        assert [r["row"] for r in shadow] == list(range(len(rows)))
        assert {r["version"] for r in shadow} == {"3"} and {r["status"] for r in shadow} == {200}
        expected = oracle(pipe, rows, CUTS[2])
        assert [r["output.predict"] for r in shadow] == expected["predict"].tolist()
        np.testing.assert_allclose(
            [r["output.predict_proba_1"] for r in shadow], expected["predict_proba"][:, 1]
        )
        assert [r["input.amount"] for r in shadow] == [r["input.amount"] for r in served]
        seen.add(body["id"])
    assert len(seen) == n


# --- what the shadow decodes ------------------------------------------------------------------


class ShadowCalls:
    """Counts, per name, the calls made on the shadow's worker threads (a call made inside
    another of the same name is not counted again: one parse is one parse)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._inside = threading.local()

    def wrap(self, name: str, function):
        def spy(*args, **kwargs):
            outer = not getattr(self._inside, name, False)
            if outer and threading.current_thread().name.startswith("seawall-shadow-"):
                with self._lock:
                    self.counts[name] = self.counts.get(name, 0) + 1
            setattr(self._inside, name, True)
            try:
                return function(*args, **kwargs)
            finally:
                setattr(self._inside, name, not outer)

        return spy


def spy_on_decoding(monkeypatch, pipeline) -> ShadowCalls:
    """Spies on JSON parsing (both parsers the server uses) and on `pipeline`'s transforms."""
    import json

    from seawall._server import bulk_json

    calls = ShadowCalls()
    monkeypatch.setattr(json, "loads", calls.wrap("json", json.loads))
    monkeypatch.setattr(bulk_json, "loads", calls.wrap("json", bulk_json.loads))
    for method in ("transform", "transform_one"):
        monkeypatch.setattr(pipeline, method, calls.wrap(method, getattr(pipeline, method)))
    return calls


def test_a_shadow_on_the_primarys_pipeline_runs_its_model_on_the_primarys_input(
    versions, rng, monkeypatch
):
    """Primary and shadow share one saved pipeline: the shadow parses no copy and transforms
    none; it runs its model on the features the primary made, and its figures are the
    oracle's."""
    reg, pipe = versions
    n = 90
    policy = TrafficPolicy(shadow="models:/fraud@candidate", shadow_queue=n, shadow_process=False)
    app = app_with(reg, policy)
    router = app.state.seawall.traffic["fraud"]
    calls = spy_on_decoding(monkeypatch, router.served("shadow").bundle.pipeline)
    payloads = [records(transactions(rng, int(rng.integers(1, 4)))) for _ in range(n)]
    bodies = []
    for i, p in enumerate(payloads):
        kind = i % 3
        if kind == 0:
            bodies.append(("v1", v1_body(p)))
        elif kind == 1:
            bodies.append(("v2", v2_body(p)))
        else:  # parameters: a copy that no joined JSON request could hold
            bodies.append(("v2", {**v2_body(p), "parameters": {"timeout": 30_000_000}}))
    gate = GATES[3] = threading.Event()  # copies pile up: they are answered in blocks
    try:
        with running(app) as url:
            answers = send_all(url, bodies, clients=6)
            gate.set()
            wait_for(lambda: router.stats_for("shadow", "3").peek().requests == n, "the shadow")
    finally:
        GATES.pop(3, None)
    app.state.seawall.close()
    assert calls.counts == {}
    assert [s for s, *_ in answers.items] == [200] * n
    every = [row for rows in payloads for row in rows]
    assert_as_the_oracle(router.stats_for("shadow", "3").peek(), every, pipe)


def with_own_pipeline(tmp_path, rng, aliases):
    """A registry with versions 1 and 2 over one pipeline (returned second) and version 3
    over a pipeline of its own, fitted on other data (other medians, scales and categories;
    returned third)."""
    reg, pipe = registry_of(tmp_path, rng, CUTS[:2], aliases)
    own = pipeline().fit(transactions(rng, 300))
    path = save_bundle(
        tmp_path / "own-pipeline",
        python_model=ArmModel(3, CUTS[2]),
        methods=METHODS,
        pipeline=own,
        name="fraud",
        example=records(transactions(rng, 5)),
    )
    reg.register_model("fraud", path)
    return reg, pipe, own


def binary_body(rows: list[dict]) -> tuple[bytes, int]:
    """A v2 request of `rows` in Triton's binary tensor data, as tritonclient makes it."""
    tritonclient = pytest.importorskip("tritonclient.http")
    inputs = []
    for name, datatype, values in (
        ("amount", "FP64", [np.nan if r["amount"] is None else r["amount"] for r in rows]),
        ("merchant", "BYTES", [r["merchant"] for r in rows]),
        ("age", "INT64", [r["age"] for r in rows]),
    ):
        t = tritonclient.InferInput(name, [len(rows)], datatype)
        dtype = {"FP64": np.float64, "BYTES": object, "INT64": np.int64}[datatype]
        t.set_data_from_numpy(np.array(values, dtype=dtype), binary_data=True)
        inputs.append(t)
    body, json_size = tritonclient.InferenceServerClient.generate_request_body(inputs)
    return body, json_size


def test_a_shadow_with_a_pipeline_of_its_own_transforms_the_parsed_requests(
    tmp_path, rng, monkeypatch, shadow_process
):
    """The shadow's pipeline was fitted on other data: it transforms each copy itself. On the
    server's threads it does so from the request as the primary parsed it (JSON records,
    columns and tensors, joined where they can be), and parses again only binary tensor data;
    with a worker process the server's threads parse and transform nothing. Its figures are
    those of its own pipeline and model on each copy's rows."""
    reg, pipe, own = with_own_pipeline(tmp_path, rng, {"champion": 1})
    reg.set_alias("fraud", "candidate", 3)
    n = 120
    policy = TrafficPolicy(
        shadow="models:/fraud@candidate", shadow_queue=n, shadow_process=shadow_process
    )
    app = app_with(reg, policy)
    router = app.state.seawall.traffic["fraud"]
    worker_ready(router)
    calls = spy_on_decoding(monkeypatch, router.served("shadow").bundle.pipeline)
    payloads = []
    for _ in range(n):
        rows = records(transactions(rng, int(rng.integers(1, 4))))
        for r in rows:  # binary BYTES have no null: a merchant always
            r["merchant"] = r["merchant"] or "merchant_00"
        payloads.append(rows)
    kinds = [i % 5 for i in range(n)]
    gate = FileGate(3)
    try:
        with running(app) as url, httpx.Client(base_url=url, timeout=60) as client:

            def send(i):
                rows = payloads[i]
                if kinds[i] == 0:
                    return client.post("/v1/models/fraud/predict", json=v1_body(rows))
                if kinds[i] == 1:
                    columns = {k: [r[k] for r in rows] for k in rows[0]}
                    return client.post("/v1/models/fraud/predict", json={"columns": columns})
                if kinds[i] == 2:
                    return client.post("/v2/models/fraud/infer", json=v2_body(rows))
                if kinds[i] == 3:
                    body = {**v2_body(rows), "parameters": {"timeout": 30_000_000}}  # not joined
                    return client.post("/v2/models/fraud/infer", json=body)
                body, json_size = binary_body(rows)
                headers = {"Inference-Header-Content-Length": str(json_size)}
                return client.post("/v2/models/fraud/infer", content=body, headers=headers)

            with ThreadPoolExecutor(6) as pool:
                statuses = [r.status_code for r in pool.map(send, range(n))]
            gate.set()
            wait_for(lambda: router.stats_for("shadow", "3").peek().requests == n, "the shadow")
    finally:
        gate.set()
    app.state.seawall.close()
    assert statuses == [200] * n
    if shadow_process:
        assert calls.counts == {}
    else:
        assert calls.counts.get("json") == kinds.count(4)  # the binary copies' headers only
        assert calls.counts.get("transform_one", 0) + calls.counts["transform"] <= n
    every = [row for rows in payloads for row in rows]
    assert_as_the_oracle(router.stats_for("shadow", "3").peek(), every, pipe, own)


def test_a_shadow_swapped_under_its_copies_answers_them_with_the_new_version(tmp_path, rng):
    """The shadow (on the primary's pipeline: it takes the primary's features) is running a
    block of copies when its alias moves to a version with a pipeline of its own: the old
    batcher closes under the block, and the new version answers every copy, transforming each
    with its own pipeline."""
    reg, pipe, own = with_own_pipeline(tmp_path, rng, {"champion": 1, "candidate": 2})
    n = 40
    policy = TrafficPolicy(
        shadow="models:/fraud@candidate", shadow_queue=n, shadow_workers=1, shadow_process=False
    )
    app = create_app(
        "models:/fraud@champion",
        registry=reg,
        trust_code=True,
        traffic=policy,
        watch_interval_s=0.05,
        max_batch_size=4,  # each copy's 5 rows go to the batcher in two parts
    )
    router = app.state.seawall.traffic["fraud"]
    old = router.served("shadow")
    payloads = [records(transactions(rng, 5)) for _ in range(n)]
    gate = GATES[2] = threading.Event()
    try:
        with running(app) as url:
            answers = send_all(url, [("v1", v1_body(p)) for p in payloads], clients=4)
            wait_for(lambda: old.batcher.stats()["running"] > 0, "the shadow's first block")
            reg.set_alias("fraud", "candidate", 3)
            wait_for(lambda: old.batcher.closed, "the hot swap")
            gate.set()
            wait_for(lambda: router.stats_for("shadow", "3").peek().requests == n, "the shadow")
    finally:
        gate.set()
        GATES.pop(2, None)
    app.state.seawall.close()
    assert [s for s, *_ in answers.items] == [200] * n
    assert router.stats_for("shadow", "2").peek().requests == 0
    every = [row for rows in payloads for row in rows]
    assert_as_the_oracle(router.stats_for("shadow", "3").peek(), every, pipe, own)


# --- the shadow's worker process ----------------------------------------------------------------


def test_a_worker_process_that_dies_is_counted_and_started_again(versions, rng):
    """The shadow's worker process is killed while it holds copies: they count as the shadow's
    errors, the primary answers every request, a new worker process answers the next copies
    (as the oracle does)."""
    import os
    import signal

    reg, pipe = versions
    n = 40
    policy = TrafficPolicy(shadow="models:/fraud@candidate", shadow_queue=4 * n)
    app = app_with(reg, policy)
    router = app.state.seawall.traffic["fraud"]
    worker_ready(router)
    first = router.describe()["shadow_queue"]["process"]["pid"]
    payloads = [records(transactions(rng, int(rng.integers(1, 3)))) for _ in range(2 * n)]
    bodies = [("v1", v1_body(p)) for p in payloads]
    stats = router.stats_for("shadow", "3")
    gate = FileGate(3)  # the worker process holds the first block of copies
    try:
        with running(app) as url:
            answers = send_all(url, bodies[:n], clients=4)
            queue = router._shadow_queue
            wait_for(lambda: queue.offered == n and queue.queued < n, "a block taken")
            time.sleep(GATHER_S * 2)  # gathered and handed to the worker process
            os.kill(first, signal.SIGKILL)
            wait_for(lambda: stats.peek().errors > 0, "the errors")
            gate.set()
            wait_for(lambda: stats.peek().requests == n, "the rest of the first copies")
            worker_ready(router)  # started again
            before = router.take("shadow", "monitor")  # the figures from here on: a new view
            answers.items += send_all(url, bodies[n:], clients=4).items
            wait_for(lambda: stats.peek().requests == 2 * n, "the next copies")
            after = router.take("shadow", "monitor")
            described = router.describe()["shadow_queue"]
            metrics = httpx.get(url + "/metrics").text
    finally:
        gate.set()
    app.state.seawall.close()
    assert [(s, a) for s, a, *_ in answers.items] == [(200, "primary")] * (2 * n)
    assert 0 < before.errors <= n and described["errors"] == before.errors
    assert described["process"]["restarts"] == 1
    assert described["process"]["pid"] not in (None, first)
    assert metric(metrics, "seawall_traffic_shadow_process_restarts_total", model="fraud") == 1
    later = [row for rows in payloads[n:] for row in rows]  # all answered by the new worker
    assert after.requests == n
    assert_as_the_oracle(after, later, pipe)


def test_the_worker_process_follows_a_hot_swap_of_the_shadow(versions, rng):
    reg, pipe = versions
    n = 30
    policy = TrafficPolicy(shadow="models:/fraud@candidate", shadow_queue=4 * n)
    app = create_app(
        "models:/fraud@champion",
        registry=reg,
        trust_code=True,
        traffic=policy,
        watch_interval_s=0.05,
    )
    router = app.state.seawall.traffic["fraud"]
    worker_ready(router)
    payloads = [records(transactions(rng, 2)) for _ in range(2 * n)]
    bodies = [("v2", v2_body(p)) for p in payloads]
    with running(app) as url:
        send_all(url, bodies[:n], clients=4)
        wait_for(lambda: router.stats_for("shadow", "3").peek().requests == n, "version 3")
        reg.set_alias("fraud", "candidate", 2)
        wait_for(lambda: router.version_of("shadow") == "2", "the hot swap")
        send_all(url, bodies[n:], clients=4)
        wait_for(lambda: router.stats_for("shadow", "2").peek().requests == n, "version 2")
        described = router.describe()["shadow_queue"]["process"]
    app.state.seawall.close()
    assert described["version"] == "2" and described["restarts"] == 0
    later = [row for rows in payloads[n:] for row in rows]
    shadow_classes = oracle(pipe, later, CUTS[1])["predict"]
    assert router.stats_for("shadow", "2").peek().classes == {
        str(c): int(np.sum(shadow_classes == c)) for c in np.unique(shadow_classes)
    }


@pytest.mark.parametrize("why", ["version-not-loadable-there", "no-worker-starts"])
def test_what_the_worker_process_cannot_answer_the_server_does(
    versions, rng, monkeypatch, caplog, why
):
    """The shadow's bundle loads in the server but not in a worker process (its model's code
    is not there), or this interpreter cannot start one (here: what it runs exits at once):
    the server's threads answer, as the oracle says, and it is said once."""
    import contextlib
    import logging

    from seawall.serving import shadow_process

    reg, pipe = versions
    n = 30
    caplog.set_level(logging.WARNING, logger="seawall.serving")
    if why == "no-worker-starts":
        monkeypatch.setattr(shadow_process.sys, "executable", "/bin/false")
        fault, said_what = contextlib.nullcontext(), "ended before it loaded anything"
    else:
        fault, said_what = unloadable_elsewhere(3), "cannot load version 3"
    with fault:
        app = app_with(reg, TrafficPolicy(shadow="models:/fraud@candidate"))
        router = app.state.seawall.traffic["fraud"]
        payloads = [records(transactions(rng, 2)) for _ in range(n)]
        with running(app) as url:
            answers = send_all(url, [("v1", v1_body(p)) for p in payloads], clients=4)
            wait_for(lambda: router.stats_for("shadow", "3").peek().requests == n, "the shadow")
            described = router.describe()["shadow_queue"]
        app.state.seawall.close()
    assert [(s, a) for s, a, *_ in answers.items] == [(200, "primary")] * n
    every = [row for rows in payloads for row in rows]
    assert_as_the_oracle(router.stats_for("shadow", "3").peek(), every, pipe)
    assert described["process"]["version"] is None and described["process"]["restarts"] == 0
    said = [r.getMessage() for r in caplog.records if said_what in r.getMessage()]
    assert len(said) == 1 and "on the server's threads" in said[0], said
