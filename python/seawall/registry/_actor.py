"""Who acts: the name recorded as the actor of what the registry writes (an alias move...).

A server sets it for each request it handles, from the one place where it identifies the caller
(``seawall.registry_server``'s identity hook); everywhere else it is this process's OS login.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache

_ACTING: ContextVar[str | None] = ContextVar("seawall_registry_actor", default=None)


@cache
def login() -> str | None:
    """This process's OS login (None in containers that have none)."""
    try:
        return getpass.getuser()[:128]
    except Exception:  # no login name in some containers: record none rather than fail
        return None


def actor() -> str | None:
    """The actor of the current write: the one a server set for this request, else the login."""
    return _ACTING.get() or login()


@contextmanager
def acting_as(name: str | None) -> Iterator[None]:
    """Records `name` (None: the OS login) as the actor of the writes made inside the block."""
    token = _ACTING.set(name[:128] if name else None)
    try:
        yield
    finally:
        _ACTING.reset(token)
