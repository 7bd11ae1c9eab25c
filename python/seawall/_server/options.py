"""The command-line options every seawall server command takes: where it listens, its limits,
and its access log. ``@server_options(port=8000)`` adds them; :func:`pop_server_options` takes
them back out of the command's keyword arguments as a :class:`ServerOptions`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from ..errors import InvalidInputError
from .limits import Limits

__all__ = ["ServerOptions", "pop_server_options", "server_options"]

F = TypeVar("F", bound=Callable[..., Any])

_DEFAULT = Limits()
_SECONDS = click.FloatRange(min=0, min_open=True)
_POSITIVE = click.IntRange(min=1)

# (option, Limits field, type, help)
_LIMITS = [
    (
        "--max-connections",
        "max_connections",
        _POSITIVE,
        "Open connections at most; one more is answered 503 and closed.",
    ),
    (
        "--max-concurrency",
        "max_concurrency",
        _POSITIVE,
        "Requests handled at once at most; one more gets 503 with Retry-After.",
    ),
    (
        "--header-timeout",
        "header_timeout_s",
        _SECONDS,
        "Seconds a client has to send a request's headers, from connecting or from the previous "
        "response; then 408 and the connection closes.",
    ),
    (
        "--keep-alive-timeout",
        "keep_alive_timeout_s",
        _SECONDS,
        "Seconds an idle connection stays open between requests.",
    ),
    (
        "--body-timeout",
        "body_timeout_s",
        _SECONDS,
        "Seconds a client has to send a whole request body; then 408.",
    ),
    (
        "--max-header-bytes",
        "max_header_bytes",
        _POSITIVE,
        "Largest request line and headers; larger ones get 431.",
    ),
    (
        "--max-body-bytes",
        "max_body_bytes",
        _POSITIVE,
        "Largest request body; a larger one gets 413.",
    ),
    (
        "--max-bytes-in-flight",
        "max_bytes_in_flight",
        _POSITIVE,
        "Request body bytes held at once across requests; past it, 503 with Retry-After.",
    ),
]


@dataclass(frozen=True)
class ServerOptions:
    host: str
    port: int
    limits: Limits
    access_log: bool


def server_options(*, port: int) -> Callable[[F], F]:
    """Adds --host, --port, the limits' options and --access-log to a click command; its
    function gets them as keyword arguments (take them out with :func:`pop_server_options`)."""
    options = [
        click.option(
            "--host",
            default="127.0.0.1",
            show_default=True,
            help="Address to listen on. Loopback by default: any other address is reachable "
            "from other machines, and there is no authentication yet (a warning says so).",
        ),
        click.option(
            "--port",
            default=port,
            show_default=True,
            type=click.IntRange(0, 65535),
            help="Port to listen on (0: any free port).",
        ),
    ]
    for flag, field, kind, text in _LIMITS:
        options.append(
            click.option(
                flag,
                field,
                default=getattr(_DEFAULT, field),
                show_default=True,
                type=kind,
                help=text,
            )
        )
    options.append(
        click.option(
            "--access-log/--no-access-log",
            default=False,
            show_default=True,
            help="Log a line for every request.",
        )
    )

    def decorate(f: F) -> F:
        for option in reversed(options):
            f = option(f)
        return f

    return decorate


def pop_server_options(kwargs: dict[str, Any]) -> ServerOptions:
    """Takes the options :func:`server_options` added out of a command's `kwargs`; a bad
    combination of limits is a usage error."""
    values = {field: kwargs.pop(field) for _, field, _, _ in _LIMITS}
    try:
        limits = Limits(**values)
    except InvalidInputError as exc:
        raise click.UsageError(str(exc)) from None
    return ServerOptions(kwargs.pop("host"), kwargs.pop("port"), limits, kwargs.pop("access_log"))
