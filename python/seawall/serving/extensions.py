"""What the model server hands to the layers above it: the monitors it feeds get a Prometheus
collector on ``/metrics``, and ``dashboard=True`` mounts the dashboard at ``/ui``.

The server knows neither monitoring nor the dashboard, which are built on top of it: seawall's
top-level package (which may import every layer) connects them here, so that serving imports
nothing above itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["connect", "dashboard_app", "monitor_collector"]

# monitors -> a prometheus_client Collector of their windows and alerts
MonitorCollectorFactory = Callable[[list[Any]], Any]
# (registry or None, monitors, authenticator or None) -> the dashboard, an ASGI app
DashboardFactory = Callable[[Any, list[Any], Any], Any]

_factories: dict[str, Callable[..., Any]] = {}


def connect(*, monitor_collector: MonitorCollectorFactory, dashboard_app: DashboardFactory) -> None:
    """Gives the server what makes the monitors' collector and the dashboard app."""
    _factories["monitor_collector"] = monitor_collector
    _factories["dashboard_app"] = dashboard_app


def _factory(name: str) -> Callable[..., Any]:
    try:
        return _factories[name]
    except KeyError:
        raise RuntimeError(f"the model server has no {name} connected: import seawall") from None


def monitor_collector(monitors: list[Any]) -> Any:
    """The Prometheus collector exporting `monitors` (seawall.monitoring.MonitorCollector)."""
    return _factory("monitor_collector")(monitors)


def dashboard_app(registry: Any, monitors: list[Any], auth: Any = None) -> Any:
    """The dashboard over `registry` and `monitors` (seawall.dashboard.create_dashboard_app),
    signing in with the server's tokens when `auth` (an Authenticator) is given."""
    return _factory("dashboard_app")(registry, monitors, auth)
