"""Prometheus metrics of monitors: a collector for the model server's ``/metrics``.

Register it in the server's registry, ``CollectorRegistry.register(MonitorCollector(monitors))``
(or pass that registry as ``create_app(..., metrics_registry=...)``). It reads each monitor's
newest window and open alerts when Prometheus scrapes: nothing is recorded on the serving path.

Metrics (labels ``model`` and ``version``, plus those named; values of the newest window):

============================================  ========  ===========================================
``seawall_monitor_drift_score``               gauge     per ``feature`` and ``method``: the p-value
                                                        (tests) or the statistic (distances)
``seawall_monitor_drift_threshold``           gauge     the threshold the score is compared with
``seawall_monitor_feature_drifted``           gauge     1 when the feature drifted, else 0
``seawall_monitor_drift_share_ratio``         gauge     drifted features / compared features
``seawall_monitor_dataset_drifted``           gauge     1 when the share reaches ``drift_share``
``seawall_monitor_missing_ratio``             gauge     per ``feature``: null or NaN values / rows
``seawall_monitor_window_rows``               gauge     rows in the window
``seawall_monitor_window_end_timestamp_seconds``  gauge  when the window ended
``seawall_monitor_prediction``                summary   per ``output``: quantiles 0.05 to 0.95 of a
                                                        numeric output, ``_count`` and ``_sum``
``seawall_monitor_prediction_class_ratio``    gauge     per ``output`` and ``class``: share of rows
``seawall_monitor_quality``                   gauge     per ``metric`` (accuracy, f1, rmse...)
``seawall_monitor_arm_quality``               gauge     per ``arm`` and ``metric``: of the
                                                        labelled rows one traffic arm answered
``seawall_monitor_arm_labels``                gauge     per ``arm``: its labelled rows
``seawall_monitor_alert_firing``              gauge     1 per open alert (``rule``, ``subject``,
                                                        ``severity``)
``seawall_monitor_slices_total``              counter   slices received (also ``_windows_total``,
                                                        ``_dropped_total``, ``_late_total``,
                                                        ``_errors_total``)
============================================  ========  ===========================================
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ._report import WindowReport
from .monitor import Monitor

__all__ = ["MonitorCollector"]

_BASE = ("model", "version")


class MonitorCollector(Collector):
    """Exports the newest window and the open alerts of each monitor.

    ``monitors`` is a list of :class:`Monitor` (``add`` and ``remove`` change it, e.g. on a hot
    swap), or a callable returning the monitors to export at each scrape.
    """

    def __init__(self, monitors: Iterable[Monitor] | Callable[[], Iterable[Monitor]] = ()) -> None:
        self._lock = threading.Lock()
        if callable(monitors):
            self._source: Callable[[], Iterable[Monitor]] | None = monitors
            self._monitors: list[Monitor] = []
        else:
            self._source = None
            self._monitors = list(monitors)

    def add(self, monitor: Monitor) -> None:
        with self._lock:
            if monitor not in self._monitors:
                self._monitors.append(monitor)

    def remove(self, monitor: Monitor) -> None:
        with self._lock:
            if monitor in self._monitors:
                self._monitors.remove(monitor)

    def monitors(self) -> list[Monitor]:
        with self._lock:
            listed = list(self._monitors)
        if self._source is not None:
            listed += [m for m in self._source() if m not in listed]
        return listed

    def describe(self) -> Iterable[Metric]:
        return _Families().all()

    def collect(self) -> Iterable[Metric]:
        f = _Families()
        for monitor in self.monitors():
            version = monitor.version or ""
            base = [monitor.model, version]
            window = monitor.latest
            if window is not None:
                _add_window(f, window, [monitor.model, window.version or ""])
            for alert in monitor.alerts(open=True):
                f.alert.add_metric(
                    [monitor.model, alert.rule, alert.subject or "", alert.severity], 1.0
                )
            stats = monitor.stats()
            for key, family in f.counters.items():
                family.add_metric(base, float(stats[key]))
        return f.all()


class _Families:
    def __init__(self) -> None:
        def gauge(name: str, doc: str, *labels: str) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, doc, labels=[*_BASE, *labels])

        self.score = gauge(
            "seawall_monitor_drift_score",
            "Drift score of a feature in the newest window: the p-value of a test method, the "
            "statistic of a distance.",
            "feature",
            "method",
        )
        self.threshold = gauge(
            "seawall_monitor_drift_threshold",
            "Threshold the feature's drift score is compared with.",
            "feature",
            "method",
        )
        self.drifted = gauge(
            "seawall_monitor_feature_drifted",
            "1 when the feature drifted in the newest window, else 0.",
            "feature",
        )
        self.share = gauge(
            "seawall_monitor_drift_share_ratio",
            "Share of the compared features that drifted in the newest window.",
        )
        self.dataset = gauge(
            "seawall_monitor_dataset_drifted",
            "1 when the share of drifted features reached the monitor's drift_share.",
        )
        self.missing = gauge(
            "seawall_monitor_missing_ratio",
            "Share of the newest window's rows where the feature is null or NaN.",
            "feature",
        )
        self.rows = gauge("seawall_monitor_window_rows", "Rows in the newest window.")
        self.end = gauge(
            "seawall_monitor_window_end_timestamp_seconds", "End of the newest window."
        )
        self.prediction = Metric(
            "seawall_monitor_prediction",
            "Distribution of a numeric model output in the newest window.",
            "summary",
        )
        self.classes = gauge(
            "seawall_monitor_prediction_class_ratio",
            "Share of the newest window's predictions in each class of an output.",
            "output",
            "class",
        )
        self.quality = gauge(
            "seawall_monitor_quality",
            "Quality metric of the newest window (from labels, or logged).",
            "metric",
        )
        self.arm_quality = gauge(
            "seawall_monitor_arm_quality",
            "Quality metric of the newest window over the labelled rows of one traffic arm.",
            "arm",
            "metric",
        )
        self.arm_labels = gauge(
            "seawall_monitor_arm_labels",
            "Labelled rows of one traffic arm in the newest window.",
            "arm",
        )
        self.alert = GaugeMetricFamily(
            "seawall_monitor_alert_firing",
            "1 for each open alert.",
            labels=["model", "rule", "subject", "severity"],
        )
        self.counters = {
            key: CounterMetricFamily(f"seawall_monitor_{name}", doc, labels=list(_BASE))
            for key, name, doc in (
                ("slices", "slices", "Slices of traffic the monitor received."),
                ("windows", "windows", "Windows evaluated."),
                ("dropped", "dropped", "Items dropped because the monitor was behind."),
                ("late", "late", "Slices and labels that came after their window closed."),
                ("errors", "errors", "Evaluations or history writes that failed."),
            )
        }

    def all(self) -> list[Metric]:
        return [
            self.score,
            self.threshold,
            self.drifted,
            self.share,
            self.dataset,
            self.missing,
            self.rows,
            self.end,
            self.prediction,
            self.classes,
            self.quality,
            self.arm_quality,
            self.arm_labels,
            self.alert,
            *self.counters.values(),
        ]


def _add_window(f: _Families, w: WindowReport, base: list[str]) -> None:
    for feature in w.features.values():
        if feature.missing_share is not None:
            f.missing.add_metric([*base, feature.feature], feature.missing_share)
        score = feature.drift_score
        if score is None or feature.method is None or feature.threshold is None:
            continue
        f.score.add_metric([*base, feature.feature, feature.method], score)
        f.threshold.add_metric([*base, feature.feature, feature.method], feature.threshold)
        f.drifted.add_metric([*base, feature.feature], 1.0 if feature.drifted else 0.0)
    if w.drift_share is not None:
        f.share.add_metric(base, w.drift_share)
    if w.dataset_drift is not None:
        f.dataset.add_metric(base, 1.0 if w.dataset_drift else 0.0)
    f.rows.add_metric(base, float(w.rows))
    f.end.add_metric(base, w.end)
    labels = dict(zip(_BASE, base, strict=True))
    for output, summary in w.predictions.items():
        if summary.get("kind") == "numeric":
            count = int(summary.get("count", 0))
            if not count:
                continue
            for q, value in summary.get("quantiles", {}).items():
                if value is not None:
                    f.prediction.add_sample(
                        "seawall_monitor_prediction",
                        {**labels, "output": output, "quantile": q},
                        float(value),
                    )
            mean = summary.get("mean")
            f.prediction.add_sample(
                "seawall_monitor_prediction_count", {**labels, "output": output}, float(count)
            )
            if mean is not None:
                f.prediction.add_sample(
                    "seawall_monitor_prediction_sum",
                    {**labels, "output": output},
                    float(mean) * count,
                )
        else:
            for label, share in summary.get("shares", {}).items():
                f.classes.add_metric([*base, output, str(label)], float(share))
    for metric, value in w.quality.items():
        f.quality.add_metric([*base, metric], value)
    for arm, metrics in w.quality_by_arm.items():
        for metric, value in metrics.items():
            f.arm_quality.add_metric([*base, arm, metric], value)
    for arm, rows in w.labels_by_arm.items():
        f.arm_labels.add_metric([*base, arm], float(rows))
