"""The model server's route groups and the scope each request needs, for ``create_app(auth=...)``
and ``seawall serve --auth ...`` (the mechanism is ``seawall._server.auth``).

==========  ===============================================================  ==========================
group       routes                                                           needs
==========  ===============================================================  ==========================
health      ``/v2/health/live``, ``/v2/health/ready``                        nothing (probes)
inference   ``/v2/models/NAME/infer``, ``/v1/models/NAME/predict``           ``read:models/NAME``
metadata    ``/v2``; ``/v2/models/NAME`` and its ``/ready``, ``/config``,    a valid token (``/v2``),
            ``/stats``; ``GET /v2/models/NAME/traffic``                      ``read:models/NAME``
            ``/v2/models/stats``                                             ``read:models/*``
metrics     ``/metrics``                                                     ``read:models/*``
admin       ``/v2/repository/index``                                         ``read:models/*``
            ``/v2/repository/models/NAME/load`` and ``/unload``,             ``admin:models/NAME``
            ``POST /v2/models/NAME/traffic``
ui          ``/ui/...`` (the dashboard signs in with its own form)           the dashboard's session
==========  ===============================================================  ==========================

Versioned paths (``.../versions/V/...``) need what the unversioned ones do; any other path
needs a valid token.
"""

from __future__ import annotations

import re
from functools import lru_cache

from .._server.auth import Access

__all__ = ["GROUPS", "classify"]

GROUPS = ("health", "inference", "metadata", "metrics", "admin", "ui")

_MODEL = re.compile(r"^/v[12]/models/(?P<name>[^/]+)(?:/versions/[^/]+)?(?P<rest>/[^/]*)?/?$")
_REPOSITORY = re.compile(r"^/v2/repository/models/(?P<name>[^/]+)/(?:load|unload)/?$")
_INFERENCE = {"/infer", "/predict"}
_METADATA = {None, "/ready", "/config", "/stats"}
_HEALTH = Access("health", public=True)
_EVERY_MODEL = "models/*"


@lru_cache(maxsize=4096)
def classify(method: str, path: str) -> Access:
    """The route group of a request to the model server and the scope it needs."""
    if path in ("/v2/health/live", "/v2/health/ready"):
        return _HEALTH
    if path == "/metrics":
        return Access("metrics", "read", _EVERY_MODEL)
    if path == "/ui" or path.startswith("/ui/"):
        return Access("ui", delegate=True)
    if path.rstrip("/") == "/v2":
        return Access("metadata")
    if path == "/v2/models/stats":
        return Access("metadata", "read", _EVERY_MODEL)
    if path == "/v2/repository/index":
        return Access("admin", "read", _EVERY_MODEL)
    found = _REPOSITORY.match(path)
    if found is not None:
        return Access("admin", "admin", "models/" + found["name"])
    found = _MODEL.match(path)
    if found is not None:
        resource, rest = "models/" + found["name"], found["rest"]
        if rest in _INFERENCE:
            return Access("inference", "read", resource)
        if rest == "/traffic":
            if method == "GET":
                return Access("metadata", "read", resource)
            return Access("admin", "admin", resource)
        if rest in _METADATA:
            return Access("metadata", "read", resource)
    return Access("metadata")
