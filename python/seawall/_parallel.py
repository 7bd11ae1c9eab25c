"""Running independent pieces of work on threads: the native calls inside release the GIL."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def map_in_threads(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """[fn(x) for x in items] on up to seawall.get_num_threads() threads, results in order.

    map yields in submission order, so when several items fail, the error raised is the first
    failing item's in that order: the same error on any machine.
    """
    from ._core import num_threads

    workers = max(1, min(num_threads(), len(items), os.cpu_count() or 1))
    if workers == 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="seawall") as pool:
        return list(pool.map(fn, items))
