"""Hot swap: a server started on ``models:/NAME@ALIAS`` follows the alias.

A thread asks the registry every ``interval_s`` which version the alias points to. When it moves,
the new version's bundle is loaded and a new batcher started *beside* the old one; then the
server's table of models switches to it in one assignment. Requests that already hold the old
model finish on it (its batcher drains before it closes), and a request that reaches the old
batcher after it closed is passed on to the new one, so no request is dropped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("seawall.serving")

__all__ = ["AliasWatcher"]


class AliasWatcher:
    """Calls ``on_change(version)`` when `uri`'s version differs from `version`."""

    def __init__(
        self,
        registry: Any,
        uri: str,
        version: int,
        on_change: Callable[[int], None],
        interval_s: float = 2.0,
    ) -> None:
        self.registry = registry
        self.uri = uri
        self.version = version
        self.on_change = on_change
        self.interval_s = interval_s
        self.swaps = 0
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="seawall-hot-swap", daemon=True)
        self._thread.start()

    def check_now(self) -> bool:
        """One look at the registry; True when it swapped."""
        current = int(self.registry.resolve(self.uri).version)
        if current == self.version:
            return False
        self.on_change(current)
        self.version = current
        self.swaps += 1
        return True

    def close(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=60)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.check_now()
            except Exception:  # the registry may be briefly unreachable: keep serving, retry
                self.errors += 1
                log.exception(
                    "hot swap: could not follow %s; still serving version %s",
                    self.uri,
                    self.version,
                )
