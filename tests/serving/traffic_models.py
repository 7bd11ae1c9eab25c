"""Models and a registry for the traffic-policy tests. The models live in a module of their own
so that their bundles unpickle in the server (in this process).

``ArmModel(tag, cut)`` on features x (s = the row sums): ``predict`` is the class ``s > cut``,
``predict_proba`` the sigmoid of ``s - cut`` (two columns), ``version`` the tag (the registry
version), so every answer says which version computed it. Faults are switched on per tag from
the test: ``DELAY[tag]`` seconds per batch, ``GATES[tag]`` an Event its batches wait for,
``BROKEN`` tags raise, ``UNLOADABLE`` tags do not unpickle. Those hold in this process only; a
shadow's model runs in a worker process of its own, where ``FileGate(tag)`` and
``broken(tag)`` (files in a folder both processes know) reach it too.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from serving_helpers import pipeline, records, transactions

import seawall
from seawall.serving import save_bundle

DELAY: dict[int, float] = {}
GATES: dict[int, threading.Event] = {}  # a tag's batches wait until its gate opens
BROKEN: set[int] = set()
UNLOADABLE: set[int] = set()
METHODS = {"predict": "predict", "predict_proba": "predict_proba", "version": "version"}
# Faults that reach a model in any process: set here, inherited by the worker processes.
if "SEAWALL_TEST_FAULTS" not in os.environ:
    os.environ["SEAWALL_TEST_FAULTS"] = tempfile.mkdtemp(prefix="seawall-faults-")
    atexit.register(shutil.rmtree, os.environ["SEAWALL_TEST_FAULTS"], True)
FAULTS = Path(os.environ["SEAWALL_TEST_FAULTS"])


class FileGate:
    """The batches of version `tag` wait until :meth:`set` (in any process; 60 s at most)."""

    def __init__(self, tag: int) -> None:
        self.path = FAULTS / f"gate-{tag}"
        self.path.touch()

    def set(self) -> None:
        self.path.unlink(missing_ok=True)


@contextlib.contextmanager
def broken(tag: int):
    """Version `tag` raises on every batch (in any process) within the block."""
    path = FAULTS / f"broken-{tag}"
    path.touch()
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def unloadable_elsewhere(tag: int):
    """Version `tag` unpickles in this process only (in a worker process it fails as a model
    whose module is missing there) within the block."""
    path = FAULTS / f"unloadable-{tag}"
    path.write_text(str(os.getpid()))
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def _file_faults(tag: int) -> None:
    deadline = time.monotonic() + 60
    while (FAULTS / f"gate-{tag}").exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    if (FAULTS / f"broken-{tag}").exists():
        raise RuntimeError(f"version {tag} is broken")


class ArmModel:
    def __init__(self, tag: int, cut: float) -> None:
        self.tag = tag
        self.cut = cut

    def _sums(self, x: np.ndarray) -> np.ndarray:
        gate = GATES.get(self.tag)
        if gate is not None:
            gate.wait(60)
        delay = DELAY.get(self.tag)
        if delay:
            time.sleep(delay)
        if self.tag in BROKEN:
            raise RuntimeError(f"version {self.tag} is broken")
        _file_faults(self.tag)
        return x.astype(np.float64).sum(axis=1)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return (self._sums(x) > self.cut).astype(np.int64)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        p = 1 / (1 + np.exp(-(self._sums(x) - self.cut)))
        return np.column_stack([1 - p, p])

    def version(self, x: np.ndarray) -> np.ndarray:
        return np.full(len(x), self.tag, dtype=np.int64)

    def __setstate__(self, state: dict[str, Any]) -> None:
        if state["tag"] in UNLOADABLE:
            raise ModuleNotFoundError("No module named 'fraud_features_v2'")
        elsewhere = FAULTS / f"unloadable-{state['tag']}"
        if elsewhere.exists() and elsewhere.read_text() != str(os.getpid()):
            raise ModuleNotFoundError("No module named 'fraud_features_v2'")
        self.__dict__.update(state)


def oracle(pipe: Any, rows: list[dict[str, Any]], cut: float) -> dict[str, np.ndarray]:
    """What ArmModel(_, cut) answers for raw `rows`, computed here from the pipeline."""
    import pyarrow as pa

    s = pipe.transform(pa.Table.from_pylist(rows)).astype(np.float64).sum(axis=1)
    p = 1 / (1 + np.exp(-(s - cut)))
    return {"predict": (s > cut).astype(np.int64), "predict_proba": np.column_stack([1 - p, p])}


def registry_of(
    folder: Any,
    rng: np.random.Generator,
    cuts: list[float],
    aliases: dict[str, int],
    name: str = "fraud",
    pipe: Any = None,
) -> tuple[Any, Any]:
    """A registry holding versions 1..len(cuts) of `name` (ArmModel(v, cuts[v - 1]) over one
    pipeline), with `aliases` set; and the pipeline."""
    reg = seawall.Registry(f"sqlite:///{folder / 'reg.db'}", artifacts=folder / "art")
    pipe = pipe if pipe is not None else pipeline().fit(transactions(rng, 500))
    example = records(transactions(rng, 5))
    for version, cut in enumerate(cuts, start=1):
        path = save_bundle(
            folder / f"{name}-v{version}",
            python_model=ArmModel(version, cut),
            methods=METHODS,
            pipeline=pipe,
            name=name,
            example=example,
        )
        reg.register_model(name, path)
    for alias, version in aliases.items():
        reg.set_alias(name, alias, version, reason="test set-up")
    return reg, pipe


class Answers:
    """Every answer a test's clients got: (status, arm header, version header, the version the
    outputs say computed them, the body)."""

    def __init__(self) -> None:
        self.items: list[tuple[int, str | None, str | None, int | None, Any]] = []
        self._lock = threading.Lock()

    def add(self, response: httpx.Response) -> None:
        body = response.json()
        computed = None
        if response.status_code == 200:
            outputs = body["outputs"]
            if isinstance(outputs, dict):  # /v1 predict
                tags = set(outputs["version"])
            else:
                (tensor,) = [t for t in outputs if t["name"] == "version"]
                tags = set(tensor["data"])
            assert len(tags) == 1, tags
            computed = tags.pop()
        item = (
            response.status_code,
            response.headers.get("seawall-arm"),
            response.headers.get("seawall-model-version"),
            computed,
            body,
        )
        with self._lock:
            self.items.append(item)

    def check_attribution(self) -> None:
        """Every answer names the version that computed it, in the header and the body."""
        for status, arm, version, computed, body in self.items:
            if status != 200:
                continue
            assert arm in ("primary", "canary"), arm
            assert version == str(computed) == body["model_version"], (version, computed, body)
            assert body["parameters"] == {"seawall_arm": arm, "seawall_model_version": version}

    def arms(self) -> list[str | None]:
        return [a for _, a, _, _, _ in self.items]


def v1_body(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"records": rows}


def v2_body(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The v2 infer request for raw records (one tensor per column)."""
    columns = {k: [r[k] for r in rows] for k in rows[0]}
    types = {"amount": "FP64", "merchant": "BYTES", "age": "INT64"}
    return {
        "inputs": [
            {"name": k, "datatype": types[k], "shape": [len(v)], "data": v}
            for k, v in columns.items()
        ]
    }


def send_all(url, bodies, clients=8, headers=None):
    """Sends every (endpoint, body) concurrently; returns Answers in the order sent."""
    answers = Answers()
    paths = {"v1": "/v1/models/fraud/predict", "v2": "/v2/models/fraud/infer"}
    with httpx.Client(base_url=url, timeout=60) as client:

        def send(i):
            endpoint, body = bodies[i]
            h = headers[i] if headers is not None else None
            return client.post(paths[endpoint], json=body, headers=h)

        with ThreadPoolExecutor(clients) as pool:
            for response in pool.map(send, range(len(bodies))):
                answers.add(response)
    return answers


def mixed_bodies(rng, n):
    out = []
    for i in range(n):
        rows = records(transactions(rng, int(rng.integers(1, 4))))
        out.append(("v1", v1_body(rows)) if i % 2 else ("v2", v2_body(rows)))
    return out
