"""Access control for every seawall server: who a request's token speaks for, whether its scopes
allow what the request does, and how often it may ask.

* :class:`Authenticator` checks tokens against a source (a registry, or a
  :class:`~seawall._server.tokens.TokenFile`: anything with ``authenticate(token)`` and
  ``principal_for(token_id)``), keeping each answer for at most ``cache_s`` seconds (0.5 by
  default), so that a revoked token stops working within a second everywhere; it also keeps
  per-token rate limits (a token bucket per token).
* :class:`AuthMiddleware` (ASGI) puts it in front of an app: each request is classified by the
  server's own ``classify(method, path)`` into a route group and the :class:`Access` it needs;
  a request without a token gets 401 with ``WWW-Authenticate: Bearer``, a bad token 401 with
  ``error="invalid_token"``, one whose scopes do not allow it 403 with
  ``error="insufficient_scope"``, one over its rate 429 with ``Retry-After``. The principal goes
  in the ASGI scope (:func:`principal_of`).

Tokens travel as ``Authorization: Bearer <token>``. They are never logged: a log line or an
error names a token by its public id only.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import (
    AuthenticationError,
    InvalidInputError,
    TokenExpiredError,
    TokenMalformedError,
)
from .limits import Receive, Send, respond
from .limits import Scope as AsgiScope
from .tokens import Principal, TokenFile, check_rate

__all__ = [
    "IN_PROCESS_KEY",
    "PRINCIPAL_KEY",
    "Access",
    "AuthMiddleware",
    "Authenticator",
    "TokenSource",
    "bearer_token",
    "make_authenticator",
    "principal_of",
]

log = logging.getLogger("seawall.server")

PRINCIPAL_KEY = "seawall.principal"  # where the middleware puts the principal in the ASGI scope
# An ASGI scope key that marks a request the server makes to itself in its own process (a
# model's warm-up requests): no client can send one, so it needs no token.
IN_PROCESS_KEY = "seawall.in_process"
_REALM = 'Bearer realm="seawall"'


class TokenSource(Protocol):
    def authenticate(self, token: str) -> Principal: ...

    def principal_for(self, token_id: str) -> Principal: ...


@dataclass(frozen=True)
class Access:
    """What a request needs: its route `group` (inference, metadata, metrics, admin, ui...),
    and `action` on `resource` (None: any valid token). ``public`` lets it through without a
    token; ``delegate`` lets it through with whatever principal it has (the app decides: the
    dashboard's own sign-in)."""

    group: str
    action: str | None = None
    resource: str | None = None
    public: bool = False
    delegate: bool = False


Classify = Callable[[str, str], Access]


class _Bucket:
    __slots__ = ("at", "level")

    def __init__(self, level: float, at: float) -> None:
        self.level = level
        self.at = at


class Authenticator:
    """Tokens checked against `source` (a registry or a TokenFile), each answer (the principal,
    or why the token is refused) kept for ``cache_s`` seconds at most: revocation takes effect
    within that. ``rate_limit`` is the requests per second a token may make (None: no limit),
    unless the token has its own; ``burst`` the requests it may make at once (default: one
    second's worth). ``max_cached`` bounds the tokens remembered."""

    def __init__(
        self,
        source: TokenSource,
        *,
        cache_s: float = 0.5,
        rate_limit: float | None = None,
        burst: int | None = None,
        max_cached: int = 10_000,
    ) -> None:
        if not hasattr(source, "authenticate") or not hasattr(source, "principal_for"):
            raise InvalidInputError(
                f"an Authenticator checks tokens against a registry or a TokenFile, got "
                f"{type(source).__name__}"
            )
        if not (isinstance(cache_s, (int, float)) and 0 <= cache_s <= 1):
            raise InvalidInputError(f"cache_s must be 0 to 1 second, got {cache_s!r}")
        if burst is not None and (isinstance(burst, bool) or not isinstance(burst, int)):
            raise InvalidInputError(f"burst must be a positive integer, got {burst!r}")
        if burst is not None and burst < 1:
            raise InvalidInputError(f"burst must be a positive integer, got {burst!r}")
        self.source = source
        self.cache_s = float(cache_s)
        self.rate_limit = check_rate(rate_limit)
        self.burst = burst
        self.max_cached = max_cached
        self._cache: dict[str, tuple[float, Principal | AuthenticationError]] = {}
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"Authenticator({self.source!r}, cache_s={self.cache_s}, rate_limit={self.rate_limit})"
        )

    def _remember(self, key: str, answer: Principal | AuthenticationError) -> None:
        with self._lock:
            self._cache.pop(key, None)
            self._cache[key] = (time.monotonic() + self.cache_s, answer)
            while len(self._cache) > self.max_cached:  # the oldest answers go first
                del self._cache[next(iter(self._cache))]

    def cached(self, token: str) -> Principal | None:
        """The principal of `token` if a fresh answer is kept (raising a kept refusal); None
        when the source must be asked (:meth:`authenticate`)."""
        found = self._cache.get(token)
        if found is None or found[0] <= time.monotonic():
            return None
        answer = found[1]
        if isinstance(answer, AuthenticationError):
            raise answer
        if answer.expires_at is not None and answer.expires_at <= time.time():
            raise TokenExpiredError(f"token {answer.token_id} has expired")
        return answer

    def authenticate(self, token: str) -> Principal:
        """The principal `token` speaks for (from the cache when fresh), or an
        AuthenticationError saying why not. Blocking: the source may query a database."""
        found = self.cached(token)
        if found is not None:
            return found
        try:
            principal = self.source.authenticate(token)
        except TokenMalformedError:
            raise  # not kept: anything at all can be sent, and it is cheap to tell
        except AuthenticationError as exc:
            self._remember(token, exc)
            raise
        self._remember(token, principal)
        return principal

    def principal_for(self, token_id: str) -> Principal:
        """The principal of a token already verified (a session), by id, cached as tokens are."""
        key = "id:" + token_id
        found = self.cached(key)
        if found is not None:
            return found
        try:
            principal = self.source.principal_for(token_id)
        except AuthenticationError as exc:
            self._remember(key, exc)
            raise
        self._remember(key, principal)
        return principal

    def throttle(self, principal: Principal) -> float:
        """Counts a request of `principal`: 0 when it may go ahead, else the seconds until its
        token may make another request (its rate limit, else the server's)."""
        rate = principal.rate_limit if principal.rate_limit is not None else self.rate_limit
        if rate is None:
            return 0.0
        capacity = float(self.burst if self.burst is not None else max(1, math.ceil(rate)))
        key = principal.token_id or principal.actor
        now = time.monotonic()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(capacity, now)
            bucket.level = min(capacity, bucket.level + (now - bucket.at) * rate)
            bucket.at = now
            if bucket.level >= 1:
                bucket.level -= 1
                return 0.0
            return (1 - bucket.level) / rate


def make_authenticator(
    auth: Any, *, rate_limit: float | None = None, cache_s: float = 0.5
) -> Authenticator | None:
    """An Authenticator from what a server was given: None (no auth), an Authenticator, a
    registry or a TokenFile (wrapped with the defaults), or the path of a token file."""
    import os

    if auth is None or isinstance(auth, Authenticator):
        return auth
    if isinstance(auth, (str, os.PathLike)):
        auth = TokenFile(auth)
    return Authenticator(auth, rate_limit=rate_limit, cache_s=cache_s)


def bearer_token(headers: Any) -> str | None:
    """The token of an ``Authorization: Bearer`` header (raw ASGI header pairs, or a mapping);
    None when there is none."""
    if isinstance(headers, list):
        text = None
        for key, value in headers:
            if key == b"authorization":
                text = value.decode("latin-1")
                break
    else:
        text = headers.get("authorization")
    if text is None:
        return None
    scheme, _, token = text.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def principal_of(scope_or_request: Any) -> Principal | None:
    """The principal the middleware found for this request (None: public route, or no auth)."""
    scope = getattr(scope_or_request, "scope", scope_or_request)
    found = scope.get(PRINCIPAL_KEY)
    return found if isinstance(found, Principal) else None


def _send_json(
    send: Send, status: int, message: str, headers: list[tuple[str, str]], kind: str | None = None
) -> Any:
    encoded = [(k.encode(), v.encode("latin-1")) for k, v in headers]
    return respond(send, status, message, encoded, kind)


class AuthMiddleware:
    """ASGI middleware: every HTTP request needs a token whose scopes allow the
    :class:`Access` that ``classify(method, path)`` gives (a public route needs none)."""

    def __init__(self, app: Any, authenticator: Authenticator, classify: Classify) -> None:
        self.app = app
        self.authenticator = authenticator
        self.classify = classify
        # (token id, action, resource) -> allowed: a token's scopes never change
        self._decisions: dict[tuple[str, str, str], bool] = {}
        # token -> the source's answer under way: when a cached answer runs out, the requests
        # of that token at that moment wait for one query, not one each
        self._asking: dict[str, asyncio.Future[Principal]] = {}

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        access = self.classify(scope["method"], path or "/")
        if access.public or scope.get(IN_PROCESS_KEY) is True:
            await self.app(scope, receive, send)
            return
        upstream = scope.get(PRINCIPAL_KEY)
        if isinstance(upstream, Principal):  # an app mounted in another that checked it
            if self._allows(upstream, access):
                await self.app(scope, receive, send)
            else:
                await self._forbidden(upstream, access, send)
            return
        token = bearer_token(scope["headers"])
        if token is None:
            if access.delegate:
                await self.app(scope, receive, send)
                return
            await _send_json(
                send,
                401,
                "this server needs a token: send the header Authorization: Bearer <token>",
                [("www-authenticate", _REALM)],
                "AuthenticationError",
            )
            return
        try:
            principal = self.authenticator.cached(token)
            if principal is None:
                principal = await self._ask(token)
        except AuthenticationError as exc:
            log.info("refused a request to %s %s: %s", scope["method"], path, exc)
            error = f'{_REALM}, error="invalid_token"'
            await _send_json(send, 401, str(exc), [("www-authenticate", error)], type(exc).__name__)
            return
        wait = self.authenticator.throttle(principal)
        if wait > 0:
            await _send_json(
                send,
                429,
                f"token {principal.token_id} is over its rate limit: retry after {wait:.2f}s",
                [("retry-after", str(max(1, math.ceil(wait))))],
            )
            return
        if not self._allows(principal, access):
            await self._forbidden(principal, access, send)
            return
        scope[PRINCIPAL_KEY] = principal
        await self.app(scope, receive, send)

    async def _ask(self, token: str) -> Principal:
        """The source's answer for `token`, on a worker thread (it may query a database), one
        query at a time per token."""
        asking = self._asking.get(token)
        if asking is None:
            import anyio.to_thread

            asking = asyncio.ensure_future(
                anyio.to_thread.run_sync(self.authenticator.authenticate, token)
            )
            self._asking[token] = asking

            def done(future: asyncio.Future[Principal]) -> None:
                self._asking.pop(token, None)
                if not future.cancelled():
                    future.exception()  # retrieved, even when every waiter has gone

            asking.add_done_callback(done)
        # shielded: a client that goes away does not cancel the answer the others wait for
        return await asyncio.shield(asking)

    def _allows(self, principal: Principal, access: Access) -> bool:
        action, resource = access.action, access.resource
        if action is None or resource is None:
            return True
        if principal.token_id is None:
            return principal.can(action, resource)
        key = (principal.token_id, action, resource)
        allowed = self._decisions.get(key)
        if allowed is None:
            allowed = principal.can(action, resource)
            if len(self._decisions) >= 65536:
                self._decisions.clear()
            self._decisions[key] = allowed
        return allowed

    async def _forbidden(self, principal: Principal, access: Access, send: Send) -> None:
        needed = f"{access.action}:{access.resource}"
        error = f'{_REALM}, error="insufficient_scope", scope="{needed}"'
        message = (
            f"{principal.actor} (token {principal.token_id}) may not {access.action} "
            f"{access.resource}: it needs the scope {needed}"
        )
        await _send_json(send, 403, message, [("www-authenticate", error)], "AccessDeniedError")
