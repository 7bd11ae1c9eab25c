"""`seawall demo`: the whole loop, on generated card transactions, on loopback, offline.

1. Train: a feature pipeline and a fraud model on a labelled history, registered as version 1
   (with the profile of its training data as reference) and made champion.
2. Serve: `models:/fraud@champion` over HTTP on 127.0.0.1, with live profiles of the traffic, a
   monitor with alert rules, /metrics and the dashboard at /ui.
3. Traffic as trained for: the loop checks the live profile against the reference: no drift,
   nothing to do.
4. The world shifts (larger amounts, another country mix, new fraud patterns): the loop sees the
   drift, retrains on recent labelled data, scores challenger and champion on the same window,
   and points the ``challenger`` alias at the winner. The server's traffic policy tries it on
   live traffic: first as a shadow (every request copied to it, off the request path, compared
   with the champion), then as a canary (a share of requests), whose promotion rules move the
   ``champion`` alias to it. The server hot-swaps to it without dropping a request.
5. The drift report of the shifted traffic is written as HTML.

Everything lives in one folder (default ``./seawall-demo``): the registry's SQLite database, its
artifacts, and the report. The demo ends with the commands that open its dashboard again and
serve its champion.
"""

from __future__ import annotations

import json
import math
import shlex
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from .fraud_model import LogisticModel, roc_auc
from .stream import LABEL
from .stream import transactions as _transactions

FEATURES = ["amount", "hour", "account_age_days", "merchant", "country"]
REQUEST_ROWS = 250
CLIENTS = 8
CANARY_SHARE = 20  # per cent of requests the challenger answers in its canary phase
PROMOTE_AFTER = 40  # canary requests before its promotion rules are judged


def transactions(rows: int, seed: int, regime: int) -> pa.Table:
    """The stream's labelled transactions, with the columns the model reads."""
    return _transactions(rows, seed=seed, regime=regime).select([*FEATURES, LABEL])


def fraud_pipeline() -> Any:
    import seawall as sw

    return sw.FeaturePipeline(
        {
            "amount": [sw.Impute("median", add_indicator=True), sw.Log1p(), sw.StandardScale()],
            "hour": sw.OneHot(),
            "account_age_days": [sw.Log1p(), sw.StandardScale()],
            "merchant": sw.OneHot(min_frequency=200, unknown="other"),
            "country": [sw.Impute("constant", fill_value="unknown"), sw.OneHot()],
        }
    )


class Trainer:
    """The loop's training function: pipeline + model on the data, saved as a bundle."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.trained = 0

    def __call__(self, data: pa.Table, run: Any) -> Path:
        from ..serving import save_bundle

        features = data.select(FEATURES)
        pipeline = fraud_pipeline().fit(features)
        model = LogisticModel().fit(pipeline.transform(features), data.column(LABEL).to_numpy())
        self.trained += 1
        run.log_params({"model": "logistic regression", "l2": model.l2})
        path = self.folder / f"bundle-{self.trained}"
        return save_bundle(
            path,
            python_model=model,
            pipeline=pipeline,
            name="fraud",
            overwrite=True,
            example=features.slice(0, 8),
        )


def score(y: np.ndarray, outputs: Any) -> float:
    return roc_auc(y, outputs["predict_proba"][:, 1])


# --- HTTP traffic -----------------------------------------------------------------------------


def _columns(table: pa.Table) -> dict[str, list[Any]]:
    out = {}
    for name in table.column_names:
        values = table.column(name).to_pylist()
        out[name] = [None if isinstance(v, float) and math.isnan(v) else v for v in values]
    return out


def send(url: str, table: pa.Table, on_request: Callable[[], None]) -> dict[str, int]:
    """Sends `table` to the server in requests of REQUEST_ROWS rows from CLIENTS threads;
    returns how many answers each model version gave. Raises on any answer but 200."""
    versions: dict[str, int] = {}
    lock = threading.Lock()

    def post(offset: int) -> None:
        body = json.dumps({"columns": _columns(table.slice(offset, REQUEST_ROWS))}).encode()
        request = urllib.request.Request(
            f"{url}/v1/models/fraud/predict", body, {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.loads(response.read())
        with lock:
            v = str(answer.get("model_version"))
            versions[v] = versions.get(v, 0) + 1
        on_request()

    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(post, range(0, table.num_rows, REQUEST_ROWS)))
    return versions


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e3:.1f} ms"


def arm_line(arm: str, figures: dict[str, Any]) -> str:
    """One arm's figures (``ArmFigures.summary()``), as the demo prints them."""
    latency = figures["latency_s"]
    line = (
        f"{arm} (version {figures['version']}): {figures['requests']} requests, "
        f"{figures['errors']} errors, p50 {_ms(latency['p50'])}, p99 {_ms(latency['p99'])}"
    )
    score = figures.get("score")
    if score:
        line += f", mean score {score['mean']:.3f}"
    if figures.get("agreement") is not None:
        line += (
            f", agrees with the primary on {figures['agreement']:.1%} of {figures['compared']:,} "
            f"rows (mean |score difference| {figures['score_mad']:.3f}), {figures['dropped']} "
            "copies dropped"
        )
    return line


def _served_version(url: str) -> str:
    with urllib.request.urlopen(f"{url}/v2/models/fraud", timeout=30) as response:
        return str(json.loads(response.read())["versions"][0])


# --- the demo ---------------------------------------------------------------------------------


def run(
    rows: int = 100_000,
    folder: str | Path = "seawall-demo",
    echo: Callable[[str], None] = print,
    progress: bool = True,
) -> dict[str, Any]:
    """Runs the demo; returns what it measured. Raises if a step does not do what it should."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    import seawall as sw
    from seawall.drift import compare
    from seawall.loop import ContinuousTraining, Policy
    from seawall.monitoring import CallbackSink, Monitor, Rule
    from seawall.serving import TrafficPolicy, create_app, serve_in_thread

    started = time.perf_counter()
    # A fresh folder per run: the registry of an earlier run (with its promoted model) is kept.
    folder = Path(folder) / time.strftime("run-%Y%m%d-%H%M%S")
    folder.mkdir(parents=True, exist_ok=False)
    timings: dict[str, float] = {}
    bar = Progress(
        TextColumn("   {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=not progress,
    )

    def step(name: str, t0: float) -> None:
        timings[name] = time.perf_counter() - t0

    info = sw.build_info()
    echo(f"seawall {info['version']} demo in {folder.resolve()} ({info['num_threads']} threads)")

    # 1. train and register the first model
    t0 = time.perf_counter()
    history = transactions(3 * rows, seed=1, regime=0)
    registry = sw.Registry(f"sqlite:///{folder / 'registry.db'}", artifacts=folder / "artifacts")
    trainer = Trainer(folder)
    # canary=True: a winning challenger gets the challenger alias; the server's canary promotes it
    policy = Policy(drift_share=0.3, margin=0.01, canary=True)
    loop = ContinuousTraining(
        registry,
        "fraud",
        train=trainer,
        score=score,
        policy=policy,
        label=LABEL,
        trust_code=True,
    )
    first = loop.bootstrap(history, labelled=transactions(rows // 2, seed=2, regime=0))
    if first.action != "promoted":
        raise RuntimeError(f"training the first model failed: {first.error}")
    champion = registry.resolve("models:/fraud@champion")
    auc0 = float(champion.tags.get("loop.score", "nan"))
    step("train", t0)
    echo(
        f"1. trained on {history.num_rows:,} labelled transactions and registered "
        f"{champion.uri} as champion (AUC {auc0:.3f}) in {timings['train']:.1f} s"
    )

    # 2. serve it, with live profiles and a monitor
    t0 = time.perf_counter()
    alerts: list[dict[str, Any]] = []
    monitor = Monitor(
        "fraud",
        registry=registry,
        version="champion",
        window_s=1.0,
        rules=[Rule.drift_share(above=0.3, severity="critical")],
        sinks=[CallbackSink(alerts.append)],
    )
    # The challenger alias is both arms: a shadow phase, then a canary phase (the shares start
    # at 0, while the challenger is the champion itself).
    rollout = TrafficPolicy(
        "models:/fraud@challenger",
        0,
        shadow="models:/fraud@challenger",
        shadow_share=0,
        rollback_if="errors>5%",
        promote_if="errors<1%,p99<10x",
        promote_after=PROMOTE_AFTER,
        interval_s=0.2,
        min_requests=10,
    )
    app = create_app(
        "models:/fraud@champion",
        registry=registry,
        trust_code=True,
        profile_slice_s=0.5,
        watch_interval_s=0.2,
        monitors={"fraud": monitor},
        dashboard=True,
        max_queue_delay_us=2000,
        traffic=rollout,
    )
    state = app.state.seawall
    profiler = state.profiler("fraud")
    router = state.traffic["fraud"]
    result: dict[str, Any] = {}
    with serve_in_thread(app) as url:
        step("serve", t0)
        echo(f"2. serving models:/fraud@champion at {url} (dashboard at {url}/ui)")

        def traffic(table: pa.Table, label: str) -> tuple[dict[str, int], float, Any]:
            t = time.perf_counter()
            requests = math.ceil(table.num_rows / REQUEST_ROWS)
            with bar:
                task = bar.add_task(label, total=requests)
                versions = send(url, table.select(FEATURES), lambda: bar.advance(task))
            seconds = time.perf_counter() - t
            profiler.flush(close_slice=True)
            window = profiler.window(seconds + 1.0)
            return versions, seconds, window

        # 3. traffic like the training data
        t0 = time.perf_counter()
        normal = transactions(rows, seed=3, regime=0)
        versions, seconds, window = traffic(normal, "traffic as trained for")
        decision = loop.check(window.features, labelled=transactions(rows // 2, seed=4, regime=0))
        step("steady", t0)
        echo(
            f"3. sent {normal.num_rows:,} transactions in {math.ceil(normal.num_rows / REQUEST_ROWS)} "
            f"requests ({normal.num_rows / seconds:,.0f} rows/s, answered by version "
            f"{', '.join(sorted(versions))}); drift share "
            f"{decision.drift_share:.2f} -> {decision.action}: {decision.reason}"
        )
        if decision.action != "none":
            raise RuntimeError(f"the loop acted without drift: {decision}")

        # 4. the world shifts
        t0 = time.perf_counter()
        shifted = transactions(rows, seed=5, regime=1)
        _, seconds, window = traffic(shifted, "traffic after the shift")
        recent = transactions(rows, seed=6, regime=1)  # labels that have come back since
        decision = loop.check(
            window.features,
            labelled=recent.slice(rows // 2),
            training_data=recent.slice(0, rows // 2),
        )
        echo(
            f"4. sent {shifted.num_rows:,} shifted transactions; drift share "
            f"{decision.drift_share:.2f} (drifted: {', '.join(decision.drifted_features)})"
        )
        echo(f"   the loop: {decision.action} ({decision.reason})")
        if decision.action != "canary":
            raise RuntimeError(f"the loop did not retrain a winning challenger: {decision}")
        new = str(decision.challenger)

        def wait(condition: Callable[[], bool], what: str) -> None:
            deadline = time.monotonic() + 60
            while not condition():
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not {what}")
                time.sleep(0.05)

        wait(
            lambda: router.version_of("shadow") == router.version_of("canary") == new,
            f"load challenger {new}",
        )
        step("shift", t0)

        # 4a. shadow: every request copied to the challenger, off the request path
        t0 = time.perf_counter()
        router.set_shadow_share(100)
        shadowed = transactions(rows // 4, seed=8, regime=1)
        _, seconds, _ = traffic(shadowed, "shadow phase")
        copies = math.ceil(shadowed.num_rows / REQUEST_ROWS)
        shadow = router.stats_for("shadow", new)
        wait(lambda: shadow.peek().requests + shadow.peek().dropped >= copies, "answer the shadow")
        router.set_shadow_share(0)
        step("shadow", t0)
        echo(
            f"   shadow phase: {copies} requests, each copied to challenger {new}; no client saw it"
        )
        echo("     " + arm_line("shadow", shadow.peek().summary()))

        # 4b. canary: a share of the requests, until the promotion rules move champion
        t0 = time.perf_counter()
        router.set_share(CANARY_SHARE)
        canary_traffic = transactions(rows // 2, seed=7, regime=1)
        rounds = 0
        while registry.resolve("models:/fraud@champion").version != decision.challenger:
            if rounds == 20 or router.rollout.state == "rolled_back":
                raise RuntimeError(f"the canary did not promote: {router.describe()['rollout']}")
            traffic(canary_traffic, "canary phase")
            rounds += 1
        promoted = router.rollout.events[-1]
        canary = router.stats_for("canary", new).peek().summary()
        step("canary", t0)
        echo(
            f"   canary phase: {CANARY_SHARE}% of requests to challenger {new}; after "
            f"{canary['requests']} of them: {promoted.reason}"
        )
        echo("     " + arm_line("canary", canary))
        primary = router.stats_for("primary", str(decision.champion)).peek().summary()
        echo("     " + arm_line("primary", primary) + " (since the server started)")

        t0 = time.perf_counter()
        wait(lambda: _served_version(url) == new, "pick up the new champion")
        after, seconds, _ = traffic(transactions(rows // 2, seed=9, regime=1), "after the swap")
        step("swap", t0)
        echo(
            f"   hot swap: the server now serves version {decision.challenger}; "
            f"{sum(after.values())} more requests, all answered by version(s) "
            f"{', '.join(sorted(after))}, none dropped"
        )
        monitor.advance(math.inf)
        monitor.flush()
        fired = [a for a in alerts if a.get("status") == "firing"]
        echo(
            f"   monitor: {len(monitor.history())} windows evaluated, "
            f"{len(fired)} drift alert(s) raised"
        )

        # 5. the report
        t0 = time.perf_counter()
        reference = registry.reference_profile(f"models:/fraud/{decision.champion}")
        report = compare(reference, window.features, drift_share=policy.drift_share or 0.5)
        report_path = folder / "drift-report.html"
        report.save_html(report_path)
        step("report", t0)
        echo(f"5. drift report of the shifted traffic: {report_path}")
        result.update(
            champion_auc=decision.champion_score,
            challenger_auc=decision.challenger_score,
            new_version=decision.challenger,
            report=str(report_path),
            alerts=len(fired),
        )
    monitor.close()
    state.close()
    registry.close()
    total = time.perf_counter() - started
    echo(
        f"the loop closed in {total:.1f} s: AUC on the shifted data {decision.champion_score:.3f} "
        f"(old champion) -> {decision.challenger_score:.3f} (new champion)"
    )
    where = (
        f"--registry {shlex.quote(str((folder / 'registry.db').resolve()))} "
        f"--artifacts {shlex.quote(str((folder / 'artifacts').resolve()))}"
    )
    echo("its dashboard again:  seawall ui " + where)
    echo(
        "serve its champion:   seawall serve models:/fraud@champion --trust-code --dashboard "
        + where
    )
    result.update(timings=timings, total_s=total)
    return result
