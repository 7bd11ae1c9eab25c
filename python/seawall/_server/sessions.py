"""Browser sessions for a server's pages (the dashboard): after a sign-in with a token, a signed
cookie names the token (by its public id, never the secret) and carries a CSRF secret for the
page's forms.

The cookie is ``HttpOnly`` (no script reads it), ``SameSite=Strict`` (no other site's page sends
it), ``Secure`` over HTTPS, and signed with HMAC-SHA256 under a key of the server's (random per
process unless one is given, so that sessions end when the server restarts). Each request checks
the token again by id through the server's :class:`~seawall._server.auth.Authenticator`, so an
expired or revoked token ends its sessions within a second. Forms that change something carry
the session's CSRF secret, compared in constant time; the sign-in form, before any session,
carries one of its own from a short-lived cookie (the double-submit pattern).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

__all__ = ["CSRF_COOKIE", "SESSION_COOKIE", "Session", "SessionSigner", "cookie_header"]

SESSION_COOKIE = "seawall_session"
CSRF_COOKIE = "seawall_signin"
DEFAULT_SESSION_S = 8 * 3600.0


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Session:
    """A signed-in browser: the token it signed in with (by id), until when, and its CSRF secret."""

    token_id: str
    expires_at: float
    csrf: str


class SessionSigner:
    """Signs and checks session cookies (and the sign-in form's CSRF value) under `key`
    (random when None)."""

    def __init__(self, key: bytes | None = None, *, max_age_s: float = DEFAULT_SESSION_S) -> None:
        self._key = key if key is not None else secrets.token_bytes(32)
        if len(self._key) < 16:
            raise ValueError("a session key needs at least 16 bytes")
        self.max_age_s = max_age_s

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode("ascii"), hashlib.sha256).digest())

    def new(self, token_id: str, token_expires_at: float | None) -> tuple[Session, str]:
        """A session for a token just verified, and its cookie value."""
        expires = time.time() + self.max_age_s
        if token_expires_at is not None:
            expires = min(expires, token_expires_at)
        session = Session(token_id, expires, secrets.token_urlsafe(24))
        payload = _b64(
            json.dumps(
                {"t": session.token_id, "e": session.expires_at, "c": session.csrf},
                separators=(",", ":"),
            ).encode()
        )
        return session, f"{payload}.{self._mac(payload)}"

    def read(self, value: str | None) -> Session | None:
        """The session of a cookie value; None when absent, tampered with or expired."""
        if not value or value.count(".") != 1:
            return None
        payload, mac = value.split(".")
        if not hmac.compare_digest(mac, self._mac(payload)):
            return None
        try:
            fields = json.loads(_unb64(payload))
            session = Session(str(fields["t"]), float(fields["e"]), str(fields["c"]))
        except (ValueError, KeyError, TypeError):
            return None
        return session if session.expires_at > time.time() else None

    def signin_csrf(self) -> str:
        """A fresh value for the sign-in form and its cookie."""
        return secrets.token_urlsafe(24)


def same(a: str | None, b: str | None) -> bool:
    """Whether two CSRF values are present and equal (compared in constant time)."""
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


def cookie_header(
    name: str, value: str, *, path: str, secure: bool, max_age: float | None = None
) -> str:
    """A Set-Cookie value: HttpOnly, SameSite=Strict, Secure over HTTPS; ``max_age=0`` deletes."""
    parts = [f"{name}={value}", f"Path={path or '/'}", "HttpOnly", "SameSite=Strict"]
    if max_age is not None:
        parts.append(f"Max-Age={max(0, int(max_age))}")
    if secure:
        parts.append("Secure")
    return "; ".join(parts)


def parse_cookies(header: Any) -> dict[str, str]:
    """The cookies of a Cookie header."""
    found: dict[str, str] = {}
    for part in str(header or "").split(";"):
        name, _, value = part.strip().partition("=")
        if name and name not in found:
            found[name] = value
    return found
