"""Webhook subscriptions: a URL, the event types it wants, the secret that signs its bodies, and
where its delivery stands (the last event handled, failed tries, the next try)."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, delete, func, select

from ..._webhooks import check_url
from ...errors import InvalidInputError, NotFoundError
from .._schema import events, webhooks
from ._outbox import check_types, last_event_id, type_clause

MAX_URL = 2048
MIN_SECRET = 16
MAX_SECRET = 256


@dataclass(frozen=True)
class Webhook:
    """A subscription. ``secret`` is set only on the object :meth:`add_webhook` returns: it is
    shown once. ``pending`` counts the matching events not delivered yet."""

    id: int
    url: str
    types: tuple[str, ...]
    description: str | None
    created_at: float
    cursor: int
    delivered: int
    attempts: int
    next_attempt_at: float
    last_attempt_at: float | None
    last_error: str | None
    pending: int = 0
    secret: str | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "types": list(self.types),
            "description": self.description,
            "created_at": self.created_at,
            "cursor": self.cursor,
            "delivered": self.delivered,
            "attempts": self.attempts,
            "next_attempt_at": self.next_attempt_at,
            "last_attempt_at": self.last_attempt_at,
            "last_error": self.last_error,
            "pending": self.pending,
        }


def check_secret(secret: Any) -> str:
    if not isinstance(secret, str) or not MIN_SECRET <= len(secret) <= MAX_SECRET:
        raise InvalidInputError(
            f"a webhook secret is a string of {MIN_SECRET} to {MAX_SECRET} characters"
        )
    return secret


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def add(
    conn: Connection,
    url: str,
    types: Iterable[str] | str | None,
    secret: str | None,
    description: str | None,
    after: int | None,
) -> Webhook:
    check_url(url)
    if len(url) > MAX_URL:
        raise InvalidInputError(f"a webhook URL has at most {MAX_URL} characters")
    wanted = check_types(types)
    secret = new_secret() if secret is None else check_secret(secret)
    if description is not None and not isinstance(description, str):
        raise InvalidInputError("description must be a string")
    if after is not None and (not isinstance(after, int) or isinstance(after, bool) or after < 0):
        raise InvalidInputError(f"after must be an event id (an integer >= 0), got {after!r}")
    cursor = last_event_id(conn) if after is None else after
    now = time.time()
    row = {
        "url": url,
        "types": json.dumps(wanted),
        "secret": secret,
        "description": description,
        "created_at": now,
        "cursor": cursor,
        "delivered": 0,
        "attempts": 0,
        "next_attempt_at": 0.0,
    }
    pk = conn.execute(webhooks.insert().values(**row).returning(webhooks.c.id)).scalar_one()
    return Webhook(
        int(pk), url, tuple(wanted), description, now, cursor, 0, 0, 0.0, None, None, 0, secret
    )


def parse_types(raw: str) -> tuple[str, ...]:
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if not isinstance(value, list):  # unreadable: deliver nothing rather than everything
        return ("unreadable.types",)
    return tuple(str(v) for v in value)


def _pending(conn: Connection, cursor: int, types: tuple[str, ...]) -> int:
    query = select(func.count()).select_from(events).where(events.c.id > cursor)
    if types:
        query = query.where(type_clause(types))
    return int(conn.execute(query).scalar_one())


def from_row(conn: Connection, r: Any) -> Webhook:
    types = parse_types(r.types)
    return Webhook(
        int(r.id),
        r.url,
        types,
        r.description,
        float(r.created_at),
        int(r.cursor),
        int(r.delivered),
        int(r.attempts),
        float(r.next_attempt_at),
        None if r.last_attempt_at is None else float(r.last_attempt_at),
        r.last_error,
        _pending(conn, int(r.cursor), types),
    )


def listing(conn: Connection) -> list[Webhook]:
    rows = conn.execute(select(webhooks).order_by(webhooks.c.id)).all()
    return [from_row(conn, r) for r in rows]


def remove(conn: Connection, webhook_id: int) -> None:
    if not isinstance(webhook_id, int) or isinstance(webhook_id, bool):
        raise InvalidInputError(f"a webhook id is an integer, got {webhook_id!r}")
    if conn.execute(delete(webhooks).where(webhooks.c.id == webhook_id)).rowcount == 0:
        raise NotFoundError(f"no webhook with id {webhook_id}")
