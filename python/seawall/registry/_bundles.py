"""Registered bundles: each version's content-addressed manifest, a verified local copy of its
folder, the loaded bundle, and the reference profile of its training data."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from .. import bundles
from ..bundles import Bundle
from ..errors import IntegrityError, InvalidInputError, NotFoundError
from ._base import RegistryBase
from ._store import check_name, hash_file, safe_destination, walk_files

BUNDLE_FORMAT = "seawall.bundle/1"


def parse_manifest(data: bytes, sha: str) -> list[dict[str, Any]]:
    """The files (path, sha256, size) a stored bundle manifest lists, checked."""
    try:
        manifest = json.loads(data)
        files = manifest["files"]
        if manifest.get("format") != BUNDLE_FORMAT or not isinstance(files, list):
            raise ValueError("unknown format")
        for f in files:
            check_name(f["path"], "bundle file name")
            if not isinstance(f["sha256"], str) or not isinstance(f["size"], int):
                raise ValueError("bad entry")
    except (ValueError, KeyError, TypeError, InvalidInputError) as exc:
        raise IntegrityError(f"bundle manifest {sha} is not valid: {exc}") from None
    return list(files)


class BundlesMixin(RegistryBase):
    """A version's bundle (files, local copy, loaded model) and reference profile."""

    def bundle_manifest(self, uri: str) -> list[dict[str, Any]]:
        """The files of a version's bundle: path, sha256 and size of each (verified manifest)."""
        return self._manifest(self.resolve(uri).bundle_sha256)

    def _manifest(self, sha: str) -> list[dict[str, Any]]:
        return parse_manifest(self.artifacts.get_bytes(sha), sha)

    def bundle_path(self, uri: str) -> Path:
        """A verified local copy of a version's bundle folder (see :func:`resolve_bundle`)."""
        return self._materialize(self.resolve(uri).bundle_sha256)

    def _materialize(self, sha: str) -> Path:
        files = self._manifest(sha)
        home = self._cache / "bundles"
        home.mkdir(parents=True, exist_ok=True)
        final = home / sha
        if final.is_symlink():
            raise IntegrityError(f"{final} is a symlink; refusing to use it as a bundle copy")
        if final.is_dir():
            if _tree_matches(final, files):
                return final
            # Someone changed the copy: move it aside (atomically) and make a fresh one.
            aside = Path(tempfile.mkdtemp(dir=home, prefix=".stale-"))
            try:
                os.replace(final, aside / "old")
            except FileNotFoundError:
                pass
            shutil.rmtree(aside, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(dir=home, prefix=".tmp-"))
        try:
            for f in files:
                target = safe_destination(tmp, f["path"])
                target.parent.mkdir(parents=True, exist_ok=True)
                self.artifacts.copy_to(f["sha256"], target)
            try:
                os.rename(tmp, final)
            except OSError:
                # Another process put the same copy in place first: use it if it verifies.
                if not _tree_matches(final, files):
                    raise IntegrityError(
                        f"the cached bundle copy {final} does not match its manifest"
                    ) from None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return final

    def load_model(self, uri: str, **kwargs: Any) -> Bundle:
        """Loads a version with ``seawall.bundles.load_bundle(path, **kwargs)`` from a verified
        local copy of its bundle (e.g. ``trust_code=True`` for a pickled Python model)."""
        return bundles.load_bundle(self.bundle_path(uri), **kwargs)

    def schema(self, uri: str) -> Any:
        """The data contract (a :class:`~seawall.Schema`) a version's bundle carries, read from
        the store without loading the model (every byte verified)."""
        from ..bundles.manifest import MANIFEST
        from ..contracts import Schema

        mv = self.resolve(uri)
        files = {f["path"]: f["sha256"] for f in self._manifest(mv.bundle_sha256)}
        try:
            manifest = json.loads(self.artifacts.get_bytes(files[MANIFEST]))
            entry = manifest.get("schema")
            name = None if entry is None else entry["file"]
        except (KeyError, TypeError, ValueError) as exc:
            raise IntegrityError(f"the bundle of {mv.uri} has no valid {MANIFEST}: {exc}") from None
        if name is None:
            raise NotFoundError(
                f"{mv.uri} was registered without a schema (save_bundle(schema=...))"
            )
        if name not in files:
            raise IntegrityError(f"the bundle of {mv.uri} names a schema file it does not hold")
        text = self.artifacts.get_bytes(files[name]).decode("utf-8", errors="strict")
        return Schema.from_json(text, source=f"the schema of {mv.uri}")

    def reference_profile(self, uri: str) -> Any:
        """The reference Profile of a version's training data (verified on read)."""
        from ..profiles import Profile

        mv = self.resolve(uri)
        if mv.profile_sha256 is None:
            raise NotFoundError(f"{mv.uri} was registered without a reference profile")
        data = self.artifacts.get_bytes(mv.profile_sha256)
        return Profile.from_bytes(data, source=f"the reference profile of {mv.uri}")


def _tree_matches(root: Path, files: list[dict[str, Any]]) -> bool:
    try:
        present = walk_files(root)
    except (InvalidInputError, NotFoundError):
        return False
    expected = {f["path"]: f["sha256"] for f in files}
    if [name for name, _ in present] != sorted(expected):
        return False
    return all(hash_file(path)[0] == expected[name] for name, path in present)
