"""``seawall server``: the registry over HTTP, served with uvicorn under the shared limits."""

from __future__ import annotations

from typing import Any

import click

from .._server.options import pop_server_options, server_options


@click.command()
@click.option(
    "--registry",
    "registry_uri",
    envvar="SEAWALL_REGISTRY_URI",
    help="The database it serves: a SQLite path, sqlite:///... or postgresql://... "
    "(created if new) [default: $SEAWALL_HOME/registry.db]",
)
@click.option(
    "--artifacts",
    "artifacts_uri",
    envvar="SEAWALL_ARTIFACTS_URI",
    help="Its artifact store: a folder or s3://... [default: $SEAWALL_HOME/artifacts]",
)
@server_options(port=5000)
@click.option(
    "--max-upload-bytes",
    default=1 << 40,
    show_default=True,
    type=click.IntRange(min=1),
    help="Largest artifact object one upload may stream in.",
)
def server(
    registry_uri: str | None, artifacts_uri: str | None, max_upload_bytes: int, **options: Any
) -> None:
    """Serve a registry over HTTP: clients use seawall.Registry("http://HOST:PORT") (or
    SEAWALL_REGISTRY_URI=http://HOST:PORT) with the same API as a local registry. The API is
    described at /openapi.json. It listens on loopback unless --host says otherwise, and has no
    authentication yet."""
    import dataclasses

    from ..errors import SeawallError

    served = pop_server_options(options)
    limits = dataclasses.replace(served.limits, max_upload_bytes=max_upload_bytes)
    if registry_uri is not None and registry_uri.lower().startswith(("http://", "https://")):
        raise click.UsageError("--registry names a database to serve, not another server")
    try:
        from .._server.run import run
        from ..registry import Registry
        from .app import create_registry_app

        registry = Registry(registry_uri, artifacts=artifacts_uri)
        app = create_registry_app(registry)
    except ImportError as exc:
        raise click.ClickException(f"the registry server needs its dependencies ({exc})") from None
    except SeawallError as exc:
        raise click.ClickException(f"cannot open the registry: {exc}") from None
    click.echo(
        f"seawall registry server on http://{served.host}:{served.port}/ (registry "
        f"{registry.uri}, artifacts {registry.artifacts.uri}); API at /api/1, described at "
        "/openapi.json"
    )
    run(
        app,
        host=served.host,
        port=served.port,
        what="seawall server",
        limits=limits,
        access_log=served.access_log,
        log_level="warning",
    )
    registry.close()
