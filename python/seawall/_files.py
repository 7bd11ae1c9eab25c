"""Writing files so that nothing a user stored is ever half written or lost."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from .errors import IntegrityError

# The process umask, read once at import (reading it means setting it, so not per call).
_UMASK = os.umask(0)
os.umask(_UMASK)


def write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Writes `data` to `path` atomically: afterwards the file is the old one or the new one.

    The bytes go to a temporary file beside the target, are flushed to disk, and replace the
    target in one rename. The new file keeps the old one's permissions, or gets the usual ones
    for a new file (0666 less the umask) rather than the temporary file's private 0600.
    """
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        mode = 0o666 & ~_UMASK
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fchmod(fh.fileno(), mode)
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Flushes a folder's entries (a rename into it) to disk, where the file system allows it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def json_digest(state: object) -> str:
    """The SHA-256 of `state`'s canonical JSON (sorted keys, no spaces): what a saved document
    carries so that reading it back detects any change. ValueError for NaN or infinities, which
    JSON cannot hold."""
    import hashlib
    import json

    canonical = json.dumps(
        state, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def verified_state(document: dict[str, object], source: str) -> dict[str, object]:
    """`document` without its ``sha256`` field, which must match :func:`json_digest` of the
    rest when present; IntegrityError naming `source` when it does not."""
    state = {k: v for k, v in document.items() if k != "sha256"}
    if "sha256" in document:
        try:
            digest = json_digest(state)
        except ValueError as exc:  # NaN or infinity: a saved document never holds them
            raise IntegrityError(f"{source} was modified or corrupted: {exc}") from exc
        if document["sha256"] != digest:
            raise IntegrityError(f"{source} was modified or corrupted: its SHA-256 does not match")
    return state
