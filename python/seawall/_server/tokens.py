"""Tokens, principals and scopes: what a seawall server checks on each request, whoever issued the
token (a registry, ``seawall.Registry.create_token``, or a :class:`TokenFile` for a server
without one).

A token is ``swt_<issuer>_<id>_<secret>``: the issuer (8 hex digits, one per registry or token
file, so that a token from elsewhere is told apart), a public id (12 hex digits, how the token is
listed, revoked and looked up) and a random 256-bit secret (43 URL-safe base64 characters). Only
an HMAC-SHA256 digest of the whole token is stored, compared in constant time; the token itself
is shown once, when it is made, and never stored, logged or put in an error message.

A token belongs to a principal: a user or a service account, each of one team. Its scopes say
what it may do, per resource: ``ACTION:KIND/PATTERN``, with ACTION one of ``read``, ``write``,
``promote`` (moving aliases) and ``admin``, KIND ``experiments`` or ``models``, and PATTERN an
fnmatch pattern of names (``write:experiments/fraud*``, ``promote:models/fraud``). ``admin``
allows every action, ``write`` and ``promote`` allow ``read`` too. The resource ``models/*``
(every model at once: the server's /metrics, the model index) is covered only by the pattern
``*``.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import hmac
import json
import math
import os
import re
import secrets
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from functools import lru_cache
from pathlib import Path
from typing import Any

from .._files import write_atomic
from ..errors import (
    AccessDeniedError,
    InvalidInputError,
    NotFoundError,
    TokenExpiredError,
    TokenForeignError,
    TokenMalformedError,
    TokenRevokedError,
    TokenUnknownError,
    UnsupportedVersionError,
)

__all__ = [
    "ACTIONS",
    "KINDS",
    "PRINCIPAL_KINDS",
    "NewToken",
    "Principal",
    "Scope",
    "TokenFile",
    "TokenInfo",
    "TokenRecord",
    "can",
    "check_principal",
    "digest",
    "issue",
    "new_issuer",
    "new_token",
    "parse_duration",
    "parse_token",
    "verify",
    "verify_info",
    "write_token_file",
]

ACTIONS = ("read", "write", "promote", "admin")
KINDS = ("experiments", "models")
PRINCIPAL_KINDS = ("user", "service")
_IMPLIED = {
    "read": frozenset({"read"}),
    "write": frozenset({"write", "read"}),
    "promote": frozenset({"promote", "read"}),
    "admin": frozenset(ACTIONS),
}
_TOKEN = re.compile(r"swt_([0-9a-f]{8})_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
_TOKEN_ID = re.compile(r"[0-9a-f]{12}")
_ISSUER = re.compile(r"[0-9a-f]{8}")
# Names as the registry allows them (no '/', '@', space), and patterns of them.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}")
_PATTERN = re.compile(r"[A-Za-z0-9_.\-*?\[\]!]{1,128}")
# The digest key: a fixed label, so that a digest is only ever of a seawall token (the secret's
# 256 random bits are what protect it; no salt or slow KDF is needed for a random secret).
_DIGEST_KEY = b"seawall token v1"
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdwy])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}


# --- scopes ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """``ACTION:KIND/PATTERN``: `action` allowed on the resources of `kind` whose name matches
    `pattern` (fnmatch, case-sensitive)."""

    action: str
    kind: str
    pattern: str

    @classmethod
    def parse(cls, text: Any) -> Scope:
        if isinstance(text, Scope):
            return text
        if not isinstance(text, str):
            raise InvalidInputError(f"a scope must be a string, got {type(text).__name__}")
        action, _, rest = text.partition(":")
        kind, _, pattern = rest.partition("/")
        if action not in ACTIONS or kind not in KINDS or not _PATTERN.fullmatch(pattern):
            raise InvalidInputError(
                f"invalid scope {text!r}: write ACTION:KIND/PATTERN, ACTION one of "
                f"{', '.join(ACTIONS)}, KIND experiments or models, PATTERN a name or an fnmatch "
                "pattern of names (write:experiments/fraud*, promote:models/fraud)"
            )
        return cls(action, kind, pattern)

    def __str__(self) -> str:
        return f"{self.action}:{self.kind}/{self.pattern}"

    def allows(self, action: str, kind: str, name: str) -> bool:
        if kind != self.kind or action not in _IMPLIED[self.action]:
            return False
        if name == "*":  # every resource of the kind at once
            return self.pattern == "*"
        return fnmatchcase(name, self.pattern)


def _resource(resource: str) -> tuple[str, str]:
    kind, _, name = resource.partition("/") if isinstance(resource, str) else ("", "", "")
    if kind not in KINDS or not name:
        raise InvalidInputError(
            f"invalid resource {resource!r}: write experiments/NAME or models/NAME "
            "(models/* for every model)"
        )
    return kind, name


@lru_cache(maxsize=16384)
def _allowed(scopes: tuple[Scope, ...], action: str, resource: str) -> bool:
    if action not in ACTIONS:
        raise InvalidInputError(f"invalid action {action!r}: one of {', '.join(ACTIONS)}")
    kind, name = _resource(resource)
    return any(s.allows(action, kind, name) for s in scopes)


# --- principals -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Principal:
    """Who a token speaks for: a user or a service account (`kind`), of one `team`, with the
    token's `scopes`; `token_id` names the token, `rate_limit` its requests per second (None:
    the server's default)."""

    name: str
    kind: str
    team: str
    scopes: tuple[Scope, ...] = ()
    token_id: str | None = None
    expires_at: float | None = None
    rate_limit: float | None = None

    @property
    def actor(self) -> str:
        """How the registry records this principal as the actor of a change: ``service:ci``."""
        return f"{self.kind}:{self.name}"

    def can(self, action: str, resource: str) -> bool:
        return can(self, action, resource)

    def require(self, action: str, resource: str) -> None:
        """AccessDeniedError unless this principal may do `action` on `resource`."""
        if not can(self, action, resource):
            needed = f"{action}:{resource}"
            raise AccessDeniedError(
                f"{self.actor} (team {self.team}) may not {action} {resource}: its token needs "
                f"the scope {needed}",
                needed,
            )


def can(principal: Principal | None, action: str, resource: str) -> bool:
    """Whether `principal` may do `action` (read, write, promote, admin) on `resource`
    (``models/NAME``, ``experiments/NAME``, or ``models/*`` for every model at once)."""
    if principal is None:
        return False
    return _allowed(principal.scopes, action, resource)


def check_principal(name: Any, kind: Any, team: Any) -> tuple[str, str, str]:
    """The (name, kind, team) of a principal, checked."""
    if kind not in PRINCIPAL_KINDS:
        raise InvalidInputError(f"a principal is a user or a service, got {kind!r}")
    for value, what in ((name, f"{kind} name"), (team, "team name")):
        if not isinstance(value, str) or not _NAME.fullmatch(value):
            raise InvalidInputError(
                f"invalid {what} {value!r}: use 1 to 128 letters, digits, '_', '.' or '-', "
                "starting with a letter or digit"
            )
    return name, kind, team


def check_scopes(scopes: Iterable[Any]) -> tuple[Scope, ...]:
    if isinstance(scopes, (str, Scope)):
        scopes = [scopes]
    parsed = tuple(dict.fromkeys(Scope.parse(s) for s in scopes))
    if not parsed:
        raise InvalidInputError("a token needs at least one scope (read:models/fraud, ...)")
    return parsed


# --- tokens ---------------------------------------------------------------------------------------


def new_issuer() -> str:
    return secrets.token_hex(4)


def digest(token: str) -> str:
    """The stored form of a token: HMAC-SHA256 of it, hex."""
    return hmac.new(_DIGEST_KEY, token.encode("ascii"), hashlib.sha256).hexdigest()


def new_token(issuer: str) -> tuple[str, str]:
    """A fresh token of `issuer` and its public id: (token, id)."""
    token_id = secrets.token_hex(6)
    secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode("ascii")
    return f"swt_{issuer}_{token_id}_{secret}", token_id


def parse_token(token: Any) -> tuple[str, str]:
    """(issuer, id) of a token; TokenMalformedError (never quoting it) when it is not one."""
    if not isinstance(token, str):
        raise TokenMalformedError(f"a token is a string, got {type(token).__name__}")
    match = _TOKEN.fullmatch(token.strip())
    if match is None:
        raise TokenMalformedError(
            "the token is not a seawall token: it should be swt_ followed by 8 and 12 hex digits "
            "and 43 characters of secret"
        )
    return match[1], match[2]


def check_token_id(token_id: Any) -> str:
    if not isinstance(token_id, str) or not _TOKEN_ID.fullmatch(token_id):
        raise InvalidInputError(f"a token id is 12 hex digits, got {token_id!r}")
    return token_id


def parse_duration(text: Any) -> float | None:
    """Seconds in ``90d``, ``12h``, ``30m``, ``45s``, ``2w``, ``1y``; None for ``never``."""
    if isinstance(text, str) and text.strip().lower() == "never":
        return None
    match = _DURATION.fullmatch(text.strip().lower()) if isinstance(text, str) else None
    seconds = float(match[1]) * _UNITS[match[2]] if match else 0.0
    if not match or not (0 < seconds < math.inf):
        raise InvalidInputError(
            f"invalid duration {text!r}: write a number and a unit (s, m, h, d, w, y), e.g. 90d, "
            "or never"
        )
    return seconds


@dataclass(frozen=True)
class TokenInfo:
    """A token as it is listed: never its secret."""

    id: str
    principal: str
    kind: str
    team: str
    scopes: tuple[str, ...]
    created_at: float
    expires_at: float | None
    revoked_at: float | None = None
    rate_limit: float | None = None
    description: str | None = None

    def state(self, now: float | None = None) -> str:
        """active, expired or revoked."""
        if self.revoked_at is not None:
            return "revoked"
        now = time.time() if now is None else now
        return "expired" if self.expires_at is not None and self.expires_at <= now else "active"


@dataclass(frozen=True)
class NewToken:
    """A token just made: ``secret`` is the token to hand to its user, shown this once (it is
    never stored, and neither ``repr`` nor ``str`` shows it); ``info`` is how it is listed."""

    secret: str = field(repr=False)
    info: TokenInfo

    def __str__(self) -> str:
        return f"token {self.info.id} of {self.info.kind}:{self.info.principal}"


@dataclass(frozen=True)
class TokenRecord:
    """What is stored of a token: its digest and the principal and scopes it speaks for."""

    info: TokenInfo
    digest: str


def verify(record: TokenRecord | None, token: str, now: float | None = None) -> Principal:
    """The principal of `token` given the stored record of its id (None: there is none).
    The digest is compared first, so that an id alone tells nothing of the token's state."""
    if record is None or not hmac.compare_digest(digest(token.strip()), record.digest):
        raise TokenUnknownError("the token is not known here: it was never issued, or deleted")
    return verify_info(record.info, now)


def verify_info(info: TokenInfo, now: float | None = None) -> Principal:
    """The principal of a stored token, unless it is revoked or expired."""
    state = info.state(now)
    if state == "revoked":
        raise TokenRevokedError(f"token {info.id} was revoked")
    if state == "expired":
        raise TokenExpiredError(f"token {info.id} has expired")
    return Principal(
        info.principal,
        info.kind,
        info.team,
        tuple(Scope.parse(s) for s in info.scopes),
        info.id,
        info.expires_at,
        info.rate_limit,
    )


def check_issuer(issuer: str, own: str | None) -> None:
    if issuer != own:
        raise TokenForeignError(
            f"the token was issued by another registry or token file (issuer {issuer}, "
            f"this one is {own or 'not issuing tokens yet'})"
        )


def check_rate(rate_limit: Any) -> float | None:
    if rate_limit is None:
        return None
    if isinstance(rate_limit, bool) or not isinstance(rate_limit, (int, float)):
        raise InvalidInputError(f"rate_limit must be a number, got {type(rate_limit).__name__}")
    if not (0 < rate_limit < math.inf):
        raise InvalidInputError(f"rate_limit must be positive requests per second: {rate_limit}")
    return float(rate_limit)


def issue(
    issuer: str,
    name: str,
    kind: str,
    team: str,
    scopes: Iterable[Any],
    *,
    expires_in: float | None,
    rate_limit: float | None,
    description: str | None,
) -> tuple[NewToken, TokenRecord]:
    """A new token of `issuer` for the principal (name, kind, team), every field checked: the
    token to show once, and the record to store (its digest, never the token)."""
    token, token_id = new_token(issuer)
    name, kind, team = check_principal(name, kind, team)
    if expires_in is not None and (
        isinstance(expires_in, bool)
        or not isinstance(expires_in, (int, float))
        or not 0 < expires_in < math.inf
    ):
        raise InvalidInputError(f"expires_in must be positive seconds or None, got {expires_in!r}")
    if description is not None and not isinstance(description, str):
        raise InvalidInputError("description must be a string")
    now = time.time()
    info = TokenInfo(
        token_id,
        name,
        kind,
        team,
        tuple(str(s) for s in check_scopes(scopes)),
        now,
        None if expires_in is None else now + float(expires_in),
        None,
        check_rate(rate_limit),
        description,
    )
    return NewToken(token, info), TokenRecord(info, digest(token))


# --- a file of hashed tokens ----------------------------------------------------------------------

_FORMAT = "seawall-tokens"
_VERSION = 1


def _record_json(record: TokenRecord) -> dict[str, Any]:
    info = record.info
    return {
        "id": info.id,
        "digest": record.digest,
        "principal": info.principal,
        "kind": info.kind,
        "team": info.team,
        "scopes": list(info.scopes),
        "created_at": info.created_at,
        "expires_at": info.expires_at,
        "revoked_at": info.revoked_at,
        "rate_limit": info.rate_limit,
        "description": info.description,
    }


def _record_of(item: Any, where: str) -> TokenRecord:
    try:
        info = TokenInfo(
            check_token_id(item["id"]),
            *check_principal(item["principal"], item["kind"], item["team"]),
            tuple(str(s) for s in check_scopes(item["scopes"])),
            float(item["created_at"]),
            None if item.get("expires_at") is None else float(item["expires_at"]),
            None if item.get("revoked_at") is None else float(item["revoked_at"]),
            check_rate(item.get("rate_limit")),
            item.get("description"),
        )
        stored = item["digest"]
        if not isinstance(stored, str) or not re.fullmatch(r"[0-9a-f]{64}", stored):
            raise InvalidInputError("digest is not 64 hex digits")
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInputError(f"{where}: a token entry is not valid ({exc})") from None
    return TokenRecord(info, stored)


def dump_tokens(issuer: str, records: Sequence[TokenRecord]) -> bytes:
    """A token file's bytes: the issuer and each token's digest, principal and scopes."""
    document = {
        "format": _FORMAT,
        "version": _VERSION,
        "issuer": issuer,
        "tokens": [_record_json(r) for r in records],
    }
    return (json.dumps(document, indent=1) + "\n").encode()


def write_token_file(
    path: str | os.PathLike[str], issuer: str, records: Sequence[TokenRecord]
) -> None:
    """Writes a token file atomically; a new one is made readable by its owner only."""
    target = Path(path)
    try:  # created empty first with mode 0600: write_atomic keeps an existing file's mode
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    write_atomic(target, dump_tokens(issuer, records))


class TokenFile:
    """Tokens kept hashed in a JSON file, for a server without a registry (``seawall serve
    --auth-tokens FILE``); made with ``seawall tokens create --file FILE`` or exported from a
    registry with ``seawall tokens export``. It has the registry's token methods
    (``create_token``, ``tokens``, ``revoke_token``, ``authenticate``); a server sees a change
    to the file (a revocation, a new export) within ``reload_s`` seconds.

    ``create=True`` makes the file (with a new issuer) when it does not exist.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, create: bool = False, reload_s: float = 0.25
    ) -> None:
        self.path = Path(path)
        self.reload_s = reload_s
        self._lock = threading.Lock()
        self._checked = -math.inf
        self._stamp: tuple[int, int, int] | None = None
        self._issuer = ""
        self._records: dict[str, TokenRecord] = {}
        if create and not self.path.exists():
            write_token_file(self.path, new_issuer(), [])
        self._load()

    def __repr__(self) -> str:
        return f"TokenFile({str(self.path)!r})"

    @property
    def issuer(self) -> str:
        return self._issuer

    def _load(self) -> None:
        try:
            stat = self.path.stat()
            raw = self.path.read_bytes()
        except FileNotFoundError:
            raise NotFoundError(
                f"no token file at {self.path} (make one with seawall tokens create --file "
                f"{self.path} ..., or seawall tokens export -o {self.path})"
            ) from None
        except OSError as exc:
            raise InvalidInputError(
                f"cannot read the token file {self.path}: {exc.strerror or exc}"
            ) from None
        where = f"token file {self.path}"
        try:
            document = json.loads(raw)
        except ValueError as exc:
            raise InvalidInputError(f"{where} is not JSON: {exc}") from None
        if not isinstance(document, dict) or document.get("format") != _FORMAT:
            raise InvalidInputError(f"{where} is not a seawall token file")
        if document.get("version") != _VERSION:
            raise UnsupportedVersionError(
                f"{where} is version {document.get('version')!r}; this seawall reads {_VERSION}"
            )
        issuer = document.get("issuer")
        if not isinstance(issuer, str) or not _ISSUER.fullmatch(issuer):
            raise InvalidInputError(f"{where}: its issuer is not 8 hex digits")
        items = document.get("tokens")
        if not isinstance(items, list):
            raise InvalidInputError(f"{where}: 'tokens' is not a list")
        records = [_record_of(item, where) for item in items]
        self._issuer = issuer
        self._records = {r.info.id: r for r in records}
        self._stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)

    def _fresh(self) -> None:
        """Reads the file again when it changed (looked at every reload_s at most)."""
        now = time.monotonic()
        if now - self._checked < self.reload_s:
            return
        with self._lock:
            self._checked = now
            try:
                stat = self.path.stat()
            except OSError as exc:
                if exc.errno == errno.ENOENT:  # removed: no token is valid any more
                    self._records = {}
                return
            if (stat.st_mtime_ns, stat.st_size, stat.st_ino) != self._stamp:
                self._load()

    def _change(self, edit: Any) -> Any:
        """Reads, edits and writes the file under an exclusive lock (other processes too)."""
        import fcntl

        with open(self.path, "rb") as held:
            fcntl.flock(held.fileno(), fcntl.LOCK_EX)
            try:
                self._load()
                result = edit()
                write_token_file(self.path, self._issuer, list(self._records.values()))
                self._load()
            finally:
                fcntl.flock(held.fileno(), fcntl.LOCK_UN)
        return result

    def create_token(
        self,
        name: str,
        *,
        kind: str = "service",
        team: str,
        scopes: Iterable[str | Scope],
        expires_in: float | None = 90 * 86400,
        rate_limit: float | None = None,
        description: str | None = None,
    ) -> NewToken:
        """A new token for the principal `name`; its digest is added to the file."""

        def add() -> NewToken:
            new, record = issue(
                self._issuer,
                name,
                kind,
                team,
                scopes,
                expires_in=expires_in,
                rate_limit=rate_limit,
                description=description,
            )
            for other in self._records.values():
                if other.info.principal == name and (other.info.kind, other.info.team) != (
                    kind,
                    team,
                ):
                    raise InvalidInputError(
                        f"{name!r} is already the {other.info.kind} of team "
                        f"{other.info.team!r} in {self.path}"
                    )
            self._records[new.info.id] = record
            return new

        result: NewToken = self._change(add)
        return result

    def tokens(self, *, include_revoked: bool = True) -> list[TokenInfo]:
        self._fresh()
        found = [r.info for r in self._records.values()]
        if not include_revoked:
            found = [t for t in found if t.revoked_at is None]
        return sorted(found, key=lambda t: (t.created_at, t.id))

    def revoke_token(self, token_id: str) -> TokenInfo:
        check_token_id(token_id)

        def revoke() -> TokenInfo:
            record = self._records.get(token_id)
            if record is None:
                raise NotFoundError(f"no token {token_id} in {self.path}")
            if record.info.revoked_at is None:
                record = replace(record, info=replace(record.info, revoked_at=time.time()))
                self._records[token_id] = record
            return record.info

        result: TokenInfo = self._change(revoke)
        return result

    def authenticate(self, token: str) -> Principal:
        issuer, token_id = parse_token(token)
        self._fresh()
        check_issuer(issuer, self._issuer)
        return verify(self._records.get(token_id), token)

    def principal_for(self, token_id: str) -> Principal:
        """The principal of a token already verified once (a dashboard session), by its id."""
        self._fresh()
        record = self._records.get(check_token_id(token_id))
        if record is None:
            raise TokenUnknownError(f"token {token_id} is not known here")
        return verify_info(record.info)
