"""The shadow arm answered in a worker process of its own, so that none of its work holds the
server's GIL.

The server's shadow workers (:class:`~seawall.serving.shadow.ShadowQueue`) gather blocks of
request copies as before, and hand each block to one worker process
(``python -m seawall.serving.shadow_process``): the copies' bodies, their options and, where the
shadow's feature pipeline is the one that made it, the answering arm's model input. The worker
process loads the shadow's bundle itself, under the server's trust rules (``trust_code``, every
file checked against its SHA-256), serves it behind a batcher of the server's settings, warms it
up, answers each block as the server would (:func:`~seawall.serving.shadow_answer.answer_copies`:
decoding, its pipeline, its model) and sends back the outputs. The server keeps what it did: the
arm's figures, the agreement with the primary's outputs and the payload log. What the server's
own threads still do per block is small: one pickle of the copies out, one of the outputs in,
and the figures.

The worker process runs only on CPU the server leaves idle (Linux's ``SCHED_IDLE``; elsewhere
the lowest ``nice``): on a machine short of CPU, the shadow falls behind, and its queue drops (and
counts) copies, rather than take CPU from the primary.

A hot swap of the shadow arm (its alias moved) reaches the worker with the next block: it loads
the new version first. A worker process that dies is counted (``restarts``), the block it held
is counted as failed, and a new one is started after a pause that doubles while they keep dying
(up to ``MAX_BACKOFF_S``; blocks meanwhile fail at once). Where the worker
cannot be started, or cannot load a version that the server could (a model whose class lives in
the server's ``__main__``, say), the shadow answers in the server's process, as with
``TrafficPolicy(shadow_process=False)``; this is logged once.

Messages both ways are length-prefixed pickles over the worker's stdin and stdout (the worker
sends everything else that writes to its stdout to its stderr). Pickles run code when loaded:
each side reads only what the other, a process of this server's own making, wrote.
"""

from __future__ import annotations

import logging
import os
import pickle
import struct
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Mapping
from typing import IO, Any

from .shadow_answer import Answer, Copy, answer_copies

__all__ = ["ShadowProcess"]

log = logging.getLogger("seawall.serving")

MAX_BACKOFF_S = 30.0  # the longest pause before a worker process is started again
NICE = 19  # where SCHED_IDLE is missing: the lowest CPU priority
_FIRST_BACKOFF_S = 0.5
_LENGTH = struct.Struct("<Q")


class WorkerDied(RuntimeError):
    """The shadow's worker process died while it held copies (or is being started again)."""


class ShadowProcess:
    """The worker process answering one shadow arm's blocks of copies (module docstring).

    ``answer(served, copies, timeout_us)`` is called by the server's shadow workers, one at a
    time; ``restarts`` counts the worker processes that died and were started again.
    """

    def __init__(self, name: str, trust_code: bool) -> None:
        self.name = name
        self.trust_code = trust_code
        self.restarts = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._loaded: Any = None  # the ServedModel whose version the worker serves
        self._in_server: weakref.WeakSet[Any] = weakref.WeakSet()  # versions it cannot load
        self._cannot_start = False
        self._loaded_once = False  # a worker process has loaded a version
        self._lock = threading.Lock()
        self._backoff_s = 0.0
        self._retry_at = 0.0
        self._closed = False

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    @property
    def version(self) -> str | None:
        """The shadow's version the worker process serves now (None: none yet)."""
        loaded = self._loaded
        return loaded.version if loaded is not None and self.pid is not None else None

    def prepare(self, served: Any) -> None:
        """Starts the worker and loads `served`'s version in it now (from a thread of the
        caller's), so that the first copies do not wait for it."""
        self.answer(served, [], 0)

    def answer(self, served: Any, copies: list[Copy], timeout_us: int) -> list[Answer] | None:
        """The worker's answers to `copies` with `served`'s version, each copy waiting at most
        `timeout_us` in its batcher; None when the worker cannot answer for that version (it
        cannot be started, or load it): the caller answers them itself."""
        with self._lock:
            if self._closed:
                return []  # stopping: copies are discarded, as those still queued
            if self._cannot_start or served in self._in_server:
                return None
            start = time.perf_counter()
            if self._proc is None:
                if time.monotonic() < self._retry_at:
                    return _failed(served, copies, WorkerDied("its worker process is restarting"))
                if not self._start():
                    return [] if self._closed else None
            try:
                if self._loaded is not served and not self._load(served):
                    return None
                if not copies:
                    return []
                key = served.features_key
                wire = [
                    (
                        c.endpoint,
                        c.body,
                        c.header_length,
                        c.options,
                        c.x if key is not None and c.features_key == key else None,
                    )
                    for c in copies
                ]
                reply = self._exchange(("answer", wire, timeout_us))
            except _Died as died:
                if self._closed:  # stopped by close(): its copies are discarded, as queued ones
                    return []
                error = WorkerDied(f"its worker process died ({died})")
                answers = _failed(served, copies, error, time.perf_counter() - start)
                self._died(str(died), served)
                return answers
            self._backoff_s = 0.0
            return [a._replace(served=served) for a in reply[1]]

    def close(self, timeout_s: float = 2.0) -> None:
        """Stops the worker process (killed if it does not stop within `timeout_s`); a shadow
        worker of the server's waiting for it gets its answer at once."""
        self._closed = True
        proc = self._proc
        if proc is None:
            return
        try:
            if proc.stdin is not None:
                proc.stdin.close()  # the worker's end of input: it stops
        except OSError:
            pass
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        _close_streams(proc)

    # --- the worker process's life -------------------------------------------------------------

    def _start(self) -> bool:
        env = dict(os.environ)
        # What this process imports (a bundle's model classes) imports there too.
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "seawall.serving.shadow_process"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
            )
        except OSError as exc:
            self._cannot_start = True
            log.warning(
                "traffic of %r: the shadow's worker process does not start (%s); the shadow "
                "answers in the server's process",
                self.name,
                exc,
            )
            return False
        if self._closed:  # closed meanwhile
            proc.kill()
            proc.wait()
            _close_streams(proc)
            return False
        self._proc = proc
        self._loaded = None
        return True

    def _load(self, served: Any) -> bool:
        """Loads `served`'s version in the worker; False (logged) when it cannot. A worker
        that dies before it ever loaded one is not started again: this interpreter cannot
        start one (the shadow answers on the server's threads)."""
        options = dict(served.batcher.options)
        path = str(served.bundle.path)
        message = ("load", path, served.name, served.version, self.trust_code, options)
        try:
            reply = self._exchange(message)
        except _Died as died:
            if self._loaded_once:
                raise
            self._cannot_start = True
            self._died(str(died), None)
            log.warning(
                "traffic of %r: the shadow's worker process ended before it loaded anything "
                "(%s); the shadow answers on the server's threads",
                self.name,
                died,
            )
            return False
        if reply[0] != "loaded":
            self._in_server.add(served)
            log.warning(
                "traffic of %r: the shadow's worker process cannot load version %s (%s); the "
                "shadow answers it on the server's threads",
                self.name,
                served.version,
                reply[1],
            )
            return False
        self._loaded = served
        self._loaded_once = True
        return True

    def _died(self, how: str, served: Any) -> None:
        """The worker process died: counted; a new one starts (and loads `served`'s version)
        after the back-off."""
        proc = self._proc
        self._proc = None
        self._loaded = None
        if proc is not None:
            proc.kill()
            proc.wait()
            _close_streams(proc)
        if self._closed or self._cannot_start:
            return
        self.restarts += 1
        self._backoff_s = min(MAX_BACKOFF_S, max(_FIRST_BACKOFF_S, 2 * self._backoff_s))
        self._retry_at = time.monotonic() + self._backoff_s
        log.warning(
            "traffic of %r: the shadow's worker process died (%s); its copies are counted as "
            "failed, a new one starts in %.1f s (restart %d)",
            self.name,
            how,
            self._backoff_s,
            self.restarts,
        )
        restart = threading.Timer(self._backoff_s, self.prepare, args=(served,))
        restart.daemon = True
        restart.start()

    def _exchange(self, message: Any) -> Any:
        proc = self._proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        try:
            _send(proc.stdin, message)
            reply = _receive(proc.stdout)
        except (OSError, ValueError) as exc:  # a broken pipe; a pipe closed under us
            reply = None
            how = str(exc)
        else:
            how = "its output ended"
        if reply is None:
            try:
                code = proc.wait(1.0)
            except subprocess.TimeoutExpired:
                code = None
            raise _Died(how if code is None else f"exit code {code}")
        return reply


class _Died(Exception):
    pass


def _close_streams(proc: subprocess.Popen[bytes]) -> None:
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            try:
                stream.close()
            except (OSError, ValueError):
                pass


def _failed(
    served: Any, copies: list[Copy], error: BaseException, seconds: float = 0.0
) -> list[Answer]:
    if not copies:
        return []
    return [Answer(list(range(len(copies))), None, None, error, seconds, served.version, served)]


def _send(stream: IO[bytes], message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LENGTH.pack(len(data)))
    stream.write(data)
    stream.flush()


def _receive(stream: IO[bytes]) -> Any:
    """The next message, None at the end of the stream."""
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (length,) = _LENGTH.unpack(head)
    data = stream.read(length)
    if len(data) < length:
        return None
    return pickle.loads(data)


# --- the worker process ---------------------------------------------------------------------------


def main() -> None:
    """The worker process: loads versions and answers blocks of copies until its input ends."""
    _yield_cpu_to_the_server()
    channel = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever else writes to stdout (a model printing) goes to stderr
    sys.stdout = sys.stderr
    requests = sys.stdin.buffer
    served: Any = None
    while True:
        message = _receive(requests)
        if message is None:
            break
        if message[0] == "load":
            try:
                new = _start_version(*message[1:])
            except Exception as exc:
                _send(channel, ("failed", f"{type(exc).__name__}: {exc}"))
                continue
            if served is not None:
                served.batcher.close(drain=False)
            served = new
            _send(channel, ("loaded",))
        else:
            _, wire, timeout_us = message
            copies = [_copy(served, *w) for w in wire]
            answers = answer_copies(served, copies, timeout_us)
            _send(channel, ("answers", [_portable(a) for a in answers]))
    if served is not None:
        served.batcher.close(drain=False)


def _yield_cpu_to_the_server() -> None:
    """Where CPU is short, the shadow falls behind (its copies dropped), not the primary."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))  # type: ignore[attr-defined,unused-ignore]
        return
    except (AttributeError, OSError):  # not Linux: the lowest nice instead
        pass
    try:
        os.nice(NICE)
    except (AttributeError, OSError):  # no nice here either: as the server
        pass


def _start_version(
    path: str, name: str, version: str | None, trust_code: bool, options: Mapping[str, Any]
) -> Any:
    from ..bundles import load_bundle
    from .served_model import ServedModel
    from .warmup import batch_sizes, warm_up

    served = ServedModel.start(load_bundle(path, trust_code=trust_code), name, version, options)
    try:
        warm_up(
            served, batch_sizes(served.max_batch_size, options.get("preferred_batch_sizes", ()))
        )
    except BaseException:
        served.batcher.close(drain=False)
        raise
    return served


def _copy(
    served: Any,
    endpoint: str,
    body: bytes,
    header_length: str | None,
    options: tuple[tuple[str, int], ...],
    x: Any,
) -> Copy:
    request = None
    if x is None and header_length is None:
        from .._server import bulk_json

        try:
            parsed = bulk_json.loads(body)
        except (ValueError, RecursionError):
            parsed = None  # decoded again alone: its error is the answer
        request = parsed if isinstance(parsed, dict) else None
    key = served.features_key if x is not None else None
    return Copy(endpoint, body, header_length, None, None, request, x, key, options)


def _portable(answer: Answer) -> Answer:
    """The answer as the server can read it: no ServedModel, the error as plain text."""
    error = answer.error
    if error is not None:
        error = RuntimeError(f"{type(error).__name__}: {error}")
    return answer._replace(error=error, served=None)


if __name__ == "__main__":
    main()
