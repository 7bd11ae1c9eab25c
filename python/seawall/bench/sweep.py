"""The sweep (Triton Model Analyzer's role): serve a bundle in-process once per batcher setting
(max_batch_size, max_queue_delay_us, instances) on a small fixed grid, load-test each at the same
load, and pick the setting with the highest throughput whose p99 meets the target."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from ..errors import InvalidInputError
from .load_test import prepare, served
from .measure import Mode, StepResult, run_step

__all__ = ["GRID", "SweepResult", "sweep"]

# Small on purpose: 3 x 2 x 2 = 12 settings, each a step of at most `duration_s`.
GRID: dict[str, tuple[int, ...]] = {
    "max_batch_size": (1, 8, 32),
    "max_queue_delay_us": (0, 1000),
    "instances": (1, 2),
}


@dataclass(frozen=True)
class SweepResult:
    """Every setting tried with its figures, the target, and the best setting (None when no
    setting met the target without errors)."""

    p99_target_ms: float
    mode: Mode
    load: float
    trials: list[tuple[dict[str, int], StepResult]]
    best: dict[str, int] | None

    @property
    def best_result(self) -> StepResult | None:
        for setting, result in self.trials:
            if setting == self.best:
                return result
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "p99_target_ms": self.p99_target_ms,
            "mode": self.mode,
            "load": self.load,
            "best": self.best,
            "trials": [{"settings": s, **r.to_dict()} for s, r in self.trials],
        }


def _best(
    p99_ms: float, trials: Sequence[tuple[dict[str, int], StepResult]]
) -> dict[str, int] | None:
    meeting = [
        (setting, result)
        for setting, result in trials
        if result.failed == 0 and result.latency_ms["p99"] <= p99_ms and result.throughput > 0
    ]
    if not meeting:
        return None
    setting, _ = max(meeting, key=lambda t: (t[1].throughput, -t[1].latency_ms["p99"]))
    return setting


def sweep(
    bundle: Any,
    *,
    p99_ms: float,
    concurrency: int | None = None,
    rate: float | None = None,
    duration_s: float = 3.0,
    rows: pa.Table | None = None,
    trust_code: bool = False,
    name: str | None = None,
    grid: Mapping[str, Sequence[int]] | None = None,
    seed: int = 0,
    on_trial: Callable[[dict[str, int], StepResult], None] | None = None,
) -> SweepResult:
    """Tries every setting of `grid` (default :data:`GRID`) at `concurrency` requests in flight
    (default 16) or `rate` requests per second, each for at most `duration_s`."""
    if concurrency is not None and rate is not None:
        raise InvalidInputError("give concurrency or rate, not both")
    if not isinstance(p99_ms, (int, float)) or isinstance(p99_ms, bool) or not p99_ms > 0:
        raise InvalidInputError(f"the p99 target must be a number of ms > 0, got {p99_ms!r}")
    grid = dict(GRID if grid is None else grid)
    unknown = set(grid) - set(GRID)
    if unknown:
        raise InvalidInputError(f"the sweep cannot vary {sorted(unknown)}; it varies {list(GRID)}")
    mode: Mode = "open" if rate is not None else "closed"
    load = float(rate) if rate is not None else float(concurrency or 16)
    window_s = min(1.0, duration_s / 4)
    trials: list[tuple[dict[str, int], StepResult]] = []
    for values in itertools.product(*grid.values()):
        setting = dict(zip(grid, values, strict=True))
        with served(bundle, name=name, trust_code=trust_code, **setting) as (url, model):
            target, requests = prepare(url, model, rows=rows, seed=seed)
            result = run_step(
                target.address,
                target.port,
                requests,
                mode=mode,
                load=load,
                window_s=window_s,
                max_s=duration_s,
                timeout_s=max(5.0, duration_s),
                seed=seed,
                server_stats=functools.partial(target.stats, model),
            )
        trials.append((setting, result))
        if on_trial is not None:
            on_trial(setting, result)
    return SweepResult(float(p99_ms), mode, load, trials, _best(float(p99_ms), trials))
