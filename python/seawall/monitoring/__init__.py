"""Production monitoring: drift, missing data, predictions and quality of a served
model per time window, a history in the registry, alerts, and Prometheus metrics.

The three entry points a model server uses::

    from seawall.monitoring import Monitor, MonitorCollector, Rule, WebhookSink

    monitor = Monitor("fraud", registry=reg, window_s=3600,
                      rules=[Rule.drifted("*"), Rule.drift_share(above=0.3)],
                      sinks=[WebhookSink("http://alerts.internal/hook")])
    monitor.add_slice(start, end, features_profile, predictions_profile)  # from the live profiler
    metrics_registry.register(MonitorCollector([monitor]))                # on /metrics
    # and seawall.dashboard.create_dashboard_app(reg, monitors=[monitor]) mounted at /ui

``MonitorCollector`` needs prometheus_client (the serve extra); it loads on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._report import PREDICTION_QUANTILES, FeatureDrift, WindowReport
from ._store import History
from .monitor import Monitor
from .rules import Alert, Rule
from .sinks import CallbackSink, Sink, WebhookSink

if TYPE_CHECKING:
    from .metrics import MonitorCollector

__all__ = [
    "PREDICTION_QUANTILES",
    "Alert",
    "CallbackSink",
    "FeatureDrift",
    "History",
    "Monitor",
    "MonitorCollector",
    "Rule",
    "Sink",
    "WebhookSink",
    "WindowReport",
]


def __getattr__(name: str) -> Any:
    if name == "MonitorCollector":
        from .metrics import MonitorCollector

        return MonitorCollector
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
