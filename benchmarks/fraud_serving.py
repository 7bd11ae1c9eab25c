"""What the serving benchmarks share: the demo's fraud model as champion of a registry of its
own, single-record request bodies, and a load of kept-alive client connections."""

from __future__ import annotations

import http.client
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

PREDICT = "/v1/models/fraud/predict"


def fraud_champion(folder: Path) -> tuple[Any, Path]:
    """A registry in `folder` whose `fraud@champion` is the demo's pipeline and logistic
    regression trained on 20,000 transactions (with a reference profile); and its bundle."""
    import seawall as sw
    from seawall.demo.loop_demo import Trainer, transactions
    from seawall.demo.stream import LABEL

    reg = sw.Registry(f"sqlite:///{folder / 'reg.db'}", artifacts=folder / "art")
    history = transactions(20_000, seed=1, regime=0)
    with reg.start_run(experiment="fraud.training") as run:
        bundle = Trainer(folder)(history, run)
    reg.register_model("fraud", bundle, profile=sw.Profile.from_data(history.drop_columns([LABEL])))
    reg.set_alias("fraud", "champion", 1)
    return reg, Path(bundle)


def feature_rows(n: int) -> list[dict[str, Any]]:
    """`n` rows of the model's raw features, missing values as None (JSON null)."""
    from seawall.demo.loop_demo import FEATURES, transactions

    rows = transactions(n, seed=2, regime=0).select(FEATURES).to_pylist()
    return [{k: (None if v != v else v) for k, v in r.items()} for r in rows]


def record_bodies(rows: list[dict[str, Any]]) -> list[bytes]:
    """One ``/v1/models/fraud/predict`` body per row."""
    return [json.dumps({"records": [r]}).encode() for r in rows]


def hammer(url: str, bodies: list[bytes], requests: int, clients: int, path: str = PREDICT) -> None:
    """`requests` POSTs of the bodies in turn to `path`, from `clients` threads, each on one
    kept-alive connection (as a load balancer or a service would hold); any answer but 200
    fails."""
    host, port = url.removeprefix("http://").split(":")

    def client(k: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        try:
            for i in range(k, requests, clients):
                conn.request(
                    "POST", path, bodies[i % len(bodies)], {"Content-Type": "application/json"}
                )
                response = conn.getresponse()
                body = response.read()
                if response.status != 200:
                    raise RuntimeError(f"status {response.status}: {body[:200]!r}")
        finally:
            conn.close()

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
