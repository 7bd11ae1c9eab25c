"""``seawall ui``: the dashboard over a registry, served with uvicorn."""

from __future__ import annotations

from typing import Any

import click

from .._server.options import authenticator, check_exposure, pop_server_options, server_options
from ..registry.cli import artifacts_option, open_registry, registry_option


@click.command()
@registry_option
@artifacts_option
@server_options(port=8765)
def ui(registry_uri: str | None, artifacts_uri: str | None, **options: Any) -> None:
    """Serve the dashboard: models, versions, aliases, lineage, runs, drift and alerts.

    It listens on loopback unless --host says otherwise (which needs --auth registry or
    --auth-tokens FILE, or --insecure). With tokens, a browser signs in at /signin and sees
    what the token may read; a token with the promote scope may move aliases from a version's
    page. Without, it is read-only."""
    server = pop_server_options(options)
    check_exposure(server, "seawall ui")
    try:
        from .._server.run import run
        from .app import create_dashboard_app
    except ImportError as exc:
        raise click.ClickException(
            f"the dashboard needs Starlette and uvicorn ({exc}): pip install 'seawall[serve]'"
        ) from None
    registry = open_registry(registry_uri, artifacts_uri)
    auth = authenticator(server, lambda: registry)
    app = create_dashboard_app(registry, auth=auth)
    click.echo(
        f"seawall dashboard on {server.scheme}://{server.host}:{server.port}/ "
        f"(registry {registry.uri})" + (", sign in with a token" if auth is not None else "")
    )
    run(
        app,
        host=server.host,
        port=server.port,
        what="seawall ui",
        limits=server.limits,
        access_log=server.access_log,
        log_level="warning",
        authenticated=auth is not None,
        ssl_certfile=server.ssl_certfile,
        ssl_keyfile=server.ssl_keyfile,
    )
