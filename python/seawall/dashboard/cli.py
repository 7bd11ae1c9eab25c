"""``seawall ui``: the dashboard over a registry, served with uvicorn."""

from __future__ import annotations

import click

from ..registry.cli import artifacts_option, open_registry, registry_option


@click.command()
@registry_option
@artifacts_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8765, show_default=True, type=int, help="Port to listen on.")
def ui(registry_uri: str | None, artifacts_uri: str | None, host: str, port: int) -> None:
    """Serve the dashboard: models, versions, aliases, lineage, runs, drift and alerts."""
    try:
        import uvicorn

        from .app import create_dashboard_app
    except ImportError as exc:
        raise click.ClickException(
            f"the dashboard needs Starlette and uvicorn ({exc}): pip install 'seawall[serve]'"
        ) from None
    registry = open_registry(registry_uri, artifacts_uri)
    app = create_dashboard_app(registry)
    click.echo(f"seawall dashboard on http://{host}:{port}/ (registry {registry.uri})")
    uvicorn.run(app, host=host, port=port, log_level="warning")
