"""``seawall server``: the registry over HTTP, for a team that shares one.

The server holds the database (SQLite or PostgreSQL) and the artifact store (a folder or S3);
clients use ``seawall.Registry("http://host:port")``, the same Python API as a local registry,
and every user of a registry (pipelines, the training loop, ``seawall serve models:/...``,
``seawall ui``, the command line) works through it unchanged. The API is documented by the
OpenAPI document at ``/openapi.json``; its routes, handlers, client methods and document are all
made from one table (``seawall.registry.remote.routes``).

With ``--auth registry`` it checks every request's token against the registry (cached: a
revoked token stops working within a second), records the token's principal as the actor of
what the request writes, and lets each call through only when the token's scopes allow it.

* ``app``: :func:`create_registry_app`, the ASGI app (Starlette), and ``Identity``/``identify``,
  the one place a request's principal is read;
* ``access``: the scopes each request needs, and what of a list a token may read;
* ``openapi``: the OpenAPI 3 document;
* ``cli``: the ``seawall server`` command.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_registry_app"]


def create_registry_app(registry: Any = None, **options: Any) -> Any:
    """The registry server's ASGI app (see :func:`seawall.registry_server.app.create_registry_app`)."""
    from .app import create_registry_app as create

    return create(registry, **options)
