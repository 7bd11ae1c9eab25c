"""Traffic policies on a real server, against the same server with no policy (the anchor) in the
same run: both run side by side and their rounds are interleaved, so that both see the same load
on this shared machine.

The demo's fraud model (its pipeline and logistic regression), three versions in a registry
(champion, challenger, candidate), served by uvicorn on loopback; CLIENTS threads send
single-record JSON requests to ``/v1/models/fraud/predict`` as fast as answers come back, each
on a kept-alive connection, and time every request. Cases:

- "canary": a 10% canary (the share is counted from the ``seawall-arm`` header of every answer);
- "sticky": the same with ``sticky="header:x-user-id"``, 1,000 users (every answer of a user
  must come from one arm);
- "shadow": a shadow at 100% (every request copied to the candidate, off the request path),
  answered in a worker process of its own (the default);
- "shadow-threads": the same, answered on the server's threads (``shadow_process=False``);
- "none": no policy, against the anchor: what the benchmark's own noise and ordering make of two
  identical servers (A/A).

    python -m pytest benchmarks/bench_traffic.py -s --benchmark-columns=median,min,rounds

Then the rollback: a challenger that starts failing (every answer an error), or that becomes
three times slower, under steady traffic with a rollout evaluating every INTERVAL_S; the time
from the fault to the rollback, in seconds and in evaluation intervals.

Targets: the canary's share within 10 +- 0.7% over 20,000 requests; 100% of a user's requests on
one arm; with the shadow, the primary's p99 and throughput within 5% of the anchor's (reported,
not asserted: timings; the p99 also at a steady PACED_RATE below saturation); a rollback within
two evaluation intervals. SEAWALL_BENCH_ROWS scales the
number of requests down for CI's smoke run.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.stats import binomtest

from conftest import ROWS
from seawall.serving import TrafficPolicy, serve_in_thread

CLIENTS = 8
ROUNDS = 4
REQUESTS = max(400, min(20_000, ROWS // 50))  # over all rounds of a case
USERS = 1000
INTERVAL_S = 2.0  # the rollout's evaluation interval in the rollback runs
PACED_RATE = 300  # req/s: below saturation, where a server usually runs
# Figures of this run, for the report: case -> {throughput, p99, ...}
FIGURES: dict[str, dict[str, float]] = {}

FAULTS: dict[int, str] = {}  # version -> "errors" | "slow": set while a fault is injected


class Faulty:
    """A registered model that fails, or becomes 3x slower, while FAULTS says so."""

    def __init__(self, model: Any, version: int, seconds: float) -> None:
        self.model = model
        self.version = version
        self.seconds = seconds  # the normal time a call takes (a sleep: a model computing)

    def _call(self, method: str, x: np.ndarray) -> np.ndarray:
        fault = FAULTS.get(self.version)
        if fault == "errors":
            raise RuntimeError("injected failure")
        time.sleep(self.seconds * (3 if fault == "slow" else 1))
        return getattr(self.model, method)(x)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self._call("predict", x)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self._call("predict_proba", x)


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict[str, Any]:
    import seawall as sw
    from seawall.demo.loop_demo import FEATURES, Trainer, transactions
    from seawall.registry import resolve_bundle
    from seawall.serving import load_bundle, save_bundle

    folder: Path = tmp_path_factory.mktemp("traffic")
    reg = sw.Registry(f"sqlite:///{folder / 'reg.db'}", artifacts=folder / "art")
    trainer = Trainer(folder)
    for seed in (1, 2, 3):  # champion, challenger, candidate
        data = transactions(20_000, seed=seed, regime=0)
        with reg.start_run(experiment="fraud.training") as run:
            reg.register_model("fraud", trainer(data, run))
    for alias, version in (("champion", 1), ("challenger", 2), ("candidate", 3)):
        reg.set_alias("fraud", alias, version)
    # versions 4 and 5: the champion's and challenger's models behind a switchable fault, each
    # call taking 10 ms (as a larger model would: the model's time dominates the request's)
    for source in (1, 2):
        bundle = load_bundle(resolve_bundle(f"models:/fraud/{source}", reg), trust_code=True)
        path = save_bundle(
            folder / f"faulty-{source}",
            python_model=Faulty(bundle.model.obj, source + 3, 0.01),
            pipeline=bundle.pipeline,
            name="fraud",
            example=transactions(8, seed=9, regime=0).select(FEATURES),
        )
        reg.register_model("fraud", path)
    rows = transactions(CLIENTS * 64, seed=4, regime=0).select(FEATURES).to_pylist()
    bodies = [
        json.dumps({"records": [{k: (None if v != v else v) for k, v in r.items()}]}).encode()
        for r in rows
    ]
    rng = np.random.default_rng(5)
    users = [f"user-{u}" for u in rng.integers(1 << 40, size=USERS)]
    return {"registry": reg, "bodies": bodies, "users": users}


def _app(setup: dict[str, Any], policy: TrafficPolicy | None, **kwargs: Any) -> Any:
    from seawall.serving import create_app

    return create_app(
        "models:/fraud@champion",
        registry=setup["registry"],
        trust_code=True,
        watch_interval_s=kwargs.pop("watch_interval_s", None),
        profile_slice_s=None,
        max_queue_delay_us=500,
        traffic=policy,
        **kwargs,
    )


def _hammer(
    url: str, bodies: list[bytes], n: int, users: list[str] | None, clients: int = CLIENTS
) -> list[Any]:
    """Sends n requests from `clients` threads; returns (arm, seconds, user) per request."""
    host, port = url.removeprefix("http://").split(":")

    def client(k: int) -> list[Any]:
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        out = []
        try:
            for i in range(k, n, clients):
                headers = {"Content-Type": "application/json"}
                user = users[(i * 7919) % len(users)] if users else None
                if user is not None:
                    headers["x-user-id"] = user
                start = time.perf_counter()
                conn.request("POST", "/v1/models/fraud/predict", bodies[i % len(bodies)], headers)
                response = conn.getresponse()
                response.read()
                seconds = time.perf_counter() - start
                if response.status != 200:
                    raise RuntimeError(f"status {response.status}")
                out.append((response.getheader("seawall-arm"), seconds, user))
        finally:
            conn.close()
        return out

    with ThreadPoolExecutor(clients) as pool:
        return [r for part in pool.map(client, range(clients)) for r in part]


POLICIES = {
    "none": lambda: None,
    "canary": lambda: TrafficPolicy("models:/fraud@challenger", 10),
    "sticky": lambda: TrafficPolicy("models:/fraud@challenger", 10, sticky="header:x-user-id"),
    "shadow": lambda: TrafficPolicy(shadow="models:/fraud@candidate", shadow_queue=4096),
    "shadow-threads": lambda: TrafficPolicy(
        shadow="models:/fraud@candidate", shadow_queue=4096, shadow_process=False
    ),
}


def _paced(url: str, bodies: list[bytes], n: int, rate: float) -> list[float]:
    """Sends n requests at `rate` per second (CLIENTS threads, each on its schedule); returns
    each request's seconds."""
    host, port = url.removeprefix("http://").split(":")
    start = time.perf_counter() + 0.05

    def client(k: int) -> list[float]:
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        out = []
        try:
            for i in range(k, n, CLIENTS):
                wait = start + i / rate - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                sent = time.perf_counter()
                conn.request("POST", "/v1/models/fraud/predict", bodies[i % len(bodies)])
                response = conn.getresponse()
                response.read()
                out.append(time.perf_counter() - sent)
        finally:
            conn.close()
        return out

    with ThreadPoolExecutor(CLIENTS) as pool:
        return [s for part in pool.map(client, range(CLIENTS)) for s in part]


def _worker_ready(app: Any, timeout_s: float = 120.0) -> None:
    """Waits until the policy's shadow worker process (if it has one) serves its version."""
    if "fraud" not in app.state.seawall.traffic:
        return
    router = app.state.seawall.traffic["fraud"]
    queue = router.describe()["shadow_queue"]
    if queue is None or queue.get("process") is None:
        return
    deadline = time.monotonic() + timeout_s
    while router.describe()["shadow_queue"]["process"]["version"] is None:
        if time.monotonic() > deadline:
            raise RuntimeError("the shadow's worker process did not start")
        time.sleep(0.05)


def _figures(answers: list[Any], seconds: list[float], per_round: int) -> dict[str, Any]:
    latency = np.array([s for _, s, _ in answers])
    return {
        "requests": len(answers),
        "rate": per_round / float(np.median(seconds)),
        "p50": float(np.quantile(latency, 0.5)),
        "p99": float(np.quantile(latency, 0.99)),
    }


@pytest.mark.parametrize("case", list(POLICIES))
def test_traffic_throughput(benchmark, setup, medians, case):
    """The policy's server and the anchor (the same server without a policy) run side by side,
    their rounds interleaved (anchor and policy in turn first), so that both see the same
    machine."""
    app = _app(setup, POLICIES[case]())
    anchor = _app(setup, None)
    per_round = max(CLIENTS, REQUESTS // ROUNDS)
    users = setup["users"] if case == "sticky" else None
    answers: list[Any] = []
    anchored: list[Any] = []
    anchor_seconds: list[float] = []
    with serve_in_thread(app) as url, serve_in_thread(anchor) as anchor_url:
        for u in (url, anchor_url):  # warm up: connections, batches
            _hammer(u, setup["bodies"], CLIENTS * 8, users)
        _worker_ready(app)  # a shadow's worker process started and loaded: not in the rounds

        def anchor_round() -> None:
            start = time.perf_counter()
            anchored.extend(_hammer(anchor_url, setup["bodies"], per_round, users))
            anchor_seconds.append(time.perf_counter() - start)

        # The anchor's rounds before and after the policy's in turn (A P, P A, A P, ...): a
        # server that always runs second is a few per cent slower, policy or not.
        rounds = iter(range(ROUNDS))
        anchor_first = [k % 2 == 0 for k in range(ROUNDS)]

        def before() -> None:
            k = next(rounds)
            if anchor_first[k]:
                anchor_round()
            turn.append(k)

        turn: list[int] = []
        benchmark.pedantic(
            lambda: answers.extend(_hammer(url, setup["bodies"], per_round, users)),
            setup=before,
            teardown=lambda: None if anchor_first[turn[-1]] else anchor_round(),
            rounds=ROUNDS,
            iterations=1,
        )
        paced: dict[str, list[float]] = {"policy": [], "anchor": []}
        if case.startswith("shadow"):  # below saturation too: the p99 at a steady PACED_RATE
            n = min(per_round, PACED_RATE * 10)
            for first, second in (("anchor", "policy"), ("policy", "anchor")):
                for who in (first, second):
                    paced[who] += _paced(
                        anchor_url if who == "anchor" else url, setup["bodies"], n, PACED_RATE
                    )
        router = app.state.seawall.traffic.get("fraud")
        shadow = router.describe()["shadow_queue"] if router is not None else None
    app.state.seawall.close()
    anchor.state.seawall.close()
    medians.record(f"traffic_{case}", benchmark)
    figures = {"anchor": _figures(anchored, anchor_seconds, per_round)}
    if f"traffic_{case}" in medians:
        figures.update(_figures(answers, [medians[f"traffic_{case}"]], per_round))
    arms = [a for a, _, _ in answers]
    if case in ("canary", "sticky"):
        canary = arms.count("canary")
        figures["share"] = 100 * canary / len(arms)
        assert arms.count("primary") + canary == len(arms)
    if case == "canary":
        # a statistical bound, not a count: a correct router fails this one run in 10,000
        assert binomtest(canary, len(arms), 0.10).pvalue > 1e-4
    if case == "sticky":
        by_user: dict[str, set[str]] = {}
        for arm, _, user in answers:
            by_user.setdefault(user, set()).add(arm)
        figures["users"] = len(by_user)
        figures["one_arm"] = 100 * sum(len(a) == 1 for a in by_user.values()) / len(by_user)
        assert figures["one_arm"] == 100
    if case.startswith("shadow"):
        assert set(arms) == {"primary"}
        figures["shadow_dropped"] = shadow["dropped"]
        figures["shadow_offered"] = shadow["offered"]
        figures["paced"] = {k: float(np.quantile(v, 0.99)) for k, v in paced.items()}
        figures["paced_n"] = len(paced["policy"])
    FIGURES[case] = figures


@pytest.mark.parametrize("fault", ["errors", "slow"])
def test_rollback_within_two_intervals(setup, fault):
    """Steady traffic from 4 clients on the faulty pair (versions 4 and 5) with a 50% canary (a
    light load, so that a request's time is its model's, not the queue's); the fault is
    injected into the canary; the rollout (every INTERVAL_S) must roll it back within two
    intervals: asserted for errors, reported for the latency, which the machine's other load
    moves (a p99 over a few hundred answers is the third largest)."""
    reg = setup["registry"]
    reg.set_alias("fraud", "bench-primary", 4)
    reg.set_alias("fraud", "bench-canary", 5)
    policy = TrafficPolicy(
        "models:/fraud@bench-canary",
        50,
        rollback_if="errors>1%" if fault == "errors" else "p99>2x",
        interval_s=INTERVAL_S,
        min_requests=150,  # a p99 over 150 answers: not one outlier's
    )
    from seawall.serving import create_app

    app = create_app(
        "models:/fraud@bench-primary",
        registry=reg,
        trust_code=True,
        watch_interval_s=None,
        profile_slice_s=None,
        traffic=policy,
    )
    rollout = app.state.seawall.traffic["fraud"].rollout
    stop = threading.Event()

    def load(url: str) -> None:
        while not stop.is_set():
            try:
                _hammer(url, setup["bodies"], 16, None, clients=4)
            except (RuntimeError, OSError):
                pass  # the canary's injected errors; the server going away at the end

    with serve_in_thread(app) as url:
        _hammer(url, setup["bodies"], 64, None, clients=4)  # the first calls are slower
        app.state.seawall.traffic["fraud"].set_share(50)  # the rollout starts afresh
        sender = threading.Thread(target=load, args=(url,))
        sender.start()
        time.sleep(2 * INTERVAL_S)  # healthy for a while: nothing happens
        healthy = not rollout.events
        injected_at, evaluations_at = time.monotonic(), rollout.evaluations
        FAULTS[5] = fault
        try:
            deadline = injected_at + 60
            while not rollout.events and time.monotonic() < deadline:
                time.sleep(0.01)
            took = time.monotonic() - injected_at
        finally:
            FAULTS.pop(5, None)
            stop.set()
            sender.join()
    app.state.seawall.close()
    if not healthy:  # rolled back before the fault: the machine's load moved the p99 alone
        FIGURES[f"rollback_{fault}"] = {"early": rollout.events[0].reason}
        assert fault != "errors", rollout.events[0].reason
        return
    (event,) = rollout.events
    assert event.action == "rollback"
    intervals = event.evaluation - evaluations_at
    FIGURES[f"rollback_{fault}"] = {"seconds": took, "intervals": intervals}
    assert reg.resolve("models:/fraud@bench-canary").version == 4
    if fault == "errors":  # errors are counted, not timed: two intervals, whatever the load
        assert intervals <= 2, event.reason


def report(medians: dict[str, float]) -> list[str]:
    lines = [
        f"{CLIENTS} clients, single-record requests, {REQUESTS} per case and as many to its "
        "anchor (the same server without a policy), rounds interleaved"
    ]
    for case in POLICIES:
        f = FIGURES.get(case)
        if f is None or "rate" not in f:
            continue
        a = f["anchor"]
        line = (
            f"{case:>6}: {f['rate']:,.0f} req/s (anchor {a['rate']:,.0f}: "
            f"{100 * (f['rate'] / a['rate'] - 1):+.1f}%), p50 {f['p50'] * 1e3:.2f} ms "
            f"(anchor {a['p50'] * 1e3:.2f}), p99 {f['p99'] * 1e3:.2f} ms (anchor "
            f"{a['p99'] * 1e3:.2f}: {100 * (f['p99'] / a['p99'] - 1):+.1f}%)"
        )
        if "share" in f:
            line += f"; canary share {f['share']:.2f}% [target 10 +- 0.7]"
        if "one_arm" in f:
            line += f"; {f['one_arm']:.0f}% of {f['users']} users on one arm [target 100%]"
        if "shadow_dropped" in f:
            line += (
                f"; shadow dropped {f['shadow_dropped']} of {f['shadow_offered']} "
                "[target: p99 and throughput within 5%]"
            )
        lines.append(line)
        if "paced" in f:
            p = f["paced"]
            lines.append(
                f"{case:>6}: at a steady {PACED_RATE} req/s ({f['paced_n']} requests each), p99 "
                f"{p['policy'] * 1e3:.2f} ms (anchor {p['anchor'] * 1e3:.2f}: "
                f"{100 * (p['policy'] / p['anchor'] - 1):+.1f}%) [target within 5%]"
            )
    for fault in ("errors", "slow"):
        f = FIGURES.get(f"rollback_{fault}")
        if f is not None and "early" in f:
            lines.append(f"rollback of a canary with {fault}: before the fault! {f['early']}")
        elif f is not None:
            lines.append(
                f"rollback of a canary with {fault}: {f['seconds']:.2f} s after the fault, "
                f"{f['intervals']} evaluations of {INTERVAL_S} s [target <= 2]"
            )
    return lines
