"""Registry: experiment tracking, the model registry and lineage on one database and one
content-addressed artifact store.

The class is made of one part per concern, each in its own module over :class:`RegistryBase`
(``_base``: the database, the artifact store and the lookups the parts share): ``_tracking``
(experiments, runs, artifacts), ``_inputs`` (a run's datasets), ``_models`` (models, versions,
tags), ``_aliases``, ``_lineage`` (deployments and the lineage graph), ``_bundles`` (stored
bundles, their local copies and reference profiles), ``_summary`` (the registry at a glance),
``_auth`` (principals, tokens and the
acting principal); ``_deletes`` (delete, restore and purge) and ``_gc`` (garbage collection of
the artifact store).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ._aliases import AliasesMixin
from ._auth import AuthMixin
from ._bundles import BundlesMixin
from ._deletes import DeletesMixin
from ._evaluations import EvaluationsMixin
from ._gc import GcMixin
from ._inputs import InputsMixin
from ._lineage import LineageMixin
from ._models import ModelsMixin
from ._run import FINISHED
from ._summary import SummaryMixin
from ._tracking import TrackingMixin
from .events._mixin import EventsMixin


class Registry(
    TrackingMixin,
    InputsMixin,
    ModelsMixin,
    AliasesMixin,
    LineageMixin,
    BundlesMixin,
    SummaryMixin,
    DeletesMixin,
    GcMixin,
    EventsMixin,
    AuthMixin,
    EvaluationsMixin,
):
    """Runs, models and their lineage in one database.

    ``Registry()`` opens the embedded SQLite database ``$SEAWALL_HOME/registry.db`` (default
    ``~/.seawall``; or ``$SEAWALL_REGISTRY_URI``) with artifacts under
    ``$SEAWALL_HOME/artifacts`` (or ``$SEAWALL_ARTIFACTS_URI``). `uri` may be a SQLite path or
    ``sqlite:///...``, or ``postgresql://user:pass@host/db``; `artifacts` a folder or
    ``s3://bucket/prefix?endpoint_override=...&region=...``. The database schema is created or
    upgraded in place on open. Bundles resolved to local folders are cached under `cache`
    (default ``$SEAWALL_HOME/cache``).

    ``create=False`` opens an existing registry only, as the command line and the dashboard do:
    a SQLite file that does not exist, or a database that holds no registry, is NotFoundError,
    and no file or folder is created.

    An ``http://`` or ``https://`` URI (``seawall server``'s address) gives the same API through
    that server: ``Registry("http://host:5000")`` is a
    :class:`~seawall.registry.remote.RemoteRegistry`, whose artifacts live on the server.
    """

    def __new__(cls, uri: str | os.PathLike[str] | None = None, *args: Any, **kwargs: Any) -> Any:
        if cls is Registry:
            from .remote import is_remote_uri

            if is_remote_uri(uri):
                from .remote import RemoteRegistry

                return super().__new__(RemoteRegistry)
        return super().__new__(cls)

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def resolve_bundle(uri: str, registry: Registry | None = None) -> Path:
    """A verified local copy of the bundle folder a ``models:/...`` URI points to.

    Every file is checked against the hashes of the version's manifest before the path is
    returned; a corrupted stored file raises IntegrityError. With no `registry`, the default
    one (``Registry()``) is used.
    """
    reg = registry if registry is not None else Registry()
    return reg.bundle_path(uri)


__all__ = ["FINISHED", "Registry", "resolve_bundle"]
