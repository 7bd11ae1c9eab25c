"""Load tests of Open Inference Protocol servers (seawall's or Triton's): ``seawall bench``.

A native generator (``seawall._core.LoadGenerator``: one epoll thread, many keep-alive
connections, pre-serialised requests) drives the server closed-loop (N requests in flight) or
open-loop (a rate, constant or Poisson; latency from each request's due time, so queueing is
not hidden), with requests built from the model's metadata or from real rows. Each step is
measured in windows until three agree (perf_analyzer's rule); the server's own queue and compute
split is read from ``/v2/models/{m}/stats`` when it has that endpoint.

* :func:`bench`: steps of load against a running server;
* :func:`load_test_bundle`: a bundle served in-process and driven at a rate (the
  continuous-training loop's latency gate);
* :func:`sweep`: batcher settings tried against a p99 target (Triton Model Analyzer's role).
"""

from __future__ import annotations

from .load_test import bench, load_test_bundle, served
from .measure import BenchResult, StepResult
from .options import parse_duration, parse_steps
from .sweep import GRID, SweepResult, sweep

__all__ = [
    "GRID",
    "BenchResult",
    "StepResult",
    "SweepResult",
    "bench",
    "load_test_bundle",
    "parse_duration",
    "parse_steps",
    "served",
    "sweep",
]
