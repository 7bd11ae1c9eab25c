"""Hot swap: a server started on ``models:/NAME@ALIAS`` follows the alias.

A thread asks the registry every ``interval_s`` which version the alias points to. When it moves,
the new version's bundle is loaded and a new batcher started *beside* the old one; then the
server's table of models switches to it in one assignment. Requests that already hold the old
model finish on it (its batcher drains before it closes), and a request that reaches the old
batcher after it closed is passed on to the new one, so no request is dropped.

A version that does not load (a model file that fails to unpickle, an artifact store that is
down) leaves the old version serving. The failure is logged once, with its traceback, and the
load is retried with back-off: after the k-th failure the watcher lets ``2**k - 1`` polls go by
(at most ``max_backoff_s`` worth), while it goes on asking every poll where the alias points. A
registry that cannot be reached is logged once, and again when it answers.

A registry that pushes events (``registry.pushes_events``: PostgreSQL's LISTEN/NOTIFY, or a
client of ``seawall server`` that streams them) is followed through them: the watcher waits for
the model's alias and version events (``registry.wait_for_events``) and looks where the alias
points as soon as one arrives, so a move is served within a fraction of a second; it still looks
every ``interval_s`` when none comes. Otherwise (a SQLite file) it polls, every ``interval_s``.
``events=True`` follows events whenever the registry has ``wait_for_events`` (on SQLite, a short
poll of the events table inside the registry); ``events=False`` always polls.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import InvalidInputError

log = logging.getLogger("seawall.serving")

__all__ = ["AliasWatcher", "signature_changes"]


class AliasWatcher:
    """Calls ``on_change(version)`` when `uri`'s version differs from `version`.

    ``on_change`` loads and serves the version; when it raises, the watcher keeps the version it
    had and retries with back-off (see the module's docstring). ``swaps`` and ``failures``
    count successful swaps and failed loads, ``checks`` the polls, ``errors`` the polls whose
    registry lookup failed. ``events`` says whether it follows the registry's events (see the
    module's docstring).
    """

    def __init__(
        self,
        registry: Any,
        uri: str,
        version: int,
        on_change: Callable[[int], None],
        interval_s: float = 2.0,
        max_backoff_s: float = 60.0,
        events: bool | None = None,
    ) -> None:
        self.registry = registry
        self.uri = uri
        self.version = version
        self.on_change = on_change
        self.interval_s = interval_s
        self.max_backoff_s = max_backoff_s
        self.checks = 0
        self.swaps = 0
        self.failures = 0
        self.errors = 0
        self._failing: int | None = None  # the version that did not load, while the alias is on it
        self._attempts = 0  # failed loads of that version
        self._skip = 0  # polls to let go by before the next attempt
        self._unreachable = False
        self._stop = threading.Event()
        self.events = _follows_events(registry, events)
        run = self._follow_events if self.events else self._run
        self._thread = threading.Thread(target=run, name="seawall-hot-swap", daemon=True)
        self._thread.start()

    def check_now(self) -> bool:
        """One poll: True when it swapped. A version that does not load is logged and retried
        later (False); an error asking the registry where the alias points is raised."""
        self.checks += 1
        current = int(self.registry.resolve(self.uri).version)
        if current == self.version:
            self._failing = None  # the alias came back: nothing is pending
            return False
        if current == self._failing and self._skip > 0:
            self._skip -= 1
            return False
        try:
            self.on_change(current)
        except Exception as exc:
            self._failed(current, exc)
            return False
        if current == self._failing:
            log.info(
                "hot swap: version %s of %s loads now, after %d failed attempt(s)",
                current,
                self.uri,
                self._attempts,
            )
        self._failing = None
        self.version = current
        self.swaps += 1
        return True

    def _failed(self, version: int, exc: Exception) -> None:
        self.failures += 1
        if version != self._failing:
            self._failing, self._attempts = version, 0
            log.error(
                "hot swap: %s points to version %s, which does not load: %s; still serving "
                "version %s, retrying with back-off (up to every %gs)",
                self.uri,
                version,
                exc,
                self.version,
                max(self.max_backoff_s, self.interval_s),
                exc_info=exc,
            )
        else:
            log.debug("hot swap: version %s of %s still does not load: %s", version, self.uri, exc)
        self._back_off()

    def retry_later(self, version: int) -> None:
        """Records that `version` did not load on a first attempt made (and logged) elsewhere:
        the watcher retries it with back-off, as if its own attempt had failed."""
        self.failures += 1
        self._failing, self._attempts = version, 0
        self._back_off()

    def _back_off(self) -> None:
        self._attempts += 1
        most = math.ceil(self.max_backoff_s / self.interval_s) - 1 if self.interval_s > 0 else 0
        self._skip = max(0, min(2 ** min(self._attempts, 62) - 1, most))

    def close(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=60)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._check_logged()

    def _check_logged(self) -> bool:
        """One check; an error asking the registry is counted and logged (once), not raised.
        Whether the registry answered."""
        try:
            self.check_now()
        except Exception as exc:  # the registry may be briefly unreachable: keep serving
            self._unanswered(exc)
            return False
        self._answered()
        return True

    def _unanswered(self, exc: Exception) -> None:
        self.errors += 1
        if not self._unreachable:
            self._unreachable = True
            log.warning(
                "hot swap: cannot ask the registry where %s points (%s); still serving "
                "version %s, asking again every %gs",
                self.uri,
                exc,
                self.version,
                self.interval_s,
            )

    def _answered(self) -> None:
        if self._unreachable:
            self._unreachable = False
            log.info("hot swap: the registry answers again for %s", self.uri)

    def _follow_events(self) -> None:
        """Waits for the model's events in short slices (so that close() is quick), and checks
        on each event, or every ``interval_s`` when none comes."""
        resource = f"models/{_model_name(self.uri)}"
        cursor: int | None = None
        last_check = -math.inf
        while not self._stop.is_set():
            try:
                newest = int(self.registry.last_event_id())
                if cursor is None:
                    cursor = newest
                    last_check = -math.inf  # what moved before we followed: look at once
                found = self.registry.wait_for_events(
                    cursor,
                    types=_FOLLOWED,
                    resource=resource,
                    timeout_s=min(self.interval_s, _EVENT_SLICE_S),
                )
            except Exception as exc:
                self._unanswered(exc)
                self._stop.wait(self.interval_s)
                continue
            # Past what was read; when nothing matched, past every event committed before the
            # wait (ids increase in commit order), so other models' events are not read again.
            cursor = int(found[-1].id) if found else max(cursor, newest)
            if self._stop.is_set():
                return
            if found or time.monotonic() - last_check >= self.interval_s:
                last_check = time.monotonic()
                self._check_logged()


# What moves an alias or "latest": the events a watcher follows, and how long one wait lasts.
_FOLLOWED = ("alias.*", "model_version.*")
_EVENT_SLICE_S = 0.25


def _follows_events(registry: Any, wanted: bool | None) -> bool:
    offered = callable(getattr(registry, "wait_for_events", None)) and callable(
        getattr(registry, "last_event_id", None)
    )
    if wanted is None:
        return offered and bool(getattr(registry, "pushes_events", False))
    if wanted and not offered:
        raise InvalidInputError(
            f"events=True needs a registry with wait_for_events and last_event_id: {registry!r}"
        )
    return bool(wanted)


def _model_name(uri: str) -> str:
    """NAME of ``models:/NAME@ALIAS``, ``models:/NAME/latest`` or ``models:/NAME/3``."""
    rest = uri.removeprefix("models:/")
    for sep in ("@", "/"):
        rest = rest.split(sep, 1)[0]
    return rest


def signature_changes(old: Any, new: Any) -> list[str]:
    """What differs between two bundle signatures, in words: inputs and outputs added, removed,
    or of another datatype or shape (empty when they are the same)."""
    changes: list[str] = []
    for kind, before, after in (
        ("input", old.inputs, new.inputs),
        ("output", old.outputs, new.outputs),
    ):
        changes += _spec_changes(kind, before, after)
    return changes


def _spec_changes(kind: str, before: Sequence[Any], after: Sequence[Any]) -> list[str]:
    old = {s.name: s for s in before}
    new = {s.name: s for s in after}
    out = [f"{kind} {name!r} added" for name in new if name not in old]
    out += [f"{kind} {name!r} removed" for name in old if name not in new]
    for name in (n for n in old if n in new):
        a, b = old[name], new[name]
        if (a.datatype, tuple(a.shape)) != (b.datatype, tuple(b.shape)):
            out.append(
                f"{kind} {name!r} {a.datatype}{list(a.shape)} -> {b.datatype}{list(b.shape)}"
            )
    return out
