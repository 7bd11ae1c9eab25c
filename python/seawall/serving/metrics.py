"""Prometheus metrics of a seawall server, in the text format that ``GET /metrics`` serves.

Per model and version: HTTP requests by endpoint and status code, their latency, requests in
flight; per model, hot swaps by result; and, read from each batcher's ``stats()`` at scrape
time, the batcher's request counts, batch sizes and queue-wait and compute times. Each app has
its own registry unless given one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

__all__ = ["ServerMetrics"]

LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
_LABELS = ("model", "version")


class _BatcherCollector(Collector):
    """Reads the batchers' stats() when Prometheus scrapes (no bookkeeping on the hot path)."""

    def __init__(self, batchers: Callable[[], Iterable[tuple[str, str, Any, int]]]) -> None:
        self._batchers = batchers

    def collect(self) -> Iterable[Metric]:
        counters = {
            "requests": ("seawall_batcher_requests", "Requests the batcher accepted."),
            "rejected": (
                "seawall_batcher_rejected",
                "Requests refused because the queue was full.",
            ),
            "timed_out": ("seawall_batcher_timed_out", "Requests that waited past their timeout."),
            "failed": ("seawall_batcher_failed", "Requests whose model call raised."),
            "batches": ("seawall_batcher_batches", "Model calls (batches) run."),
        }
        families = {
            key: CounterMetricFamily(name, doc, labels=_LABELS)
            for key, (name, doc) in counters.items()
        }
        sizes = HistogramMetricFamily(
            "seawall_batcher_batch_size", "Rows per model call.", labels=_LABELS
        )
        waits = _Summary("seawall_batcher_queue_wait_seconds", "Time requests waited in the queue.")
        computes = _Summary("seawall_batcher_compute_seconds", "Time the model calls took.")
        for model, version, batcher, max_batch_size in self._batchers():
            try:
                stats = batcher.stats()
            except Exception:  # a closed batcher has nothing more to say
                continue
            labels = [model, version]
            for key, family in families.items():
                family.add_metric(labels, float(stats.get(key, 0)))
            sizes.add_metric(
                labels, *_buckets(stats.get("batch_size_histogram", {}), max_batch_size)
            )
            waits.add(labels, stats.get("queue_wait_us", {}))
            computes.add(labels, stats.get("compute_us", {}))
        yield from families.values()
        yield sizes
        yield waits.metric
        yield computes.metric


class _Summary:
    """A summary family with quantiles, from the batcher's count/sum/p50/p90/p99 in µs."""

    def __init__(self, name: str, doc: str) -> None:
        self.name = name
        self.metric = Metric(name, doc, "summary")

    def add(self, labels: list[str], stats: Mapping[str, Any]) -> None:
        base = dict(zip(_LABELS, labels, strict=True))
        for q in ("p50", "p90", "p99"):
            if q in stats:
                quantile = str(int(q[1:]) / 100)
                self.metric.add_sample(self.name, {**base, "quantile": quantile}, stats[q] / 1e6)
        self.metric.add_sample(f"{self.name}_count", base, float(stats.get("count", 0)))
        self.metric.add_sample(f"{self.name}_sum", base, float(stats.get("sum", 0)) / 1e6)


def _buckets(
    histogram: Mapping[Any, Any], max_batch_size: int
) -> tuple[list[tuple[str, float]], float]:
    """Cumulative buckets at powers of two up to max_batch_size, and the sum of rows."""
    bounds = []
    b = 1
    while b < max_batch_size:
        bounds.append(b)
        b *= 2
    bounds.append(max(max_batch_size, 1))
    counts = {int(size): int(n) for size, n in histogram.items()}
    buckets = [
        (str(float(ub)), float(sum(n for s, n in counts.items() if s <= ub))) for ub in bounds
    ]
    buckets.append(("+Inf", float(sum(counts.values()))))
    return buckets, float(sum(s * n for s, n in counts.items()))


class ServerMetrics:
    """The metrics of one app: request counters and latencies, and the batchers' own stats."""

    def __init__(
        self,
        batchers: Callable[[], Iterable[tuple[str, str, Any, int]]],
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        labels = (*_LABELS, "endpoint")
        self.requests = Counter(
            "seawall_inference_requests",
            "Inference requests by model, version, endpoint and HTTP status code.",
            (*labels, "code"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "seawall_inference_request_duration_seconds",
            "Time from a request's arrival to its response, by model, version and endpoint.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "seawall_inference_requests_in_flight",
            "Inference requests being handled now.",
            _LABELS,
            registry=self.registry,
        )
        self.swaps = Counter(
            "seawall_model_swaps",
            "Hot swaps to the version an alias moved to, by model and result: ok, or failed "
            "(the version did not load; the old one goes on serving and the load is retried).",
            ("model", "result"),
            registry=self.registry,
        )
        self.registry.register(_BatcherCollector(batchers))

    def prepare(self, model: str, version: str, endpoints: Iterable[str]) -> None:
        """Makes a model version's series (answered 200, latency, in flight) at 0 now: the
        first request would otherwise make them, for several times its usual cost."""
        self.in_flight.labels(model, version)
        for endpoint in endpoints:
            self.requests.labels(model, version, endpoint, "200")
            self.latency.labels(model, version, endpoint)

    def observe(self, model: str, version: str, endpoint: str, code: int, seconds: float) -> None:
        self.requests.labels(model, version, endpoint, str(code)).inc()
        self.latency.labels(model, version, endpoint).observe(seconds)
