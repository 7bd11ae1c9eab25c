"""``seawall ui``: the dashboard over a registry, served with uvicorn."""

from __future__ import annotations

from typing import Any

import click

from .._server.options import pop_server_options, server_options


@click.command()
@click.option(
    "--registry",
    "registry_uri",
    default=None,
    help="Registry URI or SQLite path (default: $SEAWALL_REGISTRY_URI, else ~/.seawall).",
)
@server_options(port=8765)
def ui(registry_uri: str | None, **options: Any) -> None:
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
    from ..registry import Registry

    try:
        registry = Registry(registry_uri)
    except Exception as exc:  # a bad URI, an unreachable server: say so, without a traceback
        raise click.ClickException(f"cannot open the registry: {exc}") from None
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
