"""Python models in a bundle: any object with a predict method (or any callable), called on a
batch. A bundle stores one with pickle, so loading it runs code (see load_bundle's trust_code)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import InvalidInputError

__all__ = ["PythonModel"]


class PythonModel:
    """A Python model (a scikit-learn estimator, or any object) as a callable on a batch.

    ``methods`` maps output names to method names: ``model(x)`` returns
    ``{output: getattr(obj, method)(x)}``. A plain callable with no methods gives ``{"output": obj(x)}``.
    """

    def __init__(self, obj: Any, methods: Mapping[str, str] | None = None) -> None:
        self.obj = obj
        if methods is None:
            if hasattr(obj, "predict"):
                methods = {"predict": "predict"}
                if hasattr(obj, "predict_proba"):
                    methods["predict_proba"] = "predict_proba"
            elif callable(obj):
                methods = {"output": "__call__"}
            else:
                raise InvalidInputError(
                    f"a Python model needs a predict method or must be callable, got {type(obj).__name__}"
                )
        methods = dict(methods)
        if not methods:
            raise InvalidInputError("a Python model needs at least one output method")
        for output, method in methods.items():
            if not isinstance(output, str) or not isinstance(method, str):
                raise InvalidInputError(
                    f"methods maps output names to method names, got {methods!r}"
                )
            if not callable(getattr(obj, method, None)):
                raise InvalidInputError(f"the Python model has no method {method!r}")
        self.methods = methods

    def __call__(self, x: np.ndarray) -> dict[str, np.ndarray]:
        return {
            output: np.asarray(getattr(self.obj, method)(x))
            for output, method in self.methods.items()
        }

    def __repr__(self) -> str:
        return f"PythonModel({type(self.obj).__name__}, outputs={list(self.methods)})"
