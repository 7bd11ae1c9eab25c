"""Pages of a search: a list with the token of the next page, and the tokens themselves.

A token is opaque to the caller (URL-safe base64 of a small JSON object) and names the search
that made it, so that it is refused with any other. Searches page by key (keyset paging): the
token holds the sort key of the last row given, and the next page starts strictly after it, so
a row inserted or deleted between two calls never makes another row appear twice or go missing
(as an offset would).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from typing import Any, TypeVar

from ..errors import InvalidInputError
from ._entities import Model, ModelVersion

__all__ = [
    "ModelPage",
    "Page",
    "VersionPage",
    "after_key",
    "check_max_results",
    "keyset_token",
    "query_key",
    "read_token",
    "write_token",
]

T = TypeVar("T")
_FORMAT = 1


class Page(list[T]):
    """One page of a search: a list, and ``token``, which the same search given as
    ``page_token`` turns into the next page (None on the last page)."""

    def __init__(self, items: list[T], token: str | None) -> None:
        super().__init__(items)
        self.token = token


class ModelPage(Page[Model]):
    """One page of :meth:`Registry.search_models`, by name."""


class VersionPage(Page[ModelVersion]):
    """One page of :meth:`Registry.search_model_versions`, by model name, then version."""


def check_max_results(max_results: Any) -> None:
    if isinstance(max_results, bool) or not isinstance(max_results, int) or max_results < 1:
        raise InvalidInputError(f"max_results must be a positive integer, got {max_results!r}")


def query_key(*search: Any) -> str:
    """Identifies a search, so that a token is only ever used with the search that made it."""
    text = json.dumps([repr(part) if not _plain(part) else part for part in search])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _plain(value: Any) -> bool:
    if value is None or isinstance(value, (str, int, float, bool)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


def write_token(key: str, **position: Any) -> str:
    data = json.dumps({"v": _FORMAT, "query": key, **position}, sort_keys=True)
    return base64.urlsafe_b64encode(data.encode("utf-8")).decode("ascii")


def read_token(token: Any, key: str, what: str) -> dict[str, Any]:
    """The position a token from :func:`write_token` holds, after checking that it is one and
    that it was made by the same search (`key`); InvalidInputError naming `what` otherwise."""
    bad = InvalidInputError(f"page_token {token!r} is not a token from {what}")
    if not isinstance(token, str):
        raise InvalidInputError(f"page_token must be a string from {what}, got {token!r}")
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
    except (ValueError, TypeError, UnicodeError) as exc:
        raise bad from exc
    if not isinstance(data, dict) or data.get("v") != _FORMAT or "query" not in data:
        raise bad
    if data["query"] != key:
        raise InvalidInputError(
            f"page_token belongs to another search of {what}: pass the same arguments that "
            "returned it"
        )
    return data


def keyset_token(key: str, last: Sequence[Any]) -> str:
    """The token of the page after the one that ended with the row sorted at `last`."""
    return write_token(key, after=list(last))


def after_key(
    token: Any, key: str, what: str, types: Sequence[type | tuple[type, ...]]
) -> tuple[Any, ...]:
    """The sort key a :func:`keyset_token` holds: one value of each of `types` (a type, or a
    tuple of the types it may be; never a bool)."""
    after = read_token(token, key, what).get("after")
    if (
        not isinstance(after, list)
        or len(after) != len(types)
        or not all(
            isinstance(v, t) and not isinstance(v, bool) for v, t in zip(after, types, strict=False)
        )
    ):
        raise InvalidInputError(f"page_token {token!r} is not a token from {what}")
    return tuple(after)
