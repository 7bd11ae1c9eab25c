"""The registry's events API: reading the outbox, waiting for new events, writing one, and
managing webhook subscriptions."""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, delete, func, select

from ...errors import InvalidInputError
from .._base import RegistryBase
from .._schema import events, webhooks
from . import _outbox, _subscriptions
from ._outbox import MAX_LIMIT, Event, NewEvent
from ._signal import EventSignal
from ._subscriptions import Webhook


def _check_after(after: Any) -> int:
    if isinstance(after, bool) or not isinstance(after, int) or after < 0:
        raise InvalidInputError(f"after must be an event id (an integer >= 0), got {after!r}")
    return after


def _check_limit(limit: Any) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidInputError(f"limit must be an integer from 1 to {MAX_LIMIT}, got {limit!r}")
    return limit


def _check_resource(resource: Any) -> str | None:
    if resource is not None and (not isinstance(resource, str) or not resource):
        raise InvalidInputError(f"resource must be a non-empty string, got {resource!r}")
    return resource


def _check_seconds(value: Any, name: str) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise InvalidInputError(f"{name} must be a finite number of seconds >= 0, got {value!r}")


class EventsMixin(RegistryBase):
    """Events of the registry (see :mod:`seawall.registry.events`) and webhook subscriptions."""

    # SQLite: how often a waiting reader's thread looks for new events.
    event_poll_s = 0.05

    @property
    def pushes_events(self) -> bool:
        """Whether new events reach waiters as they commit (PostgreSQL's LISTEN/NOTIFY), rather
        than by polling the table (SQLite). A model server subscribes to alias events by
        default only when they are pushed; with a plain SQLite file it keeps polling."""
        return self._postgres

    def _event_signal(self) -> EventSignal:
        signal: EventSignal | None = getattr(self, "_events_signal", None)
        if signal is None:
            signal = self._events_signal = EventSignal(self._db, self.event_poll_s)
        return signal

    def events(
        self,
        after: int = 0,
        *,
        types: Iterable[str] | str | None = None,
        resource: str | None = None,
        limit: int = 100,
    ) -> list[Event]:
        """Events with an id greater than `after`, oldest first, at most `limit`.

        ``types``: event types to keep (``"alias.set"``, or ``"alias.*"`` for every alias
        event); ``resource``: a resource (``"models/fraud"``) and everything under it
        (``"models/fraud/aliases/champion"``). Remember the last id read and pass it as `after`
        next time: ids increase in commit order, so nothing is missed.
        """
        after = _check_after(after)
        wanted = _outbox.check_types(types)
        resource = _check_resource(resource)
        limit = _check_limit(limit)
        with self._db.read() as conn:
            return _outbox.read_events(conn, after, wanted, resource, limit)

    def last_event_id(self) -> int:
        """The id of the newest event (0 when there is none): where to start following."""
        with self._db.read() as conn:
            return _outbox.last_event_id(conn)

    def wait_for_events(
        self,
        after: int = 0,
        *,
        types: Iterable[str] | str | None = None,
        resource: str | None = None,
        limit: int = 100,
        timeout_s: float = 30.0,
    ) -> list[Event]:
        """As :meth:`events`, but when there is none yet, waits up to `timeout_s` seconds for
        one (a long poll); an empty list means the time ran out."""
        after = _check_after(after)
        wanted = _outbox.check_types(types)
        resource = _check_resource(resource)
        limit = _check_limit(limit)
        _check_seconds(timeout_s, "timeout_s")
        signal = self._event_signal()
        deadline = time.monotonic() + timeout_s
        while True:
            seen = signal.generation  # before the query: a wake-up during it is not lost
            with self._db.read() as conn:
                found = _outbox.read_events(conn, after, wanted, resource, limit)
            left = deadline - time.monotonic()
            if found or left <= 0:
                return found
            signal.wait(seen, left)

    def watch_events(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Calls ``callback()`` (from a background thread, with no argument) whenever new events
        may have been committed, until the returned function is called. For servers that wait
        for events without a thread per waiter: the callback only wakes them (it must return at
        once); they read with :meth:`events`."""
        if not callable(callback):
            raise InvalidInputError(f"callback must be callable, got {type(callback).__name__}")
        return self._event_signal().subscribe(callback)

    def record_event(
        self,
        type: str,
        resource: str,
        payload: Mapping[str, Any] | None = None,
        *,
        key: str | None = None,
    ) -> Event:
        """Writes an event of your own (in its own transaction) and returns it. A `key` already
        used returns the event first written with it, unchanged (writing is idempotent)."""
        event = NewEvent(type, resource, key or f"{type}:{uuid.uuid4().hex}", payload or {})

        def tx(conn: Connection) -> Event:
            _outbox.write_event(conn, event)
            return _by_key(conn, event.key)

        return self._db.write(tx)

    def add_webhook(
        self,
        url: str,
        types: Iterable[str] | str | None = None,
        *,
        secret: str | None = None,
        description: str | None = None,
        after: int | None = None,
    ) -> Webhook:
        """Subscribes `url` to events of `types` (default: every type; ``"alias.*"`` patterns
        too), from the events after `after` (default: from now on).

        Each event is POSTed as JSON, signed with HMAC-SHA256 under `secret` (generated when not
        given; the returned object is the only one that shows it) by the delivery worker
        (``seawall events deliver``, or :class:`seawall.registry.events.DeliveryWorker`).
        """

        def tx(conn: Connection) -> Webhook:
            return _subscriptions.add(conn, url, types, secret, description, after)

        return self._db.write(tx)

    def list_webhooks(self) -> list[Webhook]:
        """Every subscription and how its delivery stands (without the secrets)."""
        with self._db.read() as conn:
            return _subscriptions.listing(conn)

    def remove_webhook(self, webhook_id: int) -> None:
        """Removes a subscription; what it had not delivered is not delivered."""
        self._db.write(lambda conn: _subscriptions.remove(conn, webhook_id))

    def prune_events(self, older_than_s: float) -> int:
        """Removes events older than `older_than_s` seconds that every webhook has handled (an
        event a webhook still has to deliver is kept, however old). Returns how many went.
        Ids are never handed out again, so followers go on from where they were."""
        _check_seconds(older_than_s, "older_than_s")
        cutoff = time.time() - older_than_s

        def tx(conn: Connection) -> int:
            query = delete(events).where(events.c.at < cutoff)
            handled = conn.execute(select(func.min(webhooks.c.cursor))).scalar()
            if handled is not None:
                query = query.where(events.c.id <= handled)
            return int(conn.execute(query).rowcount)

        return self._db.write(tx)

    def close(self) -> None:
        signal: EventSignal | None = getattr(self, "_events_signal", None)
        if signal is not None:
            signal.close()
        super().close()


def _by_key(conn: Connection, key: str) -> Event:
    row = conn.execute(select(events.c.id).where(events.c.key == key)).scalar_one()
    return _outbox.read_events(conn, int(row) - 1, [], None, 1)[0]
