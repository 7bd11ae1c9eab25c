"""Helpers shared by the registry tests (imported by name: this folder is on sys.path)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

WORKER = Path(__file__).with_name("registry_worker.py")


def run_worker(*args: str, **kwargs) -> subprocess.Popen[str]:
    """registry_worker.py in a process of its own, with pipes for its stdin and output."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(WORKER.parent), *sys.path])}
    return subprocess.Popen(
        [sys.executable, str(WORKER), *args],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


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


def referenced_objects(reg) -> set[str]:
    """The oracle of what a registry's database references, read with plain SQL and the
    stored manifests parsed here: run artifacts, dataset profiles, and for every version not
    purged its manifest, its profile and every file the manifest lists."""
    import json

    from sqlalchemy import text

    found: set[str] = set()
    with reg._db.read() as conn:
        found.update(conn.execute(text("SELECT sha256 FROM artifacts")).scalars())
        found.update(
            conn.execute(
                text("SELECT profile_sha256 FROM datasets WHERE profile_sha256 IS NOT NULL")
            ).scalars()
        )
        versions = conn.execute(
            text("SELECT bundle_sha256, profile_sha256 FROM model_versions WHERE purged_at IS NULL")
        ).all()
    for bundle, profile in versions:
        found.add(bundle)
        if profile is not None:
            found.add(profile)
        manifest = json.loads(stored_bytes(reg.artifacts, bundle))
        found.update(f["sha256"] for f in manifest["files"])
    return found


def stored_bytes(store, sha: str) -> bytes:
    """An object's bytes read straight from the store's files (local) or bucket (S3)."""
    if store.is_local:
        return (Path(store.uri) / "objects" / "sha256" / sha[:2] / sha).read_bytes()
    client, bucket, prefix = store.client, store.bucket, store.prefix
    key = f"{prefix}/objects/sha256/{sha[:2]}/{sha}"
    return client.get_object(Bucket=bucket, Key=key)["Body"].read()


def stored_objects(store) -> dict[str, bytes]:
    """Every object in the store, listed here (os.walk, or boto3 on S3), with its bytes."""
    out: dict[str, bytes] = {}
    if store.is_local:
        for folder, _, files in os.walk(Path(store.uri) / "objects" / "sha256"):
            for name in files:
                out[name] = (Path(folder) / name).read_bytes()
        return out
    client, bucket, prefix = store.client, store.bucket, store.prefix
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=f"{prefix}/objects/"
    ):
        for item in page.get("Contents", []):
            if item["Key"].endswith("/"):
                continue  # the empty folder markers pyarrow keeps
            name = item["Key"].rsplit("/", 1)[1]
            out[name] = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
    return out
