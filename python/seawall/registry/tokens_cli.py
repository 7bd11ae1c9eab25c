"""`seawall tokens ...`: principals' tokens on the command line: create (the token is printed
once), list (never a secret), revoke, and export a registry's tokens, hashed, to a token file for
a server without the registry (``--auth-tokens FILE``).

Every command works on the registry (--registry, --artifacts, as ``seawall models``) or, with
``--file FILE``, on a token file instead: ``seawall tokens create --file tokens.json ...`` makes
the file if it is not there, for servers that have no registry at all.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any

import click

from .cli import _console, _when, artifacts_option, open_registry, registry_option

_file_option = click.option(
    "--file",
    "token_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Work on this token file (hashed tokens, for --auth-tokens) instead of the registry.",
)


def _store_command(create: bool = False) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Gives the command its token store (the registry, or the token file of --file) and
    turns seawall's errors into clean exits."""

    def decorate(fn: Callable[..., None]) -> Callable[..., None]:
        @registry_option
        @artifacts_option
        @_file_option
        @wraps(fn)
        def wrapper(
            registry_uri: str | None, artifacts_uri: str | None, token_file: str | None, **kw: Any
        ) -> None:
            from .._server.tokens import TokenFile
            from ..errors import SeawallError

            try:
                if token_file is not None:
                    fn(TokenFile(token_file, create=create), **kw)
                    return
                with open_registry(registry_uri, artifacts_uri) as reg:
                    fn(reg, **kw)
            except SeawallError as exc:
                raise click.ClickException(str(exc)) from None

        return wrapper

    return decorate


def _duration(ctx: Any, param: Any, value: str) -> float | None:
    from .._server.tokens import parse_duration
    from ..errors import InvalidInputError

    try:
        return parse_duration(value)
    except InvalidInputError as exc:
        raise click.BadParameter(str(exc)) from None


@click.group()
def tokens() -> None:
    """Tokens of users and service accounts: create, list, revoke, export for servers."""


@tokens.command("create")
@click.option("--service", default=None, help="A service account's name (e.g. ci-pipeline).")
@click.option("--user", default=None, help="A user's name.")
@click.option("--team", required=True, help="The team the principal belongs to.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    help="ACTION:KIND/PATTERN, repeatable: ACTION read, write, promote (alias moves) or admin; "
    "KIND experiments or models; PATTERN a name or fnmatch pattern (write:experiments/fraud*).",
)
@click.option(
    "--expires",
    default="90d",
    show_default=True,
    callback=_duration,
    help="Lifetime: a number and s, m, h, d, w or y; or never.",
)
@click.option(
    "--rate-limit",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Requests per second this token may make on a server (default: the server's).",
)
@click.option("--description", default=None, help="What the token is for.")
@_store_command(create=True)
def create_token(
    store: Any,
    service: str | None,
    user: str | None,
    team: str,
    scopes: tuple[str, ...],
    expires: float | None,
    rate_limit: float | None,
    description: str | None,
) -> None:
    """Create a token for a service account (--service) or a user (--user) of --team.

    The token goes to stdout, once: it is stored only as a digest and cannot be shown again.
    TOKEN=$(seawall tokens create ...) keeps it; what it is goes to stderr."""
    if (service is None) == (user is None):
        raise click.UsageError("name the principal with --service NAME or --user NAME")
    kind, name = ("service", service) if service is not None else ("user", user)
    assert name is not None
    new = store.create_token(
        name,
        kind=kind,
        team=team,
        scopes=list(scopes),
        expires_in=expires,
        rate_limit=rate_limit,
        description=description,
    )
    info = new.info
    until = f"expires {_when(info.expires_at)}" if info.expires_at is not None else "never expires"
    click.echo(
        f"token {info.id} for {info.kind} {info.principal} (team {info.team}), "
        f"{', '.join(info.scopes)}; {until}. Store it now: it is not shown again.",
        err=True,
    )
    click.echo(new.secret)


@tokens.command("list")
@click.option("--all", "include_revoked", is_flag=True, help="Also list revoked tokens.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@_store_command()
def list_tokens(store: Any, include_revoked: bool, as_json: bool) -> None:
    """List tokens (ids, principals, scopes, expiry; never a secret), oldest first."""
    found = store.tokens(include_revoked=include_revoked)
    if as_json:
        from dataclasses import asdict

        rows = [{**asdict(t), "state": t.state()} for t in found]
        json.dump(rows, sys.stdout, indent=2)
        click.echo()
        return
    from rich.table import Table

    table = Table(title=f"{len(found)} token{'s' if len(found) != 1 else ''}")
    for column in ("id", "principal", "team", "scopes", "created", "expires", "state"):
        table.add_column(column, no_wrap=column != "scopes")
    for t in found:
        table.add_row(
            t.id,
            f"{t.kind}:{t.principal}",
            t.team,
            ", ".join(t.scopes),
            _when(t.created_at),
            _when(t.expires_at) or "never",
            t.state(),
        )
    _console().print(table)


@tokens.command("revoke")
@click.argument("token_id")
@_store_command()
def revoke_token(store: Any, token_id: str) -> None:
    """Revoke the token TOKEN_ID (servers stop accepting it within a second)."""
    info = store.revoke_token(token_id)
    click.echo(f"revoked token {info.id} of {info.kind}:{info.principal}")


@tokens.command("export")
@click.option(
    "--output",
    "-o",
    required=True,
    type=click.Path(dir_okay=False),
    help="The token file to write (replaced atomically; a new one is readable by you only).",
)
@registry_option
@artifacts_option
def export_tokens(registry_uri: str | None, artifacts_uri: str | None, output: str) -> None:
    """Write the registry's tokens, hashed, to a token file, for servers that check tokens
    without the registry (--auth-tokens FILE). Export again after a revocation."""
    from ..errors import SeawallError

    try:
        with open_registry(registry_uri, artifacts_uri) as reg:
            count = reg.export_tokens(output)
    except SeawallError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"wrote {count} hashed token(s) to {output}")
