"""Monitoring and the dashboard: what the dashboard's first page and a monitor's slice cost.

* The dashboard's first page (``GET /``: every model with its aliases, drift share and
  sparkline, open alerts, counts, recent runs) over a registry of N_MODELS models (1 to 3
  versions each, aliases), N_RUNS runs in 20 experiments (params, metrics) and a monitoring
  history of 48 windows x 10 features per model, served by uvicorn on loopback and fetched over
  HTTP. Target: under 1 s (there is no anchor: the target is absolute).
* ``Monitor.add_slice``, what the model server pays per slice, against merging the slice into
  a running profile on the caller's thread (what the monitor does for it, on its own thread).

Models and versions go through the registry's API; the runs and the monitoring history are
written straight into the database (copies of rows the API wrote), as bench_registry does:
making 10,000 runs through the API would take minutes and measures nothing here.

    python -m pytest benchmarks/bench_monitoring.py -s --benchmark-columns=median,min,max,rounds

SEAWALL_BENCH_ROWS scales the registry down (CI's smoke run uses 20,000: 10 models, 200 runs).
"""

from __future__ import annotations

import json
import sqlite3
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from conftest import ROWS
from seawall.bundles import save_bundle
from seawall.demo.fraud_model import LogisticModel
from seawall.profiles import Profile
from seawall.registry import Registry

N_MODELS = min(100, max(10, ROWS // 10_000))
N_RUNS = min(10_000, max(200, ROWS // 100))
N_WINDOWS = 48
N_FEATURES = 10
TARGET_S = 1.0


def _build(folder: Path, seed: int) -> Registry:
    rng = np.random.default_rng(seed)
    reg = Registry(folder / "seawall.db", artifacts=folder / "artifacts")
    X = rng.normal(size=(64, 4))
    model = LogisticModel().fit(X, (X[:, 0] > 0).astype(np.int64))
    bundle = save_bundle(folder / "bundle", python_model=model, example=X[:2])
    for m in range(N_MODELS):
        name = f"model-{m:03d}"
        for _ in range(1 + m % 3):
            reg.register_model(name, bundle, description=f"model number {m}")
        reg.set_alias(name, "champion", 1 + m % 3, reason="best on the holdout")
        if m % 4 == 0:
            reg.set_alias(name, "challenger", 1)
    experiments = [reg.create_experiment(f"exp-{e:02d}").id for e in range(20)]
    with reg.start_run(experiment="exp-00") as run:
        run.log_batch([("auc", 0.5), ("loss", 0.5), ("f1", 0.4)], params={"lr": 0.1, "depth": 6})
    reg.close()

    con = sqlite3.connect(folder / "seawall.db")
    template = con.execute("SELECT * FROM runs WHERE uuid = ?", (run.id,)).fetchone()
    columns = [d[0] for d in con.execute("SELECT * FROM runs LIMIT 0").description]
    first = con.execute("SELECT max(id) FROM runs").fetchone()[0] + 1
    runs, params, latest = [], [], []
    for i in range(N_RUNS - 1):
        row = dict(zip(columns, template, strict=True))
        row.update(
            id=first + i,
            uuid=uuid.uuid4().hex,
            experiment_id=experiments[i % len(experiments)],
            name=f"run-{i}",
            start_time=row["start_time"] - i,
            end_time=row["start_time"] - i + 1,
        )
        runs.append(tuple(row[c] for c in columns))
        params += [(first + i, "lr", "0.1"), (first + i, "depth", str(i % 9))]
        latest += [
            (first + i, k, float(v), 0, row["start_time"])
            for k, v in zip(("auc", "loss", "f1"), rng.random(3), strict=True)
        ]
    con.executemany(f"INSERT INTO runs VALUES ({', '.join('?' * len(columns))})", runs)
    con.executemany("INSERT INTO params VALUES (?, ?, ?)", params)
    con.executemany(
        "INSERT INTO latest_metrics (run_id, key, value, step, timestamp) VALUES (?, ?, ?, ?, ?)",
        latest,
    )
    con.executemany(
        "INSERT INTO metrics (run_id, key, value, step, timestamp) VALUES (?, ?, ?, ?, ?)",
        latest,
    )
    # the monitoring history: 48 hourly windows per model, 10 features, a few open alerts
    now = time.time()
    window_id = 0
    features = [f"feature_{j}" for j in range(N_FEATURES)]
    details = json.dumps(
        {
            "format": 1,
            "slices": 360,
            "labels": 0,
            "predictions": {},
            "quality": {"accuracy": 0.9},
            "missing": {f: 0.01 for f in features},
            "errors": {},
            "order": features,
        }
    )
    windows, drift, alerts = [], [], []
    for m in range(N_MODELS):
        name = f"model-{m:03d}"
        for w in range(N_WINDOWS):
            window_id += 1
            end = now - (N_WINDOWS - w) * 3600
            scores = rng.random(N_FEATURES) * 0.15
            share = float(np.mean(scores >= 0.1))
            windows.append(
                (window_id, name, "1", end - 3600, end, 10_000, share, share >= 0.5, details, now)
            )
            drift += [
                (window_id, f, "wasserstein", float(s), None, 0.1, bool(s >= 0.1))
                for f, s in zip(features, scores, strict=True)
            ]
        if m % 3 == 0:
            alerts.append(
                (
                    name,
                    "drifted:*",
                    "drifted",
                    "feature_0",
                    "warning",
                    "firing",
                    0.12,
                    0.1,
                    "feature 'feature_0' drifted",
                    now - 3600,
                    None,
                    now,
                )
            )
    con.executemany(
        "INSERT INTO monitor_windows (id, model, version, window_start, window_end, rows, "
        "drift_share, dataset_drift, details, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        windows,
    )
    con.executemany("INSERT INTO monitor_drift VALUES (?, ?, ?, ?, ?, ?, ?)", drift)
    con.executemany(
        "INSERT INTO monitor_alerts (model, rule, kind, subject, severity, state, value, "
        "threshold, message, started_at, resolved_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        alerts,
    )
    con.commit()
    con.execute("ANALYZE")
    con.close()
    return Registry(folder / "seawall.db", artifacts=folder / "artifacts")


def _serve(app: Any) -> Any:
    from seawall.serving import serve_in_thread

    return serve_in_thread(app, lifespan="off")


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory) -> Iterator[tuple[str, float]]:
    from seawall.dashboard import create_dashboard_app

    reg = _build(tmp_path_factory.mktemp("dashboard"), 7)
    with _serve(create_dashboard_app(reg)) as url:
        start = time.perf_counter()
        _get(url + "/")
        yield url, time.perf_counter() - start
    reg.close()


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=120) as r:
        assert r.status == 200
        return r.read().decode()


COLD: dict[str, float] = {}


def test_dashboard_first_page(benchmark, dashboard, medians):
    url, cold = dashboard
    COLD["first"] = cold
    body = benchmark.pedantic(_get, args=(url + "/",), rounds=10, iterations=1, warmup_rounds=1)
    medians.record("dashboard_first_page", benchmark)
    assert body.count('href="/models/model-') >= N_MODELS  # every model is listed
    assert f"{N_RUNS:,}</div>" in body
    assert body.count("drift share over time") == N_MODELS  # one sparkline per model


# --- the serving side: add_slice -----------------------------------------------------------


@pytest.fixture(scope="module")
def slice_profiles() -> tuple[Profile, Profile]:
    rng = np.random.default_rng(3)
    columns = {f"x{i}": rng.normal(size=2000) for i in range(20)}
    columns.update({f"s{i}": rng.choice(["a", "b", "c", "d"], 2000) for i in range(5)})
    table = pa.table(columns)
    return Profile.from_data(table), Profile.from_data(table)


def test_add_slice(benchmark, slice_profiles, medians):
    from seawall.monitoring import Monitor

    reference, features = slice_profiles
    # one pane that never closes: the evaluation thread merges, nothing is evaluated
    monitor = Monitor("bench", reference, window_s=10**9, max_pending=10**7)
    benchmark(monitor.add_slice, 1.0, 2.0, features)
    medians.record("add_slice", benchmark)
    assert monitor.flush(600)
    stats = monitor.stats()
    assert stats["dropped"] == 0 and stats["errors"] == 0
    monitor.close()


def test_merge_on_the_caller(benchmark, slice_profiles, medians):
    reference, features = slice_profiles
    benchmark(reference.merge, features)
    medians.record("merge_inline", benchmark)


def report(medians: dict[str, float]) -> list[str]:
    page = medians["dashboard_first_page"]
    lines = [
        f"dashboard first page, {N_MODELS} models and {N_RUNS:,} runs: {page * 1e3:.1f} ms "
        f"median (first request {COLD.get('first', float('nan')) * 1e3:.1f} ms), "
        f"{TARGET_S / page:.1f}x under the {TARGET_S:g} s target"
    ]
    ours, inline = medians["add_slice"], medians["merge_inline"]
    lines.append(
        f"Monitor.add_slice (25 columns): {ours * 1e6:.1f} us on the caller, against "
        f"{inline * 1e6:.1f} us to merge the slice inline: {inline / ours:.1f}x less"
    )
    return lines
