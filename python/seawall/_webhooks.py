"""Webhook plumbing shared by every sender: the URL check, JSON bodies, the HMAC-SHA256 signature
of a body, one POST with its outcome (delivered, worth retrying, or refused), and the back-off
between tries.

The registry's event delivery (``seawall.registry.events``) and the monitoring ``WebhookSink``
both send through here, so they sign, retry and report the same way.

A receiver checks a signed body by computing ``HMAC-SHA256(secret, raw body)`` itself and
comparing it, in constant time, with the hex digest after ``sha256=`` in the
``X-Seawall-Signature`` header (:func:`verify` does exactly that).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import random
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .errors import InvalidInputError

__all__ = [
    "SIGNATURE_HEADER",
    "PostResult",
    "backoff_delay",
    "check_url",
    "json_body",
    "json_safe",
    "post",
    "sign",
    "verify",
]

SIGNATURE_HEADER = "X-Seawall-Signature"
# What is read of an answer's body at most: the status is what counts.
_MAX_ANSWER_BYTES = 64 * 1024


def check_url(url: object) -> str:
    """`url` when it is an http:// or https:// URL with a host, else InvalidInputError."""
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInputError(f"a webhook URL is http:// or https://, got {url!r}")
    return str(url)


def json_safe(value: Any) -> Any:
    """`value` with NaN and infinities as None (JSON has neither), mapping keys as strings,
    tuples as lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def _json_default(value: Any) -> Any:
    # numpy scalars and arrays as their Python values; anything else as its text.
    item = getattr(value, "tolist", None)
    return json_safe(item()) if callable(item) else str(value)


def json_body(value: Any) -> bytes:
    """`value` as compact JSON with sorted keys (NaN as null, numpy values as numbers)."""
    return json.dumps(
        json_safe(value),
        sort_keys=True,
        separators=(",", ":"),
        allow_nan=False,
        default=_json_default,
    ).encode()


def _key(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)


def sign(secret: str | bytes, body: bytes) -> str:
    """The signature header's value: ``sha256=`` and the hex HMAC-SHA256 of `body`."""
    return "sha256=" + hmac.new(_key(secret), body, hashlib.sha256).hexdigest()


def verify(secret: str | bytes, body: bytes, header: str | None) -> bool:
    """Whether `header` is the signature of `body` under `secret` (compared in constant time)."""
    if not header:
        return False
    return hmac.compare_digest(sign(secret, body).encode(), header.strip().encode())


def backoff_delay(attempt: int, base_s: float, cap_s: float) -> float:
    """Seconds to wait before try ``attempt + 1`` (`attempt` >= 1 tries failed):
    ``base_s * 2**(attempt - 1)``, at most `cap_s`, times a jitter in [0.5, 1)."""
    exponent = min(max(attempt - 1, 0), 62)
    return min(cap_s, base_s * 2**exponent) * (0.5 + random.random() / 2)


@dataclass(frozen=True)
class PostResult:
    """The outcome of one POST: ``ok`` (a 2xx answer); else ``retry`` says whether trying again
    may help (no answer, a timeout, 408, 429, 5xx), and ``detail`` what went wrong."""

    ok: bool
    retry: bool
    detail: str
    status: int | None = None


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirected POST would become a GET without the body: report the 3xx instead.
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout_s: float,
    *,
    secret: str | bytes | None = None,
) -> PostResult:
    """POSTs `body` to `url` once, signed with `secret` when one is given. Never raises for what
    the network or the receiver does: the result says."""
    sent = dict(headers)
    if secret is not None:
        sent[SIGNATURE_HEADER] = sign(secret, body)
    request = urllib.request.Request(url, data=body, headers=sent, method="POST")
    try:
        with _OPENER.open(request, timeout=timeout_s) as response:
            response.read(_MAX_ANSWER_BYTES)
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        code = int(exc.code)
        exc.close()
        retry = code in (408, 429) or code >= 500
        return PostResult(False, retry, f"HTTP {code}", code)
    except (OSError, ValueError) as exc:  # URLError, timeouts, refused connections
        return PostResult(False, True, str(getattr(exc, "reason", exc)) or type(exc).__name__)
    if 200 <= status < 300:
        return PostResult(True, False, f"HTTP {status}", status)
    return PostResult(False, False, f"HTTP {status}", status)  # 1xx: the receiver did not take it
