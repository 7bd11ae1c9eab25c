"""One step of a load test, and a series of them: the native generator drives the server while
statistics are taken in windows, until three windows agree (perf_analyzer's stability rule) or
the step's time is up.

A step is stable when, over its last three windows, the largest throughput is within 10% of the
smallest and so is the largest mean latency (``STABILITY``): then those three windows, merged,
are the step's figures. A step that never settles reports every window but the first (which
holds the connections' set-up) and says ``stable=False``. Counts (requests sent, answers by
status, errors by kind) cover the whole step, the final drain included, so every request sent
is accounted for once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from ..errors import InvalidInputError, SeawallError

__all__ = ["BenchResult", "StepResult", "run_step", "run_steps"]

Mode = Literal["closed", "open"]
STABILITY = 0.10
STABLE_WINDOWS = 3
QUANTILES = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}


@dataclass(frozen=True)
class StepResult:
    """The figures of one step: a concurrency (closed loop) or a rate (open loop)."""

    mode: Mode
    load: float
    """Requests in flight (closed loop) or requests per second asked for (open loop)."""
    throughput: float
    """Successful (2xx) answers per second, over the reported windows."""
    latency_ms: dict[str, float]
    """p50, p90, p95, p99, max and mean of the successful answers, in milliseconds (open loop:
    from when each request was due)."""
    stable: bool
    windows: int
    seconds: float
    """Length of the reported windows."""
    sent: int
    answered: int
    status: dict[int, int]
    """Answers by HTTP status, over the whole step."""
    errors: dict[str, int]
    """Requests that got no answer, by why: timeout, closed (the connection closed or reset
    first), protocol (a malformed answer), unfinished (unanswered at the end); and, not counted
    as requests, connect (connections that failed) and missed (open loop: requests not sent,
    the generator's backlog being full)."""
    send_lag_ms: float | None = None
    """Open loop: the most a request went out after it was due: waiting for a free connection
    (the server falling behind) or for the generator's thread (a busy machine)."""
    server: dict[str, float] | None = None
    """The server's own split of the time, from its statistics endpoint when it has one:
    mean queue and compute (model) time per inference in microseconds, and inferences counted."""
    error_samples: dict[int, str] = field(default_factory=dict)
    first_error: str | None = None

    @property
    def failed(self) -> int:
        """Requests that did not get a 2xx answer (error statuses and requests lost)."""
        bad_status = sum(n for code, n in self.status.items() if not 200 <= code < 300)
        lost = sum(self.errors.get(k, 0) for k in ("timeout", "closed", "protocol", "unfinished"))
        return bad_status + lost

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["status"] = {str(k): v for k, v in self.status.items()}
        d["error_samples"] = {str(k): v for k, v in self.error_samples.items()}
        d["failed"] = self.failed
        return d


@dataclass(frozen=True)
class BenchResult:
    """A load test: the server, the model and one result per step."""

    url: str
    model: str
    steps: list[StepResult]

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "model": self.model, "steps": [s.to_dict() for s in self.steps]}


def _throughput(window: Any) -> float:
    ok = sum(n for code, n in window.status.items() if 200 <= code < 300)
    return ok / window.seconds if window.seconds > 0 else 0.0


def _agree(values: Sequence[float]) -> bool:
    low, high = min(values), max(values)
    if low <= 0:
        return high <= 0
    return high / low <= 1 + STABILITY


def is_stable(windows: Sequence[Any]) -> bool:
    """perf_analyzer's rule over the last three windows: throughput and mean latency each within
    10% (largest over smallest)."""
    if len(windows) < STABLE_WINDOWS:
        return False
    last = windows[-STABLE_WINDOWS:]
    return _agree([_throughput(w) for w in last]) and _agree([w.latency.mean for w in last])


def _merged(windows: Sequence[Any]) -> Any:
    out = windows[0].copy()
    for w in windows[1:]:
        out.merge(w)
    return out


def _server_split(before: dict[str, Any] | None, after: dict[str, Any] | None) -> Any:
    if before is None or after is None:
        return None
    out: dict[str, float] = {}
    for key, name in (("queue", "queue_us"), ("compute_infer", "compute_us")):
        count = after[key][0] - before[key][0]
        ns = after[key][1] - before[key][1]
        if count <= 0:
            return None
        out[name] = ns / count / 1e3
    out["inferences"] = float(after["compute_infer"][0] - before["compute_infer"][0])
    return out


def run_step(
    address: str,
    port: int,
    requests: list[bytes],
    *,
    mode: Mode,
    load: float,
    poisson: bool = False,
    connections: int = 64,
    window_s: float = 1.0,
    max_s: float = 10.0,
    timeout_s: float = 30.0,
    seed: int = 0,
    server_stats: Callable[[], dict[str, Any] | None] | None = None,
    on_window: Callable[[dict[str, Any]], None] | None = None,
) -> StepResult:
    """One step: `load` requests in flight (closed) or per second (open), measured in windows of
    `window_s` until stable or `max_s` is up. `server_stats` returns the server's statistics
    (:func:`seawall.bench.target.inference_stats`'s shape) or None; `on_window` gets a summary
    of each window as it ends (for a progress display)."""
    from .. import _core

    if not _core.loadgen_available():
        raise SeawallError("seawall bench needs Linux: this build of seawall has no load generator")
    if mode == "closed":
        if int(load) != load or load < 1:
            raise InvalidInputError(f"a concurrency must be a whole number >= 1, got {load}")
        options: dict[str, Any] = {"mode": "closed", "concurrency": int(load)}
    else:
        options = {
            "mode": "open",
            "rate": float(load),
            "poisson": poisson,
            "concurrency": connections,
            "seed": seed,
        }
    generator = _core.LoadGenerator(
        address,
        port,
        requests,
        request_timeout_s=timeout_s,
        connect_timeout_s=min(timeout_s, 5.0),
        **options,
    )
    stats_before = server_stats() if server_stats is not None else None
    snapshots = [stats_before]
    windows: list[Any] = []
    generator.start()
    started = time.monotonic()
    try:
        while True:
            time.sleep(max(0.0, started + window_s * (len(windows) + 1) - time.monotonic()))
            window = generator.collect()
            windows.append(window)
            snapshots.append(server_stats() if stats_before is not None and server_stats else None)
            if on_window is not None:
                on_window(
                    {
                        "window": len(windows),
                        "throughput": _throughput(window),
                        "p50_ms": window.latency.quantile(0.5) / 1e6,
                        "p99_ms": window.latency.quantile(0.99) / 1e6,
                        "errors": window.timeouts
                        + window.closed
                        + window.protocol_errors
                        + sum(n for code, n in window.status.items() if not 200 <= code < 300),
                    }
                )
            if is_stable(windows) or time.monotonic() - started + window_s > max_s + 1e-3:
                break
    except BaseException:
        generator.stop(0.0)  # interrupted (Ctrl-C) or failed: no waiting for answers
        raise
    last = generator.stop(min(timeout_s, 10.0))
    stable = is_stable(windows)
    if stable:
        first = len(windows) - STABLE_WINDOWS
    else:
        first = 1 if len(windows) > 1 else 0
    reported = _merged(windows[first:])
    total = _merged([*windows, last])
    latency = reported.latency
    figures = {name: latency.quantile(q) / 1e6 for name, q in QUANTILES.items()}
    figures["max"] = latency.max / 1e6
    figures["mean"] = latency.mean / 1e6
    return StepResult(
        mode=mode,
        load=load,
        throughput=_throughput(reported),
        latency_ms=figures,
        stable=stable,
        windows=len(windows),
        seconds=reported.seconds,
        sent=total.sent,
        answered=total.answered,
        status=dict(total.status),
        errors={
            "timeout": total.timeouts,
            "closed": total.closed,
            "protocol": total.protocol_errors,
            "unfinished": total.unfinished,
            "connect": total.connect_errors,
            "missed": total.missed,
        },
        send_lag_ms=total.max_send_lag_ns / 1e6 if mode == "open" else None,
        server=_server_split(snapshots[first], snapshots[-1]),
        error_samples={
            code: body.decode("utf-8", "replace") for code, body in total.error_bodies.items()
        },
        first_error=total.first_error or None,
    )


def run_steps(
    address: str,
    port: int,
    requests: list[bytes],
    steps: Sequence[float],
    *,
    mode: Mode,
    on_step: Callable[[int, StepResult], None] | None = None,
    **options: Any,
) -> list[StepResult]:
    """run_step for each load of `steps`, in order (`options` as run_step's)."""
    results = []
    for index, load in enumerate(steps):
        result = run_step(address, port, requests, mode=mode, load=load, **options)
        results.append(result)
        if on_step is not None:
            on_step(index, result)
    return results
