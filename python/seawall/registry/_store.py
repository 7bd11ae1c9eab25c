"""The content-addressed artifact store: bytes are kept under their SHA-256, never overwritten.

Layout, on a local folder or an S3-compatible bucket (through pyarrow.fs)::

    <root>/objects/sha256/<first two hex digits>/<64 hex digits>
    <root>/tmp/                      (uploads in progress)

What makes it safe:

* Writes are atomic. Locally the bytes go to a temporary file, are fsynced, and are renamed onto
  the object's name; on S3 an object is uploaded under a temporary key and moved into place, so
  a reader never sees part of an object. An object already present is verified first: if it is
  intact it is kept (the same hash means the same bytes); if it was corrupted, the new copy
  replaces it. A name once stored never holds other bytes, so nothing stored is lost.
* Every read verifies the hash and raises IntegrityError on a mismatch; nothing unverified is
  returned or left at a destination.
* The names users give files (artifact paths in a run, files of a bundle) live in the database,
  never in the store's own paths; they are checked by :func:`check_name` (relative, no ``..``,
  no empty parts) and local sources and destinations must not be symlinks.
* A process killed in the middle of an upload leaves its temporary behind; opening a registry
  removes those (:meth:`ArtifactStore.clean_temporaries`) once they are older than
  ``STALE_TEMPORARY_S``. Locally each upload holds an exclusive ``flock`` on its temporary for
  its whole life, and a locked one is never removed, however old. On S3 a temporary object
  exists only between the end of its upload and its move into place; an upload killed before
  its end leaves an incomplete multipart upload instead, which the bucket's
  AbortIncompleteMultipartUpload lifecycle rule removes.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import stat
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

try:
    import fcntl
except ImportError:  # Windows: temporaries are judged by age alone
    fcntl = None  # type: ignore[assignment]

from .._files import fsync_dir
from ..errors import IntegrityError, InvalidInputError, NotFoundError
from ._db import seawall_home

CHUNK = 1 << 20
# A temporary upload older than this (seconds, by its last write), and not locked by a live
# upload, was left by a killed process: opening a registry removes it.
STALE_TEMPORARY_S = 3600.0
_TEMPORARY_PREFIX = "put-"

log = logging.getLogger("seawall.registry")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")

# Test hooks: a name -> callable fired at points where a crash must leave the store consistent.
HOOKS: dict[str, Callable[[], None]] = {}


def fire(point: str) -> None:
    hook = HOOKS.get(point)
    if hook is not None:
        hook()


def check_name(name: Any, what: str = "artifact name") -> str:
    """A stored file's name: a relative POSIX path that cannot leave the folder it is put in."""
    if not isinstance(name, str):
        raise InvalidInputError(f"{what} must be a string, got {type(name).__name__}")
    if not name or len(name) > 1024:
        raise InvalidInputError(f"{what} must have 1 to 1024 characters, got {len(name)}")
    if any(ord(c) < 32 or c == "\x7f" for c in name):
        raise InvalidInputError(f"{what} {name!r} contains a control character")
    if any(0xD800 <= ord(c) <= 0xDFFF for c in name):
        raise InvalidInputError(f"{what} {name!r} contains a lone surrogate, which is not text")
    if "\\" in name:
        raise InvalidInputError(f"{what} {name!r} contains a backslash: use '/' between folders")
    if name.startswith("/") or _WINDOWS_DRIVE.match(name):
        raise InvalidInputError(f"{what} {name!r} is an absolute path: names are relative")
    parts = name.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise InvalidInputError(
            f"{what} {name!r} has an empty, '.' or '..' part: names stay inside the store"
        )
    return name


def _check_sha(sha256: str) -> str:
    if not isinstance(sha256, str) or not _HEX64.match(sha256):
        raise InvalidInputError(f"not a SHA-256 hex digest: {sha256!r}")
    return sha256


def _key(sha256: str) -> str:
    return f"objects/sha256/{sha256[:2]}/{sha256}"


def hash_file(path: str | os.PathLike[str]) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with _open_regular(Path(path)) as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def _open_regular(path: Path) -> BinaryIO:
    """Opens a regular file for reading, refusing symlinks (O_NOFOLLOW) and anything else."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise NotFoundError(f"no such file: {path}") from None
    except OSError as exc:
        if os.path.islink(path):
            raise InvalidInputError(f"{path} is a symlink: only regular files are stored") from None
        raise exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise InvalidInputError(f"{path} is not a regular file")
    return os.fdopen(fd, "rb")


def walk_files(root: str | os.PathLike[str]) -> list[tuple[str, Path]]:
    """(name, path) of every file under a folder, names relative with '/', sorted.

    Symlinks anywhere (to files or folders) and special files are refused: a stored tree is
    exactly the regular files the user wrote, and cannot point outside itself.
    """
    base = Path(root)
    if base.is_symlink():
        raise InvalidInputError(f"{base} is a symlink: pass the folder itself")
    if not base.is_dir():
        raise NotFoundError(f"no such folder: {base}")
    out: list[tuple[str, Path]] = []
    for folder, dirs, files in os.walk(base, followlinks=False):
        for entry in [*dirs, *files]:
            path = Path(folder) / entry
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                raise InvalidInputError(
                    f"{path} is a symlink: a stored folder holds regular files only"
                )
            if entry in files and not stat.S_ISREG(mode):
                raise InvalidInputError(f"{path} is not a regular file")
        for entry in files:
            path = Path(folder) / entry
            name = path.relative_to(base).as_posix()
            out.append((check_name(name, "file name"), path))
    out.sort()
    return out


def safe_destination(root: Path, name: str) -> Path:
    """root/name, refusing a name or an existing folder on the way that would leave root."""
    check_name(name)
    target = root.joinpath(*PurePosixPath(name).parts)
    real_root = os.path.realpath(root)
    probe = root
    for part in PurePosixPath(name).parts[:-1]:
        probe = probe / part
        if probe.is_symlink():
            raise InvalidInputError(f"{probe} is a symlink: refusing to write through it")
    if target.is_symlink():
        raise InvalidInputError(f"{target} is a symlink: refusing to write through it")
    if os.path.commonpath([real_root, os.path.realpath(target.parent)]) != real_root:
        raise InvalidInputError(f"{name!r} would be written outside {root}")
    return target


class ArtifactStore:
    """Bytes by SHA-256 on a local folder (default ``$SEAWALL_HOME/artifacts``) or any
    pyarrow.fs URI (``s3://bucket/prefix?endpoint_override=...&region=...``). A local folder is
    created unless ``create=False`` (a reader: a missing folder then just holds no objects)."""

    def __init__(self, uri: str | os.PathLike[str] | None = None, *, create: bool = True) -> None:
        if uri is None:
            uri = os.environ.get("SEAWALL_ARTIFACTS_URI") or None
        if uri is None:
            uri = seawall_home() / "artifacts"
        text = os.fspath(uri)
        self._fs: Any = None
        if "://" in text and not text.startswith("file://"):
            from pyarrow import fs as pafs

            try:
                self._fs, path = pafs.FileSystem.from_uri(text)
            except Exception as exc:  # pyarrow raises ArrowInvalid, OSError... by backend
                raise InvalidInputError(f"cannot open artifact store {text!r}: {exc}") from None
            self._base = path.rstrip("/")
            self.uri = text
        else:
            if text.startswith("file://"):
                text = text[len("file://") :]
            self._root = Path(text).expanduser().absolute()
            if create:
                (self._root / "objects" / "sha256").mkdir(parents=True, exist_ok=True)
                (self._root / "tmp").mkdir(parents=True, exist_ok=True)
            self.uri = str(self._root)

    @property
    def is_local(self) -> bool:
        return self._fs is None

    def __repr__(self) -> str:
        return f"ArtifactStore({self.uri!r})"

    # --- listing and removing objects (only garbage collection removes: see _gc.py) -----------

    def list_objects(self) -> Iterator[tuple[str, int, float]]:
        """(sha256, size, modification time) of every object, in no particular order. Files
        that are not objects at their own key (other names, misplaced files) are left out."""
        if self._fs is None:
            try:
                prefixes = [e for e in os.scandir(self._root / "objects" / "sha256")]
            except FileNotFoundError:
                return
            for prefix in prefixes:
                if not prefix.is_dir(follow_symlinks=False):
                    continue
                for entry in os.scandir(prefix.path):
                    if _HEX64.match(entry.name) and entry.name[:2] == prefix.name:
                        st = entry.stat(follow_symlinks=False)
                        if stat.S_ISREG(st.st_mode):
                            yield entry.name, st.st_size, st.st_mtime
            return
        from pyarrow import fs as pafs

        top = f"{self._base}/objects/sha256"
        selector = pafs.FileSelector(top, recursive=True, allow_not_found=True)
        for info in self._fs.get_file_info(selector):
            name = info.base_name
            if (
                info.type == pafs.FileType.File
                and _HEX64.match(name)
                and info.path == f"{self._base}/{_key(name)}"
            ):
                yield name, info.size, info.mtime.timestamp()

    def object_size(self, sha: str) -> int | None:
        """The object's size in bytes, None when it is not there."""
        _check_sha(sha)
        if self._fs is None:
            try:
                return os.stat(self._root / _key(sha), follow_symlinks=False).st_size
            except FileNotFoundError:
                return None
        from pyarrow import fs as pafs

        info = self._fs.get_file_info(f"{self._base}/{_key(sha)}")
        return int(info.size) if info.type == pafs.FileType.File else None

    def remove_object(self, sha: str) -> bool:
        """Removes an object; False when it was not there. Only garbage collection calls this,
        for objects nothing references (see _gc.py)."""
        _check_sha(sha)
        if self._fs is None:
            try:
                os.unlink(os.path.join(self._root, _key(sha)))  # a str join: 100,000s of these
            except FileNotFoundError:
                return False
            return True
        try:
            self._fs.delete_file(f"{self._base}/{_key(sha)}")
        except FileNotFoundError:
            return False
        return True

    # --- writing ------------------------------------------------------------------------------

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        sha = hashlib.sha256(data).hexdigest()
        if self.exists_intact(sha):
            return sha, len(data)
        return self.put_chunks([data], expected=sha)

    def put_file(self, path: str | os.PathLike[str]) -> tuple[str, int]:
        """Stores a regular file's bytes; returns (sha256, size)."""
        source = Path(path)

        def chunks() -> Iterator[bytes]:
            with _open_regular(source) as src:
                while chunk := src.read(CHUNK):
                    yield chunk

        if self._fs is None:
            # One pass: copy into the store's tmp folder while hashing, then verify the name.
            return self.put_chunks(chunks())
        sha, size = hash_file(source)
        if self.exists_intact(sha):
            return sha, size
        return self.put_chunks(chunks(), expected=sha)

    def put_chunks(self, chunks: Iterable[bytes], expected: str | None = None) -> tuple[str, int]:
        """Stores the bytes of `chunks` (read once, never held whole); returns (sha256, size).
        With `expected`, bytes that hash to anything else are IntegrityError and nothing is
        stored."""
        with self.writer(expected) as out:
            for chunk in chunks:
                out.write(chunk)
            return out.commit()

    def writer(self, expected: str | None = None) -> ObjectWriter:
        """An :class:`ObjectWriter` for one object, written piece by piece (an upload as it
        arrives); use it as a context manager, which removes the temporary unless committed."""
        if expected is not None:
            _check_sha(expected)
        return ObjectWriter(self, expected)

    @contextmanager
    def _temporary(self) -> Iterator[tuple[int, Path]]:
        """A new file under tmp/, locked by this process until it is placed or removed (so that
        :meth:`clean_temporaries` never takes it), and removed if the write fails."""
        fd, name = tempfile.mkstemp(dir=self._root / "tmp", prefix=_TEMPORARY_PREFIX)
        tmp = Path(name)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            yield fd, tmp
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        finally:
            os.close(fd)  # releases the lock

    def _place_local(self, fd: int, tmp: Path, sha: str) -> None:
        os.fsync(fd)
        os.chmod(tmp, 0o444)
        final = self._root / _key(sha)
        final.parent.mkdir(parents=True, exist_ok=True)
        fire("store:before_rename")
        # Only reached when no intact object has this name: replacing is writing the same
        # bytes, or repairing a corrupted copy.
        os.replace(tmp, final)
        fsync_dir(final.parent)

    def clean_temporaries(
        self, older_than: float = STALE_TEMPORARY_S, dry_run: bool = False
    ) -> list[str]:
        """Removes temporary uploads that killed processes left: those whose last write is
        older than `older_than` seconds and (locally) that no live upload holds locked.
        Returns their names (with `dry_run`, those it would remove, removing none). Failures
        (a read-only store) are logged and skipped."""
        if self._fs is None:
            return self._clean_local(older_than, dry_run)
        from pyarrow import fs as pafs

        removed = []
        now = time.time()
        try:
            found = self._fs.get_file_info(
                pafs.FileSelector(f"{self._base}/tmp", allow_not_found=True)
            )
        except OSError as exc:
            log.debug("cannot list the temporaries of %s: %s", self.uri, exc)
            return []
        for info in found:
            if info.type != pafs.FileType.File or info.mtime is None:
                continue
            if now - info.mtime.timestamp() < older_than:
                continue
            try:
                if not dry_run:
                    self._fs.delete_file(info.path)
            except OSError as exc:
                log.debug("cannot remove the temporary %s: %s", info.path, exc)
                continue
            removed.append(info.base_name)
        return removed

    def _clean_local(self, older_than: float, dry_run: bool) -> list[str]:
        removed = []
        now = time.time()
        try:
            entries = [
                e for e in os.scandir(self._root / "tmp") if e.name.startswith(_TEMPORARY_PREFIX)
            ]
        except OSError:  # no tmp folder (a reader of a store not made yet): nothing to clean
            return []
        for entry in entries:
            try:
                fd = os.open(entry.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            except OSError:
                continue  # gone already (placed or cleaned), or not ours to open
            try:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode) or now - st.st_mtime < older_than:
                    continue
                if fcntl is not None:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except OSError:
                        continue  # a live upload holds it
                # Still the file under that name? Its writer may have moved it into place.
                if os.stat(entry.path, follow_symlinks=False).st_ino != st.st_ino:
                    continue
                if not dry_run:
                    os.unlink(entry.path)
                removed.append(entry.name)
            except OSError as exc:
                log.debug("cannot remove the temporary %s: %s", entry.path, exc)
            finally:
                os.close(fd)
        return removed

    # --- reading ------------------------------------------------------------------------------

    def _chunks(self, sha: str) -> Iterator[bytes]:
        if self._fs is None:
            path = self._root / _key(sha)
            try:
                fh = _open_regular(path)
            except NotFoundError:
                raise NotFoundError(f"artifact object {sha} is missing from {self.uri}") from None
            except InvalidInputError as exc:
                raise IntegrityError(f"artifact object {sha}: {exc}") from None
            with fh:
                while chunk := fh.read(CHUNK):
                    yield chunk
        else:
            try:
                stream = self._fs.open_input_stream(f"{self._base}/{_key(sha)}")
            except FileNotFoundError:
                raise NotFoundError(f"artifact object {sha} is missing from {self.uri}") from None
            with stream:
                while chunk := stream.read(CHUNK):
                    yield bytes(chunk)

    def exists(self, sha: str) -> bool:
        """True when the object is present (a cheap check: its bytes are not read)."""
        _check_sha(sha)
        if self._fs is None:
            path = self._root / _key(sha)
            return path.is_file() and not path.is_symlink()
        from pyarrow import fs as pafs

        info = self._fs.get_file_info(f"{self._base}/{_key(sha)}")
        return bool(info.type == pafs.FileType.File)

    def exists_intact(self, sha: str) -> bool:
        """True when the object is present and its bytes hash to its name."""
        _check_sha(sha)
        h = hashlib.sha256()
        try:
            for chunk in self._chunks(sha):
                h.update(chunk)
        except (NotFoundError, IntegrityError):
            return False
        return h.hexdigest() == sha

    def get_bytes(self, sha: str) -> bytes:
        """The object's bytes, verified; IntegrityError if they do not hash to `sha`."""
        _check_sha(sha)
        data = b"".join(self._chunks(sha))
        if hashlib.sha256(data).hexdigest() != sha:
            raise IntegrityError(
                f"artifact object {sha} in {self.uri} is corrupted: its bytes hash to "
                f"{hashlib.sha256(data).hexdigest()}"
            )
        return data

    def copy_to(self, sha: str, dest: Path) -> None:
        """Writes the object to `dest` atomically, only once its hash verified."""
        _check_sha(sha)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
        try:
            h = hashlib.sha256()
            with os.fdopen(fd, "wb") as out:
                for chunk in self._chunks(sha):
                    h.update(chunk)
                    out.write(chunk)
            if h.hexdigest() != sha:
                raise IntegrityError(
                    f"artifact object {sha} in {self.uri} is corrupted: its bytes hash to "
                    f"{h.hexdigest()}"
                )
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def local_path(self, sha: str) -> Path:
        """Where a local store keeps an object (for tests and repair tools)."""
        if self._fs is not None:
            raise InvalidInputError("this artifact store is not a local folder")
        return self._root / _key(_check_sha(sha))


class ObjectWriter:
    """One object being written: each piece is hashed and written to a temporary as it comes
    (locally under ``tmp/``, locked; on S3 a temporary key), and :meth:`commit` puts it in
    place under its hash, or keeps an intact copy already there. Nothing is stored unless
    committed, and a hash other than the one expected is IntegrityError."""

    def __init__(self, store: ArtifactStore, expected: str | None) -> None:
        self._store = store
        self._expected = expected
        self._hash = hashlib.sha256()
        self.size = 0
        self._done = False
        self._stack = ExitStack()
        if store._fs is None:
            self._fd, self._tmp = self._stack.enter_context(store._temporary())
            self._out: Any = self._stack.enter_context(os.fdopen(self._fd, "wb", closefd=False))
        else:
            self._key = f"{store._base}/tmp/{uuid.uuid4().hex}"
            self._out = store._fs.open_output_stream(self._key)

    def write(self, data: bytes | memoryview) -> None:
        self._hash.update(data)
        self.size += len(data)
        self._out.write(data)
        fire("store:writing")

    @property
    def sha256(self) -> str:
        """The SHA-256 of the bytes written so far."""
        return self._hash.hexdigest()

    def commit(self) -> tuple[str, int]:
        """Checks the hash and puts the object in place; returns (sha256, size)."""
        store, sha = self._store, self._hash.hexdigest()
        if self._expected is not None and sha != self._expected:
            raise IntegrityError(
                f"the {self.size} bytes received hash to {sha}, not to {self._expected}: the "
                "upload was corrupted or cut short, and nothing was stored"
            )
        if store._fs is None:
            self._out.flush()
            if store.exists_intact(sha):
                self._tmp.unlink()
            else:
                store._place_local(self._fd, self._tmp, sha)
        else:
            self._out.close()
            if store.exists_intact(sha):
                store._fs.delete_file(self._key)
            else:
                fire("store:before_rename")
                store._fs.move(self._key, f"{store._base}/{_key(sha)}")
                if not store.exists_intact(sha):
                    raise IntegrityError(f"object {sha} did not verify after upload to {store.uri}")
        self._done = True
        self._stack.close()
        return sha, self.size

    def abort(self) -> None:
        """Drops what was written (a no-op once committed)."""
        if self._done:
            return
        self._done = True
        if self._store._fs is None:
            self._tmp.unlink(missing_ok=True)
        else:
            try:
                self._out.close()
                self._store._fs.delete_file(self._key)
            except Exception:  # already gone or never written: nothing to clean
                pass
        self._stack.close()

    def __enter__(self) -> ObjectWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.abort()


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
