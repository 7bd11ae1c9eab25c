"""Serving: the native dynamic batcher and the Open Inference Protocol server over model bundles.

The bundle names (``save_bundle``, ``load_bundle``, ``Bundle``...) are those of
:mod:`seawall.bundles`, re-exported here where a server's user looks for them.
"""

from typing import Any

# Model bundles (the format is seawall.bundles) and the server (create_app needs the serve
# extra, so it is imported on use, as is the payload log).
from ..bundles import (
    Bundle,
    OnnxModel,
    PythonModel,
    Signature,
    TensorSpec,
    load_bundle,
    save_bundle,
)
from .batcher import Batcher
from .rollout import ArmRule
from .traffic_policy import TrafficPolicy

__all__ = [
    "ArmRule",
    "Authenticator",
    "Batcher",
    "Bundle",
    "OnnxModel",
    "PayloadLog",
    "PythonModel",
    "Signature",
    "TensorSpec",
    "TokenFile",
    "TrafficPolicy",
    "create_app",
    "load_bundle",
    "read_payloads",
    "save_bundle",
    "serve_in_thread",
]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    if name in ("PayloadLog", "read_payloads"):
        from . import payload_log

        return getattr(payload_log, name)
    if name == "Authenticator":  # create_app(auth=...): tokens, their cache and rate limits
        from .._server.auth import Authenticator

        return Authenticator
    if name == "TokenFile":
        from .._server.tokens import TokenFile

        return TokenFile
    if name == "serve_in_thread":
        from .in_thread import serve_in_thread

        return serve_in_thread
    raise AttributeError(f"module 'seawall.serving' has no attribute {name!r}")
