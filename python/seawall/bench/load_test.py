"""Load tests as functions: against a running server (:func:`bench`), and against a bundle served
in-process on loopback (:func:`load_test_bundle`, the continuous-training loop's latency gate;
:func:`served`, which the sweep uses too)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pyarrow as pa

from ..errors import InvalidInputError
from . import payloads
from .measure import BenchResult, Mode, StepResult, run_step, run_steps
from .target import Target

__all__ = ["bench", "load_test_bundle", "prepare", "served"]


def prepare(
    url: str,
    model: str,
    *,
    version: str | None = None,
    rows: pa.Table | str | os.PathLike[str] | None = None,
    batch_size: int = 1,
    seed: int = 0,
) -> tuple[Target, list[bytes]]:
    """The server of `url` (checked: it answers, and has `model`) and the requests to send it,
    built from real `rows` (a table or a Parquet path) or generated from the model's metadata."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidInputError(f"batch_size must be a whole number >= 1, got {batch_size!r}")
    target = Target.parse(url)
    metadata = target.model_metadata(model, version)
    if rows is None:
        bodies = payloads.from_metadata(metadata, batch_size=batch_size, seed=seed)
    else:
        table = rows if isinstance(rows, pa.Table) else payloads.read_rows(rows)
        bodies = payloads.from_rows(metadata, table, batch_size=batch_size)
    path = target.model_path(model, version) + "/infer"
    requests = [payloads.http_request(target.host, target.port, path, b) for b in bodies]
    return target, requests


def bench(
    url: str,
    model: str,
    *,
    concurrency: Sequence[int] | None = None,
    rate: Sequence[float] | None = None,
    poisson: bool = False,
    duration_s: float = 10.0,
    window_s: float = 1.0,
    version: str | None = None,
    rows: pa.Table | str | os.PathLike[str] | None = None,
    batch_size: int = 1,
    connections: int = 64,
    timeout_s: float = 30.0,
    seed: int = 0,
    on_window: Callable[[dict[str, Any]], None] | None = None,
    on_step: Callable[[int, StepResult], None] | None = None,
) -> BenchResult:
    """Load-tests `model` on the Open Inference Protocol server at `url`, one step per
    `concurrency` (closed loop, default [1]) or per `rate` (open loop, requests per second,
    Poisson arrivals with `poisson`), each step at most `duration_s` long in windows of
    `window_s` (see :mod:`seawall.bench.measure`). ``connections``: the most connections of the
    open loop."""
    if concurrency is not None and rate is not None:
        raise InvalidInputError("give concurrency or rate, not both")
    mode: Mode = "open" if rate is not None else "closed"
    steps: Sequence[float] = rate if rate is not None else (concurrency or [1])
    if not steps:
        raise InvalidInputError("no load steps given")
    if window_s > duration_s:
        raise InvalidInputError(
            f"the window ({window_s:g} s) is longer than a step's duration ({duration_s:g} s)"
        )
    target, requests = prepare(
        url, model, version=version, rows=rows, batch_size=batch_size, seed=seed
    )
    results = run_steps(
        target.address,
        target.port,
        requests,
        steps,
        mode=mode,
        on_step=on_step,
        poisson=poisson,
        connections=connections,
        window_s=window_s,
        max_s=duration_s,
        timeout_s=timeout_s,
        seed=seed,
        server_stats=lambda: target.stats(model, version),
        on_window=on_window,
    )
    return BenchResult(url, model, results)


@contextlib.contextmanager
def served(
    bundle: Any, *, name: str | None = None, trust_code: bool = False, **batcher: Any
) -> Iterator[tuple[str, str]]:
    """Serves `bundle` (a Bundle or a bundle path) on a free loopback port until the block ends,
    with the batcher options given (max_batch_size, max_queue_delay_us, instances...); yields
    its URL and the model's name. No live profile, no registry: only the model."""
    from ..serving import create_app, serve_in_thread

    app = create_app(
        bundle,
        name=name,
        trust_code=trust_code,
        profile_slice_s=None,
        watch_interval_s=None,
        **batcher,
    )
    (model,) = app.state.seawall.models
    with serve_in_thread(app) as url:
        yield url, model


def load_test_bundle(
    bundle: Any,
    *,
    rps: float,
    duration_s: float = 10.0,
    rows: pa.Table | None = None,
    trust_code: bool = False,
    connections: int = 64,
    seed: int = 0,
) -> StepResult:
    """Serves `bundle` in-process on loopback and drives it open-loop at `rps` requests per
    second (constant arrivals) for at most `duration_s` (less once three windows agree),
    sending `rows` (real inputs, e.g. training data) or inputs generated from its signature."""
    if isinstance(rps, bool) or not isinstance(rps, (int, float)) or not rps > 0:
        raise InvalidInputError(f"rps must be a number > 0, got {rps!r}")
    if not isinstance(duration_s, (int, float)) or not duration_s > 0:
        raise InvalidInputError(f"duration_s must be > 0, got {duration_s!r}")
    window_s = min(1.0, duration_s / 4)
    with served(bundle, trust_code=trust_code) as (url, model):
        target, requests = prepare(url, model, rows=rows, seed=seed)
        return run_step(
            target.address,
            target.port,
            requests,
            mode="open",
            load=float(rps),
            connections=connections,
            window_s=window_s,
            max_s=float(duration_s),
            timeout_s=max(5.0, float(duration_s)),
            seed=seed,
            server_stats=lambda: target.stats(model),
        )
