"""What payload logging costs serving: the same model server with and without it, same run.

A fraud model (the demo's pipeline and logistic regression) served by uvicorn on loopback;
CLIENTS threads each send single-record JSON requests as fast as answers come back, to
``/v1/models/fraud/predict`` (raw records) and to ``/v2/models/fraud/infer`` (v2 tensors).
"off": no payload log (the anchor). "on": ``PayloadLog`` at 100% sampling, every request and
answer written to Parquet. No live profile on either, so the difference is the payload log's.
The two servers run side by side in the same process, their rounds alternating (anchor,
logging, anchor, ...): besides the ratio of the median throughputs, each logging round is
compared with the mean of the anchor rounds just before and after it, and the median of those
paired ratios is reported too (the machine is shared: its load moves between rounds).

    python -m pytest benchmarks/bench_payload.py -s --benchmark-columns=median,min,rounds

Targets: payload logging at 100% sampling costs at most 5% of the throughput, and loses no
record below the queue's capacity (every request written, none dropped).
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import ROWS
from fraud_serving import PREDICT, feature_rows, fraud_champion, hammer, record_bodies
from seawall.serving import serve_in_thread

CLIENTS = 32
REQUESTS = max(320, min(3000, ROWS // 300))  # per round, over all clients
ROUNDS = 11
PAIRED: dict[str, float] = {}  # endpoint -> median of the paired throughput ratios
PATHS = {"predict": PREDICT, "infer": "/v2/models/fraud/infer"}


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict[str, Any]:
    from seawall.serving import load_bundle

    folder: Path = tmp_path_factory.mktemp("payload")
    reg, bundle = fraud_champion(folder)
    types = {s.name: s.datatype for s in load_bundle(bundle, trust_code=True).signature.inputs}
    rows = feature_rows(CLIENTS * 64)
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
    bodies = {"predict": record_bodies(rows), "infer": infer}
    return {"registry": reg, "bodies": bodies, "folder": folder}


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
    hammer(url, bodies, requests, CLIENTS, path)
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
        anchor()  # the anchor after the last logging round
    stats_of = getattr(benchmark, "stats", None)
    if stats_of is not None and getattr(stats_of, "stats", None) is not None:
        medians[f"{endpoint}_off"] = statistics.median(anchor_times)
        logged_times = stats_of.stats.data  # in the order they ran
        PAIRED[endpoint] = statistics.median(
            (anchor_times[i] + anchor_times[i + 1]) / 2 / t for i, t in enumerate(logged_times)
        )
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
            f"(paired rounds: {100 * (1 - PAIRED[endpoint]):.1f}%)  [target <= 5%]"
        )
    return lines
