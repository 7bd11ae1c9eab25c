"""What monitoring costs serving: the same model server with and without it.

A fraud model (the demo's pipeline and logistic regression) served by uvicorn on loopback;
CLIENTS threads each send single-record JSON requests to ``/v1/models/fraud/predict`` as fast as
answers come back. "off": no live profile, no monitor. "on": the live profile of every request
(features and predictions, 1 s slices) feeding a Monitor with 2 s windows, alert rules, and its
metrics on /metrics. The two servers run alternately in the same process, several rounds each.

    python -m pytest benchmarks/bench_monitoring_overhead.py -s --benchmark-columns=median,min,rounds

Target: monitoring costs at most 5% of the throughput at 32 concurrent clients.
"""

from __future__ import annotations

import http.client
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from conftest import ROWS
from seawall.serving import serve_in_thread

CLIENTS = 32
REQUESTS = max(320, min(6400, ROWS // 200))  # per round, over all clients


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict[str, Any]:
    import seawall as sw
    from seawall.demo.loop_demo import FEATURES, Trainer, transactions
    from seawall.demo.stream import LABEL
    from seawall.monitoring import Monitor, Rule

    folder: Path = tmp_path_factory.mktemp("overhead")
    reg = sw.Registry(f"sqlite:///{folder / 'reg.db'}", artifacts=folder / "art")
    history = transactions(20_000, seed=1, regime=0)
    with reg.start_run(experiment="fraud.training") as run:
        bundle = Trainer(folder)(history, run)
    reg.register_model("fraud", bundle, profile=sw.Profile.from_data(history.drop_columns([LABEL])))
    reg.set_alias("fraud", "champion", 1)
    rows = transactions(CLIENTS * 64, seed=2, regime=0).select(FEATURES).to_pylist()
    bodies = [
        json.dumps({"records": [{k: (None if v != v else v) for k, v in r.items()}]}).encode()
        for r in rows
    ]
    monitor = Monitor(
        "fraud",
        registry=reg,
        version="champion",
        window_s=2.0,
        rules=[Rule.drift_share(above=0.5), Rule.missing("*", above=0.2)],
    )
    return {"registry": reg, "bodies": bodies, "monitor": monitor}


def _app(setup: dict[str, Any], monitored: bool) -> Any:
    from seawall.serving import create_app

    return create_app(
        "models:/fraud@champion",
        registry=setup["registry"],
        trust_code=True,
        watch_interval_s=None,
        profile_slice_s=1.0 if monitored else None,
        monitors={"fraud": setup["monitor"]} if monitored else None,
        max_queue_delay_us=500,
    )


def _hammer(url: str, bodies: list[bytes]) -> None:
    host, port = url.removeprefix("http://").split(":")

    def client(k: int) -> None:
        # One kept-alive connection per client, as a load balancer or a service would hold.
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        try:
            for i in range(k, REQUESTS, CLIENTS):
                conn.request(
                    "POST",
                    "/v1/models/fraud/predict",
                    bodies[i % len(bodies)],
                    {"Content-Type": "application/json"},
                )
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    raise RuntimeError(f"status {response.status}")
        finally:
            conn.close()

    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(client, range(CLIENTS)))


@pytest.mark.parametrize("monitoring", ["off", "on"])
def test_serving_throughput(benchmark, setup, medians, monitoring):
    app = _app(setup, monitoring == "on")
    with serve_in_thread(app) as url:
        _hammer(url, setup["bodies"][:CLIENTS])  # warm up: connections, first batches
        benchmark.pedantic(_hammer, args=(url, setup["bodies"]), rounds=5, iterations=1)
    medians.record(f"serving_{monitoring}", benchmark)
    state = app.state.seawall
    if monitoring == "on":
        profiler = state.profiler("fraud")
        profiler.flush(close_slice=True)
        assert profiler.dropped_rows == 0 and profiler.failed_batches == 0
        assert sum(s.rows for s in profiler.slices()) >= REQUESTS
    state.close()


def report(medians: dict[str, float]) -> list[str]:
    off, on = medians["serving_off"], medians["serving_on"]
    rate_off, rate_on = REQUESTS / off, REQUESTS / on
    return [
        f"{CLIENTS} clients, {REQUESTS} single-record requests per round",
        f"throughput: monitoring off {rate_off:,.0f} req/s, on {rate_on:,.0f} req/s -> "
        f"monitoring costs {100 * (1 - rate_on / rate_off):.1f}%  [target <= 5%]",
    ]
