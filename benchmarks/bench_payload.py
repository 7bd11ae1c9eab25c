"""What payload logging costs serving: the same model server with and without it, same run.

A fraud model (the demo's pipeline and logistic regression) served by uvicorn on loopback;
CLIENTS threads each send single-record JSON requests as fast as answers come back, to
``/v1/models/fraud/predict`` (raw records) and to ``/v2/models/fraud/infer`` (v2 tensors).
"off": no payload log (the anchor). "on": ``PayloadLog`` at 100% sampling, every request and
answer written to Parquet. No live profile on either, so the difference is the payload log's.
The two servers run side by side in the same process, their rounds alternating.

    python -m pytest benchmarks/bench_payload.py -s --benchmark-columns=median,min,rounds

Targets: payload logging at 100% sampling costs at most 5% of the throughput, and loses no
record below the queue's capacity (every request written, none dropped).
"""

from __future__ import annotations

import http.client
import json
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from conftest import ROWS
from seawall.serving import serve_in_thread

CLIENTS = 32
REQUESTS = max(320, min(5000, ROWS // 200))  # per round, over all clients
ROUNDS = 5
PATHS = {"predict": "/v1/models/fraud/predict", "infer": "/v2/models/fraud/infer"}


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict[str, Any]:
    import seawall as sw
    from seawall.demo.loop_demo import FEATURES, Trainer, transactions
    from seawall.demo.stream import LABEL

    folder: Path = tmp_path_factory.mktemp("payload")
    reg = sw.Registry(f"sqlite:///{folder / 'reg.db'}", artifacts=folder / "art")
    history = transactions(20_000, seed=1, regime=0)
    with reg.start_run(experiment="fraud.training") as run:
        bundle = Trainer(folder)(history, run)
    reg.register_model("fraud", bundle, profile=sw.Profile.from_data(history.drop_columns([LABEL])))
    reg.set_alias("fraud", "champion", 1)
    from seawall.serving import load_bundle

    types = {s.name: s.datatype for s in load_bundle(bundle, trust_code=True).signature.inputs}
    rows = transactions(CLIENTS * 64, seed=2, regime=0).select(FEATURES).to_pylist()
    rows = [{k: (None if v != v else v) for k, v in r.items()} for r in rows]
    predict = [json.dumps({"records": [r]}).encode() for r in rows]
    infer = [
        json.dumps(
            {
                "inputs": [
                    {
                        "name": k,
                        "datatype": types[k],
                        "shape": [1],
                        "data": [str(v) if types[k] == "BYTES" and v is not None else v],
                    }
                    for k, v in r.items()
                ]
            }
        ).encode()
        for r in rows
    ]
    return {"registry": reg, "bodies": {"predict": predict, "infer": infer}, "folder": folder}


def _app(setup: dict[str, Any], payload_log: Any) -> Any:
    from seawall.serving import create_app

    return create_app(
        "models:/fraud@champion",
        registry=setup["registry"],
        trust_code=True,
        watch_interval_s=None,
        profile_slice_s=None,
        payload_log=payload_log,
        max_queue_delay_us=500,
    )


SENT: dict[str, int] = {}  # requests answered 200, per server URL


def _hammer(url: str, path: str, bodies: list[bytes], requests: int) -> None:
    host, port = url.removeprefix("http://").split(":")

    def client(k: int) -> None:
        # One kept-alive connection per client, as a load balancer or a service would hold.
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        try:
            for i in range(k, requests, CLIENTS):
                conn.request(
                    "POST", path, bodies[i % len(bodies)], {"Content-Type": "application/json"}
                )
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    raise RuntimeError(f"status {response.status}: {response.read()!r}")
        finally:
            conn.close()

    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(client, range(CLIENTS)))
    SENT[url] = SENT.get(url, 0) + requests


@pytest.mark.parametrize("endpoint", ["predict", "infer"])
def test_payload_logging_cost(benchmark, setup, medians, endpoint):
    """Both servers run side by side; before each timed round of the logging one, the anchor
    takes the same load (timed too), so that the two see the same machine (it is shared and
    noisy). A logging round ends when its records are written (flush)."""
    from seawall.serving import PayloadLog, read_payloads

    folder = setup["folder"] / f"payloads-{endpoint}"
    payload_log = PayloadLog(folder, sample=1.0)
    path, bodies = PATHS[endpoint], setup["bodies"][endpoint]
    anchor_times: list[float] = []
    with (
        serve_in_thread(_app(setup, None)) as anchor_url,
        serve_in_thread(_app(setup, payload_log)) as url,
    ):
        for u in (anchor_url, url):  # warm up: connections, batches
            _hammer(u, path, bodies, CLIENTS * 4)

        def anchor() -> None:
            start = time.perf_counter()
            _hammer(anchor_url, path, bodies, REQUESTS)
            anchor_times.append(time.perf_counter() - start)

        def logged() -> None:
            _hammer(url, path, bodies, REQUESTS)
            assert payload_log.flush()

        benchmark.pedantic(logged, setup=anchor, rounds=ROUNDS, iterations=1)
    if anchor_times:
        medians[f"{endpoint}_off"] = statistics.median(anchor_times)
    medians.record(f"{endpoint}_on", benchmark)
    # The server's shutdown closed the log: every request is written, none dropped.
    sent = SENT[url]
    stats = payload_log.stats()
    assert stats["dropped"] == 0 and stats["failed"] == 0, stats
    assert stats["sampled"] == stats["written"] == sent, stats
    assert read_payloads(folder).num_rows == sent


def report(medians: dict[str, float]) -> list[str]:
    lines = [f"{CLIENTS} clients, {REQUESTS} single-record requests per round"]
    for endpoint in PATHS:
        off, on = medians[f"{endpoint}_off"], medians[f"{endpoint}_on"]
        rate_off, rate_on = REQUESTS / off, REQUESTS / on
        lines.append(
            f"{endpoint}: throughput without payload log {rate_off:,.0f} req/s, with it (100%) "
            f"{rate_on:,.0f} req/s -> logging costs {100 * (1 - rate_on / rate_off):.1f}%  "
            "[target <= 5%]"
        )
    return lines
