"""``seawall server``: the registry over HTTP, served with uvicorn under the shared limits."""

from __future__ import annotations

from typing import Any

import click

from .._server.options import authenticator, check_exposure, pop_server_options, server_options


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
    described at /openapi.json. With --auth registry every request needs a token of this
    registry (clients: Registry(URL, token=...) or SEAWALL_TOKEN), whose principal is recorded
    as the actor of what it writes and whose scopes must allow each call. It listens on loopback
    unless --host says otherwise; another address needs --auth (or --insecure)."""
    import dataclasses

    from ..errors import SeawallError

    served = pop_server_options(options)
    check_exposure(served, "seawall server")
    limits = dataclasses.replace(served.limits, max_upload_bytes=max_upload_bytes)
    if registry_uri is not None and registry_uri.lower().startswith(("http://", "https://")):
        raise click.UsageError("--registry names a database to serve, not another server")
    try:
        from .._server.run import run
        from ..registry import Registry
        from .app import create_registry_app

        registry = Registry(registry_uri, artifacts=artifacts_uri)
        auth = authenticator(served, lambda: registry)
        app = create_registry_app(registry, auth=auth)
    except ImportError as exc:
        raise click.ClickException(f"the registry server needs its dependencies ({exc})") from None
    except SeawallError as exc:
        raise click.ClickException(f"cannot open the registry: {exc}") from None
    checking = "tokens checked" if auth is not None else "no tokens checked"
    click.echo(
        f"seawall registry server on {served.scheme}://{served.host}:{served.port}/ (registry "
        f"{registry.uri}, artifacts {registry.artifacts.uri}; {checking}); API at /api/1, "
        "described at /openapi.json"
    )
    run(
        app,
        host=served.host,
        port=served.port,
        what="seawall server",
        limits=limits,
        access_log=served.access_log,
        log_level="warning",
        authenticated=auth is not None,
        ssl_certfile=served.ssl_certfile,
        ssl_keyfile=served.ssl_keyfile,
    )
    registry.close()
