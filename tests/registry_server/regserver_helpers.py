"""Helpers of the registry server tests (imported by name: this folder is on sys.path)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import numpy as np


class Constant:
    """A tiny Python model (importable from this module, as a loaded model must be)."""

    def __init__(self, value: float) -> None:
        self.value = value

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.full(len(x), self.value)


def make_bundle(folder: Path, value: float) -> Path:
    from seawall.bundles import save_bundle

    save_bundle(folder, python_model=Constant(value), example=np.zeros((2, 3)))
    return folder


def build_dashboard_world(rng: Any, folder: Path) -> Any:
    """The dashboard tests' world (a registry with models, runs and a monitoring history),
    from tests/dashboard/conftest.py, loaded by its path."""
    name = "dashboard_world"
    if name not in sys.modules:
        path = Path(__file__).parents[1] / "dashboard" / "conftest.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name].build_world(rng, folder)
