"""Who is acting: the actor a registry records on the runs, versions and alias moves it writes.

By default the OS login of the process. A server acting for a token says so for the length of
a request with ``registry.acting_as(principal)`` (a context manager over a context variable, so
that concurrent requests on threads or tasks each record their own principal, and each
registry its own)."""

from __future__ import annotations

import contextlib
import getpass
from collections.abc import Iterator
from contextvars import ContextVar
from functools import cache
from typing import Any

from ..errors import InvalidInputError

# id(registry) -> the actor acting on it in this context
_acting: ContextVar[dict[int, str] | None] = ContextVar("seawall_registry_actor", default=None)
_MAX = 128  # the actor columns' size


@cache
def os_login() -> str | None:
    try:
        return getpass.getuser()[:_MAX]
    except Exception:  # no login name in some containers: record none rather than fail
        return None


def current_actor(registry: object) -> str | None:
    """The actor of changes `registry` makes now: the principal it acts for, else the login."""
    found = (_acting.get() or {}).get(id(registry))
    return found if found is not None else os_login()


def actor_name(actor: Any) -> str:
    """``principal.actor`` for a principal (``service:ci``), or a non-empty string as given."""
    name = getattr(actor, "actor", actor)
    if not isinstance(name, str) or not name or len(name) > _MAX or not name.isprintable():
        raise InvalidInputError(
            f"an actor is a principal or a printable name of 1 to {_MAX} characters, got {actor!r}"
        )
    return name


@contextlib.contextmanager
def acting_as(registry: object, actor: Any) -> Iterator[None]:
    name = actor_name(actor)
    reset = _acting.set({**(_acting.get() or {}), id(registry): name})
    try:
        yield
    finally:
        _acting.reset(reset)
