"""The monitoring history of a registry served over HTTP: the routes of :class:`HistoryStore`'s
calls (windows, their drift and profiles, alerts), and :class:`RemoteHistoryStore`, which
``HistoryStore(registry)`` is when the registry is a ``seawall server``'s.

Profiles cross as their own bytes (base64); a window's live DriftReport does not cross (it is
None when read back from a history, as from the database).
"""

from __future__ import annotations

import base64
from typing import Any

from ..drift import DriftReport
from ..profiles import Profile
from ..registry.remote.client import remote_method
from ..registry.remote.codec import CODECS, Codec, encode, schema
from ..registry.remote.routes import ANY_TOKEN, Readable, Route, RouteTable
from ._report import WindowReport
from ._store import History, HistoryStore

__all__ = ["HISTORY_ROUTES", "RemoteHistoryStore"]


def _history_schema(components: dict[str, Any]) -> dict[str, Any]:
    components.setdefault(
        "History",
        {
            "type": "object",
            "description": "Windows, oldest first, and the rows that did not decode.",
            "properties": {
                "windows": {"type": "array", "items": schema(WindowReport, components)},
                "skipped": {
                    "type": "array",
                    "items": {"type": "array", "items": {}, "minItems": 2, "maxItems": 2},
                },
            },
            "required": ["windows", "skipped"],
        },
    )
    return {"$ref": "#/components/schemas/History"}


def _decode_history(data: dict[str, Any], client: Any) -> History:
    from ..registry.remote.codec import decode

    windows = [decode(w, WindowReport, client) for w in data["windows"]]
    return History(windows, [(int(i), str(why)) for i, why in data["skipped"]])


CODECS[Profile] = Codec(
    lambda p: base64.b64encode(p.to_bytes()).decode("ascii"),
    lambda data, client: Profile.from_bytes(base64.b64decode(data), source="a registry server"),
    lambda components: {"type": "string", "format": "byte", "description": "a saved Profile"},
)
CODECS[DriftReport] = Codec(
    lambda report: None,
    lambda data, client: None,
    lambda components: {"nullable": True, "description": "not kept in a history (null)"},
)
CODECS[History] = Codec(
    lambda h: {"windows": [encode(w) for w in h], "skipped": [list(s) for s in h.skipped]},
    _decode_history,
    _history_schema,
)


def _models(found: list[str], may: Readable) -> list[str]:
    return [m for m in found if may("models", m)]


def _latest(found: dict[str, Any], may: Readable) -> dict[str, Any]:
    return {m: rows for m, rows in found.items() if may("models", m)}


def _alerts(found: list[Any], may: Readable) -> list[Any]:
    return [a for a in found if may("models", a.model)]


HISTORY_ROUTES = RouteTable(
    "monitoring",
    HistoryStore,
    [
        Route(
            "POST",
            "/monitoring/windows",
            "save_window",
            "Save an evaluated window (replacing one with the same model and bounds)",
            access=("write:models/{report.model}",),
        ),
        Route(
            "GET",
            "/monitoring/windows",
            "windows",
            "A model's windows, oldest first",
            access=("read:models/{model}",),
        ),
        Route(
            "GET",
            "/monitoring/windows/{window_id:int}",
            "window",
            "One window with its profiles (null when there is none)",
            access=("read:models/*",),
        ),
        Route(
            "GET",
            "/monitoring/latest",
            "latest_by_model",
            "The newest windows of every model: [id, end, drift share]",
            access=ANY_TOKEN,
            readable=_latest,
        ),
        Route(
            "GET",
            "/monitoring/models",
            "models",
            "The models with a monitoring history",
            access=ANY_TOKEN,
            readable=_models,
        ),
        Route(
            "POST",
            "/monitoring/alerts",
            "save_alert",
            "Save a new alert, or update one",
            access=("write:models/{alert.model}",),
        ),
        Route(
            "GET",
            "/monitoring/alerts",
            "alerts",
            "Alerts, newest first",
            access=ANY_TOKEN,
            readable=_alerts,
        ),
        Route(
            "POST",
            "/monitoring/alerts/{alert_id:int}/acknowledge",
            "acknowledge_alert",
            "Acknowledge a model's alert: the request's principal and the time are recorded",
            access=("write:models/{model}",),
        ),
        Route(
            "POST",
            "/monitoring/alerts/resolve",
            "resolve_alerts",
            "Mark alerts resolved, with a note",
            access=("write:models/*",),
        ),
    ],
    tag="monitoring",
)


class RemoteHistoryStore(HistoryStore):
    """The monitoring history of a registry served by ``seawall server``."""

    def __init__(self, registry: Any) -> None:
        self.registry = registry
        self._api = registry._api


for _route in HISTORY_ROUTES.routes:
    setattr(
        RemoteHistoryStore,
        _route.call,
        remote_method(HISTORY_ROUTES, _route, lambda store: store._api),
    )
