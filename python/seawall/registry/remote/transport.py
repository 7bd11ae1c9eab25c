"""The client's side of the wire: one HTTP connection pool to a ``seawall server``, the headers
every request carries, retries, the API version check, and errors turned back into the
``seawall.errors`` class the server raised.

Retries: a request that never reached the server (refused, reset while connecting) is sent
again, whatever its method, until ``RETRY_S`` have passed; so is an answer of 503 (busy, or the
database unreachable: nothing was written). Reads and object uploads (content-addressed, so
sending one twice stores it once) are also sent again after a connection lost mid-way; other
writes are not, since the server may have done them: their error says so.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from ... import errors
from .._actor import os_login
from .routes import API_VERSION

__all__ = ["API_HEADER", "Transport", "error_from_answer"]

log = logging.getLogger("seawall.registry")

API_HEADER = "Seawall-API"
ACTOR_HEADER = "Seawall-Actor"
# How long a request is retried while the server cannot be reached or is busy (seconds).
RETRY_S = 30.0
CHUNK = 1 << 20

# Answers without a seawall error class: the class their status stands for.
_BY_STATUS: dict[int, type[errors.SeawallError]] = {
    400: errors.InvalidInputError,
    401: errors.AuthenticationError,
    403: errors.AccessDeniedError,
    404: errors.NotFoundError,
    408: errors.RegistryUnavailableError,
    409: errors.AlreadyExistsError,
    413: errors.InvalidInputError,
    422: errors.IntegrityError,
    429: errors.RegistryUnavailableError,
    502: errors.RegistryUnavailableError,
    503: errors.RegistryUnavailableError,
    504: errors.RegistryUnavailableError,
}


def error_from_answer(status: int, body: bytes, where: str) -> errors.SeawallError:
    """The seawall error an error answer stands for: the class the server named, else the one
    its status stands for."""
    try:
        data = json.loads(body)
        message = str(data["error"])
        name = data.get("type")
    except (ValueError, KeyError, TypeError):
        message = body.decode("utf-8", "replace").strip()[:500] or f"HTTP {status}"
        name = None
    cls = getattr(errors, name, None) if isinstance(name, str) else None
    if not (isinstance(cls, type) and issubclass(cls, errors.SeawallError)):
        cls = _BY_STATUS.get(status, errors.StorageError)
        message = f"{where} answered {status}: {message}"
    return cls(message)


class _Retry(Exception):
    """An answer or failure after which the request may be sent again (after `wait_s`, when
    the server said how long)."""

    def __init__(self, error: Exception, wait_s: float | None = None, status: int = 0) -> None:
        super().__init__(error)
        self.error = error
        self.wait_s = wait_s
        self.status = status


class Transport:
    """Requests to one ``seawall server`` at `url` (``http://host:port``)."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 60.0,
        token: str | None = None,
        actor: Callable[[], str | None] = os_login,
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise errors.InvalidInputError(f"not a registry server URL: {url!r}")
        if parts.username or parts.password:
            raise errors.InvalidInputError(
                "put no credentials in a registry server URL (they would be logged): "
                f"{parts.scheme}://{parts.hostname}..."
            )
        self.url = urllib.parse.urlunsplit(
            (parts.scheme, parts.netloc, parts.path.rstrip("/"), "", "")
        )
        self.api = f"{self.url}/api/{API_VERSION}"
        if token is not None and (not isinstance(token, str) or not token.strip()):
            raise errors.InvalidInputError("a registry token must be a non-empty string")
        # Never in a repr, a log line or an error message.
        self._authorization = f"Bearer {token.strip()}" if token else None
        self._actor = actor
        self._timeout = httpx.Timeout(timeout, connect=10.0)
        self._client = self._new_client()
        self._pid = os.getpid()

    def __repr__(self) -> str:
        return f"Transport({self.url!r})"

    def _new_client(self) -> httpx.Client:
        return httpx.Client(
            timeout=self._timeout,
            # Idle connections go before the server's keep-alive timeout (5 s by default) closes
            # them, so that a write is not sent on a connection the server is closing.
            limits=httpx.Limits(
                max_connections=32, max_keepalive_connections=8, keepalive_expiry=2.0
            ),
            follow_redirects=False,
        )

    def close(self) -> None:
        """Closes the connections; they open again on the next request."""
        self._client.close()

    def headers(self) -> dict[str, str]:
        """What every request carries: the API version, the token (a server that checks tokens
        records its principal as the actor) and the actor a server without tokens records."""
        out = {API_HEADER: str(API_VERSION)}
        if self._authorization is not None:
            out["authorization"] = self._authorization
        who = self._actor()
        if who:
            out[ACTOR_HEADER] = who
        return out

    # --- requests ---------------------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, Any] | None = None,
        body: Any = None,
        idempotent: bool = False,
    ) -> Any:
        """Sends one JSON request to ``/api/<version><path>``; returns the decoded answer."""
        content = None
        headers = {}
        if body is not None:
            content = json.dumps(body).encode("utf-8")
            headers["content-type"] = "application/json"
        with self.request(
            method, path, query=query, content=content, headers=headers, idempotent=idempotent
        ) as answer:
            data = answer.read()
        return json.loads(data) if data else None

    @contextmanager
    def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, Any] | None = None,
        content: bytes | Callable[[], Iterable[bytes]] | None = None,
        headers: dict[str, str] | None = None,
        idempotent: bool = False,
    ) -> Iterator[httpx.Response]:
        """The answer to one request, streamed, after retries; an error answer raises the
        seawall error it stands for. `content` may be a function giving the body's chunks
        (called again for each attempt)."""
        if os.getpid() != self._pid or self._client.is_closed:
            # a forked child must not share its parent's sockets; a closed registry reconnects
            self._client = self._new_client()
            self._pid = os.getpid()
        url = f"{self.api}{path}"
        params = {k: _query_value(v) for k, v in (query or {}).items() if v is not None}
        deadline = time.monotonic() + RETRY_S
        attempt = 0
        while True:
            body = content() if callable(content) else content
            request = self._client.build_request(
                method,
                url,
                params=params,
                content=body,
                headers={**self.headers(), **(headers or {})},
            )
            try:
                answer = self._client.send(request, stream=True)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                failure: Exception = exc  # never reached the server: safe to send again
            except httpx.TransportError as exc:
                if not idempotent:
                    raise errors.RegistryUnavailableError(
                        f"the connection to the registry server {self.url} broke during "
                        f"{method} {path} ({exc or type(exc).__name__}); it may or may not have "
                        "been done: check before doing it again"
                    ) from exc
                failure = exc
            else:
                try:
                    self._check(answer, method, path)
                    yield answer
                    return
                except _Retry as exc:
                    failure = exc
                finally:
                    answer.close()
            if time.monotonic() > deadline:
                if isinstance(failure, _Retry) and failure.status == 429:
                    raise failure.error  # over the token's rate for as long as we tried
                raise errors.RegistryUnavailableError(
                    f"cannot reach the registry server {self.url} "
                    f"({failure or type(failure).__name__}); tried for {RETRY_S:g} s"
                ) from failure
            log.debug("retrying %s %s after %s", method, path, failure)
            wait = getattr(failure, "wait_s", None)
            if wait is None:
                wait = min(2.0, 0.05 * 2**attempt) * (0.5 + random.random())
            time.sleep(min(wait, max(0.0, deadline - time.monotonic())))
            attempt += 1

    def _check(self, answer: httpx.Response, method: str, path: str) -> None:
        spoken = answer.headers.get(API_HEADER)
        if answer.status_code in (503, 429):  # busy, or over the token's rate: nothing was done
            answer.read()
            raise _Retry(
                error_from_answer(answer.status_code, answer.content, self.url),
                _retry_after(answer.headers.get("retry-after")),
                answer.status_code,
            )
        if spoken is None and answer.status_code < 400:
            answer.read()
            raise errors.RegistryUnavailableError(
                f"{self.url} is not a seawall registry server: it answered {method} {path} "
                f"with {answer.status_code} and no {API_HEADER} header"
            )
        if spoken is not None and spoken != str(API_VERSION):
            answer.read()
            raise errors.UnsupportedVersionError(
                f"this client speaks the registry API version {API_VERSION}, the server at "
                f"{self.url} speaks version {spoken}: use a seawall of the server's version"
            )
        if answer.status_code >= 400:
            answer.read()
            raise error_from_answer(answer.status_code, answer.content, self.url)

    # --- objects ----------------------------------------------------------------------------

    def has_object(self, sha: str, verify: bool = False) -> bool:
        query = {"verify": "true"} if verify else None
        try:
            with self.request("HEAD", f"/objects/{sha}", query=query, idempotent=True):
                return True
        except errors.NotFoundError:
            return False

    def upload(self, sha: str, size: int, chunks: Callable[[], Iterable[bytes]]) -> None:
        """Stores an object from its chunks (a function, called again on a retry); the server
        checks the bytes against `sha` and keeps nothing else."""
        headers = {"content-type": "application/octet-stream", "content-length": str(size)}
        with self.request(
            "PUT", f"/objects/{sha}", content=chunks, headers=headers, idempotent=True
        ):
            pass

    def upload_hashed(
        self, size: int, chunks: Callable[[], Iterable[bytes]]
    ) -> tuple[str, int, int]:
        """Stores an object whose hash the server learns with its bytes: the `size` bytes of
        `chunks` (a function, called again on a retry), then their SHA-256, computed here as
        they are sent. The server keeps them only if they hash to it, and pins the object for
        the write that references it; returns (sha256, size, the pin's id)."""
        sent: list[str] = []

        def body() -> Iterator[bytes]:
            h = hashlib.sha256()
            for chunk in chunks():
                h.update(chunk)
                yield chunk
            sent.append(h.hexdigest())
            yield h.digest()

        headers = {
            "content-type": "application/octet-stream",
            "content-length": str(size + hashlib.sha256().digest_size),
        }
        with self.request(
            "POST", "/objects/uploads", content=body, headers=headers, idempotent=True
        ) as answer:
            data = json.loads(answer.read())
        if data["sha256"] != sent[-1]:
            raise errors.IntegrityError(
                f"{self.url} stored {data['sha256']} for an upload that hashes to {sent[-1]}"
            )
        return str(data["sha256"]), int(data["size"]), int(data["pin"])

    def download(
        self, sha: str, write: Callable[[bytes], None], restart: Callable[[], None]
    ) -> None:
        """Streams an object's bytes to `write`, checking them against `sha` (IntegrityError on
        a mismatch); a transfer cut midway starts again after `restart()`."""
        deadline = time.monotonic() + RETRY_S
        while True:
            h = hashlib.sha256()
            try:
                with self.request("GET", f"/objects/{sha}", idempotent=True) as answer:
                    for chunk in answer.iter_bytes(CHUNK):
                        h.update(chunk)
                        write(chunk)
            except httpx.TransportError as exc:
                if time.monotonic() > deadline:
                    raise errors.RegistryUnavailableError(
                        f"the download of object {sha} from {self.url} kept breaking ({exc})"
                    ) from exc
                restart()
                continue
            if h.hexdigest() != sha:
                raise errors.IntegrityError(
                    f"artifact object {sha} from {self.url} is corrupted: its bytes hash to "
                    f"{h.hexdigest()}"
                )
            return


def _retry_after(value: str | None) -> float | None:
    """The seconds of a Retry-After header (None: none given, or a date)."""
    try:
        return min(RETRY_S, max(0.0, float(value))) if value is not None else None
    except ValueError:
        return None


def _query_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value
