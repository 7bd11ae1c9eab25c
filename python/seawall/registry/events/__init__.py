"""Events of the registry: an outbox written in the transaction of each change, read by id,
waited for (long poll), streamed over HTTP, and delivered to webhooks.

The registry writes an event when a version is registered (``model_version.created``), an
alias is set or deleted (``alias.set``, ``alias.deleted``), a monitor's alert fires, resolves or
is acknowledged (``alert.firing``, ``alert.resolved``, ``alert.acknowledged``) and the continuous-training loop records a decision
(``loop.decision``)::

    reg = seawall.Registry()
    start = reg.last_event_id()
    reg.set_alias("fraud", "champion", 2)
    for event in reg.wait_for_events(after=start, types="alias.*", timeout_s=5):
        print(event.id, event.type, event.resource, event.payload)

    reg.add_webhook("https://ops.example/hooks/seawall", types=["alias.*"])
    DeliveryWorker(reg).start()   # or: seawall events deliver

:func:`seawall.registry.events.http.routes` serves them over HTTP (a long poll and a
server-sent-events stream).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._outbox import (
        ALERT_ACKNOWLEDGED,
        ALERT_FIRING,
        ALERT_RESOLVED,
        ALIAS_DELETED,
        ALIAS_SET,
        EVENT_TYPES,
        LOOP_DECISION,
        VERSION_CREATED,
        Event,
        NewEvent,
        write_event,
    )
    from ._subscriptions import Webhook
    from .delivery import DeliveryWorker, verify_signature

__all__ = [
    "ALERT_ACKNOWLEDGED",
    "ALERT_FIRING",
    "ALERT_RESOLVED",
    "ALIAS_DELETED",
    "ALIAS_SET",
    "EVENT_TYPES",
    "LOOP_DECISION",
    "VERSION_CREATED",
    "DeliveryWorker",
    "Event",
    "NewEvent",
    "Webhook",
    "verify_signature",
    "write_event",
]

# The names load on first use, so the command line can import this package's cli without
# SQLAlchemy.
_WHERE = {"Webhook": "_subscriptions", "DeliveryWorker": "delivery", "verify_signature": "delivery"}


def __getattr__(name: str) -> Any:
    if name in __all__:
        from importlib import import_module

        value = getattr(import_module(f".{_WHERE.get(name, '_outbox')}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
