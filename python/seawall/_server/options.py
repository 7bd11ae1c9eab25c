"""The command-line options every seawall server command takes: where it listens, its limits,
its access log, who may use it (``--auth registry``, ``--auth-tokens FILE``, ``--rate-limit``,
``--insecure``) and TLS (``--ssl-certfile``, ``--ssl-keyfile``). ``@server_options(port=8000)``
adds them; :func:`pop_server_options` takes them back out of the command's keyword arguments as
a :class:`ServerOptions`; :func:`authenticator` and :func:`check_exposure` apply the auth ones."""

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
    auth: str = "none"  # none | registry
    auth_tokens: str | None = None  # a token file
    rate_limit: float | None = None  # requests per second per token
    insecure: bool = False
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None

    @property
    def checks_tokens(self) -> bool:
        return self.auth == "registry" or self.auth_tokens is not None

    @property
    def scheme(self) -> str:
        return "https" if self.ssl_certfile else "http"


def server_options(*, port: int) -> Callable[[F], F]:
    """Adds --host, --port, the limits' options and --access-log to a click command; its
    function gets them as keyword arguments (take them out with :func:`pop_server_options`)."""
    options = [
        click.option(
            "--host",
            default="127.0.0.1",
            show_default=True,
            help="Address to listen on. Loopback by default: any other address is reachable "
            "from other machines, so it needs --auth registry or --auth-tokens (or --insecure).",
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
    options += [
        click.option(
            "--auth",
            type=click.Choice(["none", "registry"]),
            default="none",
            show_default=True,
            help="registry: every request but the health probes needs a token of the registry "
            "(seawall tokens create) whose scopes allow it; 401 without one, 403 with the wrong "
            "scope. A revoked token stops working within a second.",
        ),
        click.option(
            "--auth-tokens",
            type=click.Path(exists=True, dir_okay=False),
            default=None,
            help="Check tokens against this file of hashed tokens instead (seawall tokens "
            "create --file, or seawall tokens export), for a server without a registry; "
            "changes to the file apply within a second.",
        ),
        click.option(
            "--rate-limit",
            type=click.FloatRange(min=0, min_open=True),
            default=None,
            help="Requests per second a token may make (a token's own limit wins); past it, "
            "429 with Retry-After. [default: no limit]",
        ),
        click.option(
            "--insecure",
            is_flag=True,
            help="Serve on a non-loopback --host without checking tokens (anyone who reaches "
            "the address may use every endpoint).",
        ),
        click.option(
            "--ssl-certfile",
            type=click.Path(exists=True, dir_okay=False),
            default=None,
            help="Serve HTTPS with this PEM certificate (chain).",
        ),
        click.option(
            "--ssl-keyfile",
            type=click.Path(exists=True, dir_okay=False),
            default=None,
            help="The certificate's PEM private key (if not in --ssl-certfile).",
        ),
    ]

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
    options = ServerOptions(
        kwargs.pop("host"),
        kwargs.pop("port"),
        limits,
        kwargs.pop("access_log"),
        kwargs.pop("auth"),
        kwargs.pop("auth_tokens"),
        kwargs.pop("rate_limit"),
        kwargs.pop("insecure"),
        kwargs.pop("ssl_certfile"),
        kwargs.pop("ssl_keyfile"),
    )
    if options.auth == "registry" and options.auth_tokens is not None:
        raise click.UsageError("give --auth registry or --auth-tokens FILE, not both")
    if options.rate_limit is not None and not options.checks_tokens:
        raise click.UsageError("--rate-limit is per token: it needs --auth or --auth-tokens")
    if options.ssl_keyfile is not None and options.ssl_certfile is None:
        raise click.UsageError("--ssl-keyfile needs --ssl-certfile")
    return options


def authenticator(options: ServerOptions, registry: Callable[[], Any]) -> Any:
    """The Authenticator the options ask for (None without auth); ``registry()`` gives the
    registry for ``--auth registry``. A token file that cannot be read is a clean exit."""
    if not options.checks_tokens:
        return None
    from ..errors import SeawallError
    from .auth import Authenticator
    from .tokens import TokenFile

    try:
        source = TokenFile(options.auth_tokens) if options.auth_tokens else registry()
    except SeawallError as exc:
        raise click.ClickException(str(exc)) from None
    return Authenticator(source, rate_limit=options.rate_limit)


def check_exposure(options: ServerOptions, what: str) -> None:
    """A usage error when `what` would listen beyond loopback without checking tokens, unless
    --insecure says so."""
    from .run import is_loopback

    if is_loopback(options.host) or options.checks_tokens or options.insecure:
        return
    raise click.UsageError(
        f"{what} would listen on {options.host!r} without checking tokens: add --auth registry "
        "or --auth-tokens FILE, or --insecure to let anyone who reaches it in"
    )
