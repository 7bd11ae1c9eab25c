"""The dashboard: models, versions, aliases and their history, lineage, runs and
metrics, and per model the drift over time per feature with the reference and window
distributions, and the alerts. Server-rendered HTML with inline CSS and SVG: it works offline.

``seawall ui`` serves it; ``create_dashboard_app(registry, monitors)`` is the ASGI app to mount
in a model server (at ``/ui``). Needs Starlette (and uvicorn to serve it): the serve extra.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_dashboard_app"]


def __getattr__(name: str) -> Any:
    if name == "create_dashboard_app":
        from .app import create_dashboard_app

        return create_dashboard_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
