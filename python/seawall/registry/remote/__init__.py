"""The registry over HTTP: the API's route table, the wire forms of what crosses, and the
client (``Registry("http://host:port")`` is a :class:`RemoteRegistry`); ``seawall server``
(``seawall.registry_server``) is the other end.

Importing this package loads nothing heavy; httpx loads with the client.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .client import RemoteArtifactStore, RemoteRegistry

__all__ = ["RemoteArtifactStore", "RemoteRegistry", "is_remote_uri"]


def is_remote_uri(uri: str | os.PathLike[str] | None) -> bool:
    """Whether a registry URI (None: ``$SEAWALL_REGISTRY_URI``) names a registry server."""
    if uri is None:
        uri = os.environ.get("SEAWALL_REGISTRY_URI") or None
    if not isinstance(uri, str):
        return False
    return uri.lower().startswith(("http://", "https://"))


def __getattr__(name: str) -> Any:
    if name in ("RemoteRegistry", "RemoteArtifactStore"):
        from . import client

        return getattr(client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
