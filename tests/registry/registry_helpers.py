"""Helpers shared by the registry tests (imported by name: this folder is on sys.path)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


class Constant:
    """A tiny Python model (importable from this module, as a served model must be)."""

    def __init__(self, value: float) -> None:
        self.value = value

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.full(len(x), self.value)


def make_bundle(folder: Path, seed: int, files: int = 3) -> Path:
    """A valid bundle (a constant model, different per seed) with a few more files beside it, in
    nested folders: a registered version stores the whole folder."""
    from seawall.bundles import save_bundle

    save_bundle(
        folder, python_model=Constant(seed), example=np.zeros((2, 3)), metadata={"seed": seed}
    )
    for i in range(files):
        path = folder / ("weights" if i % 2 else "config") / f"part-{i}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"seed {seed} file {i} ".encode() * (i + 1))
    (folder / "MODEL").write_text(f"bundle {seed}\n")
    return folder
