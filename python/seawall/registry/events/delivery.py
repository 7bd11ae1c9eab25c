"""Delivering events to webhook subscriptions: at least once, in order, never lost.

Each subscription has a cursor (the last event it handled). A worker takes a subscription by a
lease (so two workers never deliver it at once; a killed worker's lease runs out and another
takes over), POSTs the events after the cursor that match its types, one by one and in order,
and moves the cursor past each one the endpoint accepted (a 2xx answer). A failed try (no
answer, a timeout, any other status) stops that subscription's delivery: the same event is
tried again after ``backoff_s * 2**(tries - 1)`` seconds (at most ``max_backoff_s``, with
jitter), for as long as the subscription exists. Since the cursor is in the database, stopping a
worker (or the endpoint being down for days) loses nothing: the next worker starts where the
last accepted event left off. An endpoint may get an event twice (a worker killed between the
POST and the cursor's update): the ``Idempotency-Key`` header, the same on every try, lets it
tell.

Each POST carries the event as JSON (:meth:`Event.to_json`) with the headers
``X-Seawall-Signature: sha256=<HMAC-SHA256 of the body under the subscription's secret>``,
``Idempotency-Key``, ``X-Seawall-Event``, ``X-Seawall-Event-Id``, ``X-Seawall-Webhook-Id`` and
``X-Seawall-Delivery-Attempt``. A receiver checks the signature with :func:`verify_signature`
(``verify_signature(secret, raw_body, header)``), or computes the HMAC itself.

Writers never wait for any of this: the change and its event commit in their own transaction,
and delivery reads the outbox afterwards.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, func, or_, select, update

from ..._webhooks import backoff_delay, post
from ..._webhooks import verify as verify_signature
from ...errors import InvalidInputError
from .._schema import webhooks
from ._outbox import Event, last_event_id, read_events
from ._subscriptions import parse_types

__all__ = ["DeliveryWorker", "verify_signature"]

log = logging.getLogger("seawall.registry")


def _shown(url: str) -> str:
    """The URL for logs: without credentials or query (which may hold a token)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


class DeliveryWorker:
    """Delivers the registry's events to its webhook subscriptions.

    ``run_once()`` makes one pass over the subscriptions that are due; ``start()`` runs passes
    in a background thread (waking when new events are committed, or when a retry is due)
    until ``close()``; ``run(stop)`` does the same in the calling thread. Figures:
    ``delivered`` (events accepted) and ``failed`` (tries that failed).
    """

    def __init__(
        self,
        registry: Any,
        *,
        timeout_s: float = 10.0,
        backoff_s: float = 1.0,
        max_backoff_s: float = 600.0,
        batch: int = 100,
        lease_s: float = 60.0,
        idle_s: float = 1.0,
    ) -> None:
        for label, value in (
            ("timeout_s", timeout_s),
            ("backoff_s", backoff_s),
            ("max_backoff_s", max_backoff_s),
            ("lease_s", lease_s),
            ("idle_s", idle_s),
        ):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise InvalidInputError(f"{label} must be a positive number, got {value!r}")
        if lease_s < 2 * timeout_s:
            raise InvalidInputError(
                f"lease_s ({lease_s}) must be at least twice timeout_s ({timeout_s}): a worker "
                "keeps its lease only between POSTs"
            )
        if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= 10_000:
            raise InvalidInputError(f"batch must be an integer from 1 to 10000, got {batch!r}")
        self.registry = registry
        self._db = registry._db
        self.timeout_s = float(timeout_s)
        self.backoff_s = float(backoff_s)
        self.max_backoff_s = float(max_backoff_s)
        self.batch = batch
        self.lease_s = float(lease_s)
        self.idle_s = float(idle_s)
        self.owner = f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self.delivered = 0
        self.failed = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"DeliveryWorker({self.registry!r}, owner={self.owner!r})"

    # --- running ------------------------------------------------------------------------------

    def start(self) -> DeliveryWorker:
        """Runs the delivery in a background thread until :meth:`close`."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self.run, args=(self._stop,), name="seawall-webhooks", daemon=True
            )
            self._thread.start()
        return self

    def close(self, timeout: float | None = 30.0) -> None:
        """Stops the thread (a POST in flight finishes first, within `timeout_s`)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def __enter__(self) -> DeliveryWorker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, stop: threading.Event | None = None) -> None:
        """Delivers until `stop` is set (forever without one). A pass that fails (the database
        is unreachable) is logged and tried again after ``idle_s``."""
        stop = stop if stop is not None else threading.Event()
        while not stop.is_set():
            try:
                seen = self.registry.last_event_id()
                self.run_once(stop)
                wait = self._until_due()
            except Exception:
                log.exception("webhook delivery: a pass failed; trying again in %gs", self.idle_s)
                stop.wait(self.idle_s)
                continue
            if wait > 0 and not stop.is_set():
                # New events wake the wait; a retry that comes due ends it.
                self.registry.wait_for_events(seen, limit=1, timeout_s=wait)

    def _until_due(self) -> float:
        """Seconds until a subscription's next try is due (at most ``idle_s``)."""
        now = time.time()
        with self._db.read() as conn:
            nxt = conn.execute(
                select(func.min(webhooks.c.next_attempt_at)).where(webhooks.c.next_attempt_at > now)
            ).scalar()
        if nxt is None:
            return self.idle_s
        return max(0.0, min(self.idle_s, float(nxt) - now))

    def run_once(self, stop: threading.Event | None = None) -> int:
        """One pass: every due subscription that no other worker holds gets what it has pending
        (up to ``batch`` events). Returns the events delivered."""
        now = time.time()
        with self._db.read() as conn:
            due = list(
                conn.execute(
                    select(webhooks.c.id)
                    .where(webhooks.c.next_attempt_at <= now, self._free(now))
                    .order_by(webhooks.c.id)
                ).scalars()
            )
        count = 0
        for webhook_id in due:
            if stop is not None and stop.is_set():
                break
            if self._claim(int(webhook_id)):
                try:
                    count += self._deliver(int(webhook_id))
                finally:
                    self._release(int(webhook_id))
        return count

    # --- one subscription ---------------------------------------------------------------------

    def _free(self, now: float) -> Any:
        return or_(
            webhooks.c.lease_until.is_(None),
            webhooks.c.lease_until < now,
            webhooks.c.lease_owner == self.owner,
        )

    def _mine(self, webhook_id: int) -> Any:
        return (webhooks.c.id == webhook_id) & (webhooks.c.lease_owner == self.owner)

    def _claim(self, webhook_id: int) -> bool:
        now = time.time()

        def tx(conn: Connection) -> int:
            return int(
                conn.execute(
                    update(webhooks)
                    .where(
                        webhooks.c.id == webhook_id,
                        webhooks.c.next_attempt_at <= now,
                        self._free(now),
                    )
                    .values(lease_owner=self.owner, lease_until=now + self.lease_s)
                ).rowcount
            )

        return bool(self._db.write(tx))

    def _release(self, webhook_id: int) -> None:
        try:
            self._db.write(
                lambda conn: conn.execute(
                    update(webhooks)
                    .where(self._mine(webhook_id))
                    .values(lease_owner=None, lease_until=None)
                )
            )
        except Exception as exc:  # the lease runs out on its own
            log.debug("webhook delivery: could not release webhook %d: %s", webhook_id, exc)

    def _deliver(self, webhook_id: int) -> int:
        with self._db.read() as conn:
            row = conn.execute(select(webhooks).where(self._mine(webhook_id))).first()
            if row is None:
                return 0  # removed meanwhile
            # The newest id first: every event up to it is committed and visible to the read
            # that follows (ids increase in commit order), so the ones that do not match can be
            # passed over.
            newest = last_event_id(conn)
            types = list(parse_types(row.types))
            pending = read_events(conn, int(row.cursor), types, None, self.batch)
        pending = [e for e in pending if e.id <= newest]
        complete = len(pending) < self.batch  # nothing else matches up to `newest`
        attempts = int(row.attempts)
        count = 0
        for event in pending:
            attempts += 1
            result = post(
                row.url,
                event.to_json(),
                self._headers(webhook_id, event, attempts),
                self.timeout_s,
                secret=row.secret,
            )
            if not result.ok:
                self.failed += 1
                self._failed(webhook_id, row.url, event, attempts, result.detail)
                return count
            if not self._accepted(webhook_id, event.id):
                return count  # removed, or the lease was lost: another worker goes on
            self.delivered += 1
            count += 1
            attempts = 0
        if complete and newest > int(row.cursor):
            self._skip_to(webhook_id, newest)
        return count

    @staticmethod
    def _headers(webhook_id: int, event: Event, attempt: int) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            "User-Agent": "seawall-webhooks",
            "Idempotency-Key": event.key,
            "X-Seawall-Event": event.type,
            "X-Seawall-Event-Id": str(event.id),
            "X-Seawall-Webhook-Id": str(webhook_id),
            "X-Seawall-Delivery-Attempt": str(attempt),
        }

    def _accepted(self, webhook_id: int, event_id: int) -> bool:
        now = time.time()

        def tx(conn: Connection) -> int:
            return int(
                conn.execute(
                    update(webhooks)
                    .where(self._mine(webhook_id), webhooks.c.cursor < event_id)
                    .values(
                        cursor=event_id,
                        delivered=webhooks.c.delivered + 1,
                        attempts=0,
                        next_attempt_at=0.0,
                        last_attempt_at=now,
                        last_error=None,
                        lease_until=now + self.lease_s,
                    )
                ).rowcount
            )

        return bool(self._db.write(tx))

    def _skip_to(self, webhook_id: int, event_id: int) -> None:
        self._db.write(
            lambda conn: conn.execute(
                update(webhooks)
                .where(self._mine(webhook_id), webhooks.c.cursor < event_id)
                .values(cursor=event_id)
            )
        )

    def _failed(self, webhook_id: int, url: str, event: Event, attempts: int, why: str) -> None:
        now = time.time()
        delay = backoff_delay(attempts, self.backoff_s, self.max_backoff_s)
        self._db.write(
            lambda conn: conn.execute(
                update(webhooks)
                .where(self._mine(webhook_id))
                .values(
                    attempts=attempts,
                    next_attempt_at=now + delay,
                    last_attempt_at=now,
                    last_error=why[:2000],
                )
            )
        )
        log.warning(
            "webhook %d (%s): event %d (%s) not delivered, try %d: %s; next try in %.1fs",
            webhook_id,
            _shown(url),
            event.id,
            event.type,
            attempts,
            why,
            delay,
        )
