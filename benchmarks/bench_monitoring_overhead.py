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

from typing import Any

import pytest

from conftest import ROWS
from fraud_serving import feature_rows, fraud_champion, hammer, record_bodies
from seawall.serving import serve_in_thread

CLIENTS = 32
REQUESTS = max(320, min(6400, ROWS // 200))  # per round, over all clients


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict[str, Any]:
    from seawall.monitoring import Monitor, Rule

    reg, _ = fraud_champion(tmp_path_factory.mktemp("overhead"))
    bodies = record_bodies(feature_rows(CLIENTS * 64))
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
    hammer(url, bodies, REQUESTS, CLIENTS)


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
