"""Payload logging against a real uvicorn server on loopback: every sampled request exactly once,
with its id, inputs and outputs as the client sent and received them (httpx JSON, raw records,
tritonclient's binary tensors); sampling by id against an independent hash; errors only;
rotation by rows, bytes and time; exact drop counts under a burst and for a request too large
for the queue; a process killed mid-file; arms; folder and file names that nothing in a request
can steer."""

from __future__ import annotations

import hashlib
import itertools
import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from prometheus_client.parser import text_string_to_metric_families
from serving_helpers import records, running, transactions

from seawall.errors import InvalidInputError
from seawall.serving import PayloadLog, create_app, read_payloads, save_bundle
from seawall.serving import payload_log as payload_module
from seawall.serving.served_model import ServedModel

TYPES = {"amount": "FP64", "merchant": "BYTES", "age": "INT64"}
FILE_NAME = re.compile(r"\d{8}T\d{6}\.\d{6}Z-[0-9a-f]{8}-\d{6}\.parquet")
ODD_IDS = ["../../etc/passwd", "a\r\nX-Evil: 1", "ид-7", "x" * 300, "/abs/path", "%2e%2e"]


def v2_body(columns: dict[str, list[Any]], rid: str | None) -> dict[str, Any]:
    n = len(columns["age"])
    body: dict[str, Any] = {
        "inputs": [
            {"name": k, "datatype": TYPES[k], "shape": [n], "data": v} for k, v in columns.items()
        ]
    }
    if rid is not None:
        body["id"] = rid
    return body


class Sent:
    """What the client sent and received for one request."""

    def __init__(self, kind: str, columns: dict[str, list[Any]], rid: str | None) -> None:
        self.kind = kind
        self.columns = columns
        self.rid = rid
        self.id: str | None = None
        self.header: str | None = None
        self.status = 0
        self.error: str | None = None
        self.outputs: dict[str, np.ndarray] = {}
        self.before = self.after = 0.0


def send(url: str, item: Sent) -> Sent:
    item.before = time.time()
    if item.kind == "triton":
        import tritonclient.http as triton

        n = len(item.columns["age"])
        client = triton.InferenceServerClient(url=url.removeprefix("http://"))
        try:
            inputs = [triton.InferInput(k, [n], t) for k, t in TYPES.items()]
            inputs[0].set_data_from_numpy(np.array(item.columns["amount"], dtype=np.float64))
            inputs[1].set_data_from_numpy(np.array(item.columns["merchant"], dtype=object))
            inputs[2].set_data_from_numpy(np.array(item.columns["age"], dtype=np.int64))
            result = client.infer("fraud", inputs, request_id=item.rid or "")
        finally:
            client.close()
        item.status = 200
        item.id = result.get_response()["id"]
        item.outputs = {n: result.as_numpy(n) for n in ("label", "probabilities")}
        item.after = time.time()
        return item
    with httpx.Client(base_url=url, timeout=60) as client:
        if item.kind == "infer":
            r = client.post("/v2/models/fraud/infer", json=v2_body(item.columns, item.rid))
        else:
            body: dict[str, Any] = {"records": records(item.columns)}
            if item.rid is not None:
                body["id"] = item.rid
            r = client.post("/v1/models/fraud/predict", json=body)
    item.after = time.time()
    item.status = r.status_code
    item.header = r.headers.get("x-request-id")
    answer = r.json()
    if r.status_code != 200:
        item.error = answer["error"]
        return item
    item.id = answer["id"]
    if item.kind == "infer":
        item.outputs = {
            o["name"]: np.asarray(o["data"]).reshape(o["shape"]) for o in answer["outputs"]
        }
    else:
        item.outputs = {k: np.asarray(v) for k, v in answer["outputs"].items()}
    return item


def requests(rng: np.random.Generator, n: int, kinds: tuple[str, ...]) -> list[Sent]:
    out = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        columns = transactions(rng, int(rng.integers(1, 4)))
        if kind == "triton":  # binary tensors have no null: NaN and a name stand in
            columns["amount"] = [float("nan") if v is None else v for v in columns["amount"]]
            columns["merchant"] = ["none" if v is None else v for v in columns["merchant"]]
        rid = f"r{rng.integers(1 << 40)}-{i}" if rng.random() < 0.5 else None
        if i < len(ODD_IDS) and kind != "triton":
            rid = ODD_IDS[i]
        out.append(Sent(kind, columns, rid))
    return out


def logged_by_id(folder: Path) -> dict[str, list[dict[str, Any]]]:
    by_id: dict[str, list[dict[str, Any]]] = {}
    for row in read_payloads(folder).to_pylist():
        by_id.setdefault(row["request_id"], []).append(row)
    return by_id


def metric_values(text: str) -> dict[str, float]:
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("seawall_payload_log")
    }


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b):
        return True
    return bool(a == b)


def assert_logged_as_sent(rows: list[dict[str, Any]], item: Sent) -> None:
    n = len(item.columns["age"])
    assert [r["row"] for r in rows] == list(range(n))
    for r in rows:
        assert (r["model"], r["version"], r["arm"], r["status"]) == ("fraud", "3", "primary", 200)
        assert r["error"] is None
        t = r["time"].timestamp()
        assert item.before - 1e-3 <= t <= item.after + 1e-3
    for name, values in item.columns.items():
        got = [r[f"input.{name}"] for r in rows]
        want = [None if v is None else float(v) if name != "merchant" else v for v in values]
        assert all(same(g, w) for g, w in zip(got, want, strict=True)), (name, got, want)
    assert [r["output.label"] for r in rows] == item.outputs["label"].reshape(-1).tolist()
    proba = np.asarray(item.outputs["probabilities"], dtype=np.float64).reshape(n, 2)
    for j in range(2):
        got = np.array([r[f"output.probabilities_{j}"] for r in rows], dtype=np.float32)
        np.testing.assert_array_equal(got, proba[:, j].astype(np.float32))


def test_every_request_is_logged_once_as_sent_and_answered(onnx_bundle, rng, tmp_path):
    folder = tmp_path / "payloads"
    log = PayloadLog(folder)
    app = create_app(onnx_bundle, payload_log=log, profile_slice_s=None)
    sent = requests(rng, 120, ("infer", "predict", "triton"))
    with running(app) as url:
        with ThreadPoolExecutor(8) as pool:
            done = list(pool.map(lambda s: send(url, s), sent))
        scraped = metric_values(httpx.get(url + "/metrics").text)
    stats = log.stats()
    total_rows = sum(len(s.columns["age"]) for s in sent)
    assert stats["requests"] == stats["sampled"] == stats["written"] == len(sent)
    assert stats["dropped"] == stats["failed"] == stats["queued"] == 0
    assert stats["rows"] == total_rows
    assert scraped["seawall_payload_log_sampled_total"] == len(sent)
    assert scraped["seawall_payload_log_requests_total"] == len(sent)
    assert scraped["seawall_payload_log_dropped_total"] == 0

    by_id = logged_by_id(folder)
    assert len(by_id) == len(done)  # every request once: ids are unique
    for item in done:
        assert item.status == 200
        if item.rid is not None:
            assert item.id == item.rid  # the client's id is kept...
        else:
            assert re.fullmatch(r"[0-9a-f]{32}", item.id or "")  # ...or one is made
        if item.kind != "triton":
            safe = re.fullmatch(r"[!-~]{1,128}", item.id or "")
            assert item.header == (item.id if safe else None)
        assert_logged_as_sent(by_id[item.id or ""], item)
    # One folder for the model; file names from the writer's clock, never from a request.
    assert [p.name for p in folder.iterdir()] == ["fraud"]
    assert all(FILE_NAME.fullmatch(p.name) for p in (folder / "fraud").iterdir())


def test_a_model_without_pipeline_logs_its_input_tensor(fitted, rng, tmp_path):
    path = save_bundle(tmp_path / "plain", onnx_model=fitted.onnx, name="plain", version=1)
    log = PayloadLog(tmp_path / "payloads")
    app = create_app(str(path), payload_log=log, profile_slice_s=None)
    x = rng.normal(size=(5, fitted.width)).astype(np.float32)
    with running(app) as url, httpx.Client(base_url=url) as client:
        body = {
            "id": "t",
            "inputs": [
                {"name": "X", "datatype": "FP32", "shape": list(x.shape), "data": x.tolist()}
            ],
        }
        tensor = client.post("/v2/models/plain/infer", json=body).json()
        rows = client.post("/v1/models/plain/predict", json={"id": "r", "instances": x.tolist()})
        assert rows.status_code == 200
    table = read_payloads(tmp_path / "payloads", model="plain")
    assert table.num_rows == 10
    for rid, answer in (("t", tensor), ("r", rows.json())):
        mine = table.filter(pa.compute.equal(table["request_id"], rid))
        got = np.column_stack([mine[f"input.X_{j}"].to_numpy() for j in range(fitted.width)])
        np.testing.assert_array_equal(got, x)
        assert mine.schema.field("input.X_0").type == pa.float32()
        proba = np.column_stack([mine[f"output.probabilities_{j}"].to_numpy() for j in (0, 1)])
        outputs = answer["outputs"]
        if isinstance(outputs, list):
            outputs = {o["name"]: np.asarray(o["data"]).reshape(o["shape"]) for o in outputs}
        np.testing.assert_array_equal(proba, np.asarray(outputs["probabilities"], np.float32))


def blake2b_point(rid: str) -> float:
    digest = hashlib.blake2b(rid.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def test_sampling_keeps_exactly_the_ids_below_the_rate(onnx_bundle, rng, seed, tmp_path):
    rate = float(rng.uniform(0.2, 0.6))
    log = PayloadLog(tmp_path / "p", sample=rate)
    app = create_app(onnx_bundle, payload_log=log, profile_slice_s=None)
    ids = [f"{seed}-{i}" for i in range(200)]
    with running(app) as url, httpx.Client(base_url=url) as client:
        for rid in ids:
            columns = transactions(rng, 1)
            assert (
                client.post("/v2/models/fraud/infer", json=v2_body(columns, rid)).status_code == 200
            )
    expected = {rid for rid in ids if blake2b_point(rid) < rate}
    assert 0 < len(expected) < len(ids)
    assert set(logged_by_id(tmp_path / "p")) == expected
    stats = log.stats()
    assert (stats["requests"], stats["sampled"], stats["written"]) == (
        200,
        len(expected),
        len(expected),
    )
    assert all(log.sampled(rid) == (rid in expected) for rid in ids)


def test_errors_only_logs_exactly_the_errors(onnx_bundle, rng, tmp_path, monkeypatch):
    real_run = ServedModel.run

    async def run(self: ServedModel, x: np.ndarray, options: Any) -> Any:
        if x.shape[0] == 3:
            raise RuntimeError("the model cannot take three rows")
        return await real_run(self, x, options)

    monkeypatch.setattr(ServedModel, "run", run)
    log = PayloadLog(tmp_path / "p", errors_only=True)
    app = create_app(onnx_bundle, payload_log=log, profile_slice_s=None, max_body_bytes=20_000)
    good = transactions(rng, 2)
    three = transactions(rng, 3)
    bodies: list[tuple[str, Any]] = [
        ("ok", v2_body(good, "fine")),
        ("bad json", b'{"inputs": ['),
        (
            "unknown input",
            {"id": "u", "inputs": [{"name": "x", "datatype": "FP64", "shape": [1], "data": [1.0]}]},
        ),
        ("wrong type", {"inputs": [{**v2_body(good, None)["inputs"][0], "datatype": "BYTES"}]}),
        ("too large", b'{"inputs": [' + b" " * 30_000 + b"]}"),
        ("model fails", v2_body(three, "boom")),
        ("ok again", v2_body(good, None)),
    ]
    answers = {}
    with running(app) as url, httpx.Client(base_url=url) as client:
        for what, body in bodies:
            if isinstance(body, bytes):
                r = client.post("/v2/models/fraud/infer", content=body)
            else:
                r = client.post("/v2/models/fraud/infer", json=body)
            answers[what] = r
    assert [answers[w].status_code for w, _ in bodies] == [200, 400, 400, 400, 413, 500, 200]
    by_id = logged_by_id(tmp_path / "p")
    errors = {w: r for w, r in answers.items() if r.status_code != 200}
    assert set(by_id) == {r.headers["x-request-id"] for r in errors.values()}
    for what, r in errors.items():
        rows = by_id[r.headers["x-request-id"]]
        assert all(row["status"] == r.status_code for row in rows)
        assert all(row["error"] == r.json()["error"] for row in rows)
        assert all(row["output.label"] is None for row in rows)
        if what == "model fails":  # decoded: its inputs are there
            assert r.headers["x-request-id"] == "boom"
            assert [row["input.age"] for row in rows] == [float(v) for v in three["age"]]
            assert [row["row"] for row in rows] == [0, 1, 2]
        else:  # not decoded: one row, no inputs
            assert len(rows) == 1 and rows[0]["row"] is None and rows[0]["input.age"] is None
    stats = log.stats()
    assert stats["requests"] == len(bodies) and stats["written"] == len(errors)


def test_rotation_by_rows_keeps_requests_whole(onnx_bundle, rng, tmp_path):
    log = PayloadLog(tmp_path / "p", rotate_rows=5, flush_s=0.05)
    app = create_app(onnx_bundle, payload_log=log, profile_slice_s=None)
    sent = []
    with running(app) as url:
        for i in range(40):
            item = Sent("infer", transactions(rng, int(rng.integers(1, 4))), f"q{i}")
            sent.append(send(url, item))
            if i % 7 == 0:
                time.sleep(0.1)  # batches of several sizes reach the writer
    files = sorted((tmp_path / "p" / "fraud").iterdir())
    tables = [pq.read_table(f) for f in files]
    assert all(t.num_rows <= 5 for t in tables)
    ids = [t.column("request_id").to_pylist() for t in tables]
    for a, b in itertools.pairwise(ids):
        assert a[-1] != b[0]  # no request is split between two files
    for t, nxt in itertools.pairwise(tables):
        first = nxt.column("request_id")[0].as_py()
        assert t.num_rows == 5 or t.num_rows + nxt.column("request_id").to_pylist().count(first) > 5
    order = [rid for t in ids for rid in dict.fromkeys(t)]
    assert order == [s.id for s in sent]  # one client after the other: the files keep its order
    assert log.stats()["files"] == len(files)


def record(log: PayloadLog, signature: Any, rid: str, rows: int = 1, width: int = 1) -> bool:
    columns = {
        "amount": [1.5] * rows,
        "merchant": ["m" * width] * rows,
        "age": [30] * rows,
    }
    outputs = {
        "label": np.ones(rows, dtype=np.int64),
        "probabilities": np.full((rows, 2), 0.5, dtype=np.float32),
    }
    return log.record(
        model="fraud",
        version="3",
        request_id=rid,
        signature=signature,
        inputs=columns,
        outputs=outputs,
    )


def test_rotation_by_bytes(onnx_bundle, tmp_path):
    limit = 6_000
    log = PayloadLog(tmp_path / "p", rotate_bytes=limit)
    signature = onnx_bundle.signature
    for i in range(60):
        assert record(log, signature, f"b{i}", rows=3, width=100 + i)
        assert log.flush()  # one row group a record
    log.close()
    files = sorted((tmp_path / "p" / "fraud").iterdir())
    assert len(files) > 2
    for f in files[:-1]:
        assert f.stat().st_size >= limit
        meta = pq.ParquetFile(f).metadata
        last = meta.row_group(meta.num_row_groups - 1)
        chunks = [last.column(c) for c in range(last.num_columns)]
        before_last = min(  # the file's size when its last row group began
            c.dictionary_page_offset if c.has_dictionary_page else c.data_page_offset
            for c in chunks
        )
        assert before_last < limit  # published as soon as it crossed the limit
    assert read_payloads(tmp_path / "p").num_rows == 180


def test_rotation_by_time_and_file_names(onnx_bundle, tmp_path):
    now = [1_700_000_000.25]
    log = PayloadLog(tmp_path / "p", rotate_s=60, clock=lambda: now[0])
    signature = onnx_bundle.signature
    record(log, signature, "a")
    assert log.flush()
    now[0] += 30
    record(log, signature, "b")
    assert log.flush()
    assert list((tmp_path / "p" / "fraud").glob("*.parquet")) == []  # nothing is published yet
    now[0] += 31
    assert log.flush()  # 61 s after the file opened: it is published
    (first,) = (tmp_path / "p" / "fraud").glob("*.parquet")
    assert first.name.startswith("20231114T221320.250000Z-")
    assert pq.read_table(first).column("request_id").to_pylist() == ["a", "b"]
    record(log, signature, "c")
    log.close()
    files = sorted((tmp_path / "p" / "fraud").glob("*.parquet"))
    assert [pq.read_table(f).column("request_id").to_pylist() for f in files] == [["a", "b"], ["c"]]
    assert files[1].name.startswith("20231114T221421.250000Z-")


def test_a_tiny_queue_under_a_burst_counts_every_drop(onnx_bundle, rng, tmp_path, monkeypatch):
    """The writer is held at its first batch: the queue fills to max_queue and every request
    after that is dropped, exactly, while the requests themselves all succeed."""
    gate = threading.Event()
    real = payload_module.records_table

    def held(records: Any, schema: Any) -> Any:
        gate.wait(120)
        return real(records, schema)

    monkeypatch.setattr(payload_module, "records_table", held)
    log = PayloadLog(tmp_path / "p", max_queue=5, flush_s=0.02)
    app = create_app(onnx_bundle, payload_log=log, profile_slice_s=None)
    sent = requests(rng, 60, ("infer",))
    with running(app) as url:
        with ThreadPoolExecutor(8) as pool:
            done = list(pool.map(lambda s: send(url, s), sent))
        scraped = metric_values(httpx.get(url + "/metrics").text)
        gate.set()
    assert all(s.status == 200 for s in done)
    stats = log.stats()
    assert stats["sampled"] == 60
    assert stats["written"] == 5 and stats["dropped"] == 55
    assert stats["written"] + stats["dropped"] == stats["sampled"]
    assert scraped["seawall_payload_log_dropped_total"] == 55
    by_id = logged_by_id(tmp_path / "p")
    assert len(by_id) == 5 and set(by_id) <= {s.id for s in done}


def test_a_request_too_large_for_the_queue_is_dropped(onnx_bundle, rng, tmp_path):
    log = PayloadLog(tmp_path / "p", max_queue_bytes=256 << 10)
    app = create_app(onnx_bundle, payload_log=log, profile_slice_s=None)
    huge = transactions(rng, 20_000)
    with running(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        r = client.post("/v1/models/fraud/predict", json={"id": "huge", "records": records(huge)})
        assert r.status_code == 200 and r.json()["id"] == "huge"
        for i in range(5):
            body = v2_body(transactions(rng, 2), f"small-{i}")
            assert client.post("/v2/models/fraud/infer", json=body).status_code == 200
    stats = log.stats()
    assert (stats["sampled"], stats["dropped"], stats["written"]) == (6, 1, 5)
    assert set(logged_by_id(tmp_path / "p")) == {f"small-{i}" for i in range(5)}


ROTATE_ROWS = 2000
KILLED_WRITER = """
import sys, time
import numpy as np
from seawall.bundles import Signature, TensorSpec
from seawall.serving import PayloadLog
signature = Signature((TensorSpec("x", "FP64", (-1,)),), (TensorSpec("y", "FP32", (-1,)),), ())
log = PayloadLog(sys.argv[1], rotate_rows=int(sys.argv[2]), flush_s=0.01)
i = 0
while True:
    for _ in range(50):
        log.record(model="m", version="1", request_id=str(i), signature=signature,
                   inputs={"x": [float(i)]}, outputs={"y": np.array([i], np.float32)})
        i += 1
    time.sleep(0.002)
"""


def test_a_writer_killed_mid_file_leaves_no_partial_parquet(tmp_path):
    folder = tmp_path / "p"
    child = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(folder), str(ROTATE_ROWS)])
    try:
        deadline = time.monotonic() + 120
        while True:
            published = list(folder.glob("m/*.parquet"))
            partial = [p for p in folder.glob("m/.*.tmp") if p.stat().st_size > 1000]
            if len(published) >= 2 and partial:
                break
            assert child.poll() is None, "the writer process ended"
            assert time.monotonic() < deadline, "the writer published nothing in 120 s"
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    published = sorted(folder.glob("m/*.parquet"))
    temporaries = list(folder.glob("m/.*.tmp"))
    assert len(temporaries) == 1  # the file it was writing is there, under a hidden name only
    try:
        unpublished = pq.read_table(temporaries[0]).num_rows
    except pa.ArrowInvalid:  # killed while writing it: not a whole Parquet file
        unpublished = 0
    assert unpublished in (0, ROTATE_ROWS)  # (or killed between closing and renaming it)
    assert all(pq.read_table(p).num_rows == ROTATE_ROWS for p in published)
    table = read_payloads(folder)
    assert table.num_rows == ROTATE_ROWS * len(published)
    values = table.column("input.x").to_numpy()
    np.testing.assert_array_equal(values, np.arange(len(values), dtype=np.float64))
    PayloadLog(folder).close()  # a new writer removes the dead one's temporary
    assert list(folder.glob("m/.*.tmp")) == []
    assert sorted(folder.glob("m/*.parquet")) == published


def test_arms_through_the_hook_and_per_arm_rates(onnx_bundle, rng, tmp_path, monkeypatch):
    real_run = ServedModel.run

    async def routed(self: ServedModel, x: np.ndarray, options: Any) -> Any:
        payload_module.set_arm("canary" if x.shape[0] == 2 else "primary")
        return await real_run(self, x, options)

    monkeypatch.setattr(ServedModel, "run", routed)
    for sample, arms in ((1.0, {"primary", "canary"}), ({"canary": 1.0}, {"canary"})):
        folder = tmp_path / str(len(arms))
        log = PayloadLog(folder, sample=sample)
        app = create_app(onnx_bundle, payload_log=log, profile_slice_s=None)
        sizes = [1, 2, 3, 2, 1, 2]
        with running(app) as url, httpx.Client(base_url=url) as client:
            for i, n in enumerate(sizes):
                body = v2_body(transactions(rng, n), f"a{i}")
                assert client.post("/v2/models/fraud/infer", json=body).status_code == 200
        by_id = logged_by_id(folder)
        expected = {f"a{i}": "canary" if n == 2 else "primary" for i, n in enumerate(sizes)}
        assert {rid: rows[0]["arm"] for rid, rows in by_id.items()} == {
            rid: arm for rid, arm in expected.items() if arm in arms
        }
    payload_module.set_arm("outside")  # no request: nothing to name
    with pytest.raises(InvalidInputError, match="arm"):
        payload_module.set_arm("no spaces allowed")


def test_folders_stay_inside_the_log(onnx_bundle, tmp_path):
    root = tmp_path / "root"
    log = PayloadLog(root)
    names = ["../../outside", "a/b", "..", ".", "x\\y", "ok-name_1.2"]
    for name in names:
        assert log.record(
            model=name,
            version=None,
            request_id="../../x",
            signature=onnx_bundle.signature,
            inputs={"amount": [1.0], "merchant": ["m"], "age": [1]},
        )
    log.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["root"]
    folders = {p.name: p for p in root.iterdir()}
    assert len(folders) == len(names)
    assert all(p.parent == root and p.is_dir() for p in folders.values())
    assert "ok-name_1.2" in folders and "%2E%2E" in folders and "%2E" in folders
    assert all(FILE_NAME.fullmatch(f.name) for p in folders.values() for f in p.iterdir())
    for name in names:
        assert read_payloads(root, model=name).column("model").to_pylist() == [name]


def test_bad_settings_are_clear_errors(tmp_path):
    for kwargs in (
        {"sample": 1.5},
        {"sample": {"primary": -0.1}},
        {"sample": {"bad arm!": 0.5}},
        {"max_queue": 0},
        {"max_queue_bytes": True},
        {"rotate_rows": 0},
        {"rotate_s": 0},
        {"flush_s": float("inf")},
    ):
        with pytest.raises(InvalidInputError):
            PayloadLog(tmp_path / "p", **kwargs)
    (tmp_path / "file").write_text("")
    with pytest.raises(InvalidInputError, match="cannot create"):
        PayloadLog(tmp_path / "file" / "sub")
    with pytest.raises(InvalidInputError, match="not a folder"):
        read_payloads(tmp_path / "missing")


def test_seawall_serve_log_payloads_options(cli_app, onnx_bundle, tmp_path):
    folder = tmp_path / "logs"
    app, _ = cli_app(
        [
            "serve",
            str(onnx_bundle.path),
            "--log-payloads",
            str(folder),
            "--payload-sample",
            "0.25",
            "--payload-errors-only",
        ]
    )
    log = app.state.seawall.payload_log
    assert isinstance(log, PayloadLog)
    assert log.directory == folder and log.rate() == 0.25 and log.errors_only
    app.state.seawall.close()
    app, _ = cli_app(["serve", str(onnx_bundle.path)])
    assert app.state.seawall.payload_log is None
    app.state.seawall.close()

    from click.testing import CliRunner

    from seawall.cli import main

    result = CliRunner().invoke(main, ["serve", str(onnx_bundle.path), "--payload-sample", "0.5"])
    assert result.exit_code == 2 and "need --log-payloads" in result.output
