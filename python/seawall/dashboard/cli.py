"""``seawall ui``: the dashboard over a registry, served with uvicorn."""

from __future__ import annotations

from typing import Any

import click

from .._server.options import pop_server_options, server_options
from ..registry.cli import artifacts_option, open_registry, registry_option


@click.command()
@registry_option
@artifacts_option
@server_options(port=8765)
def ui(registry_uri: str | None, artifacts_uri: str | None, **options: Any) -> None:
    """Serve the dashboard: models, versions, aliases, lineage, runs, drift and alerts
    (read-only). It listens on loopback unless --host says otherwise, and has no authentication
    yet."""
    server = pop_server_options(options)
    try:
        from .._server.run import run
        from .app import create_dashboard_app
    except ImportError as exc:
        raise click.ClickException(
            f"the dashboard needs Starlette and uvicorn ({exc}): pip install 'seawall[serve]'"
        ) from None
    registry = open_registry(registry_uri, artifacts_uri)
    app = create_dashboard_app(registry)
    click.echo(
        f"seawall dashboard on http://{server.host}:{server.port}/ (registry {registry.uri})"
    )
    run(
        app,
        host=server.host,
        port=server.port,
        what="seawall ui",
        limits=server.limits,
        access_log=server.access_log,
        log_level="warning",
    )
