"""Serving: the native dynamic batcher, model bundles and the Open Inference Protocol server."""

from typing import Any

from .batcher import Batcher

# Model bundles and the server (create_app needs the serve extra, so it is imported on use).
from .bundle import Bundle, PythonModel, Signature, load_bundle, save_bundle
from .onnx_model import OnnxModel
from .protocol import TensorSpec

__all__ = [
    "Batcher",
    "Bundle",
    "OnnxModel",
    "PythonModel",
    "Signature",
    "TensorSpec",
    "create_app",
    "load_bundle",
    "save_bundle",
    "serve_in_thread",
]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "serve_in_thread":
        from .in_thread import serve_in_thread

        return serve_in_thread
    raise AttributeError(f"module 'seawall.serving' has no attribute {name!r}")
