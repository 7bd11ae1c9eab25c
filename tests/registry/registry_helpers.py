"""Helpers shared by the registry tests (imported by name: this folder is on sys.path)."""

from __future__ import annotations

from pathlib import Path


def make_bundle(folder: Path, seed: int, files: int = 3) -> Path:
    """A bundle-like folder of a few files in nested folders, different per seed."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        path = folder / ("weights" if i % 2 else "config") / f"part-{i}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"seed {seed} file {i} ".encode() * (i + 1))
    (folder / "MODEL").write_text(f"bundle {seed}\n")
    return folder
