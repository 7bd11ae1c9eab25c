"""Where tasks run: threads or processes of this machine, or a Ray cluster.

An executor runs module-level functions on picklable arguments and reports as each finishes.
Arguments given as :meth:`Executor.put` handles, or as the output handles of an earlier job,
reach the task as their values; on Ray they move between workers through the object store
without passing through this process.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import InvalidInputError, MissingDependencyError

__all__ = ["Executor", "Job", "make_executor"]

RAY_HINT = 'install Ray with: pip install "seawall[ray]"'


class Job:
    """One submitted task. A task with outputs returns (output, ..., result): the outputs can be
    handed on to other tasks (:meth:`Executor.output_handles`) without reading them here."""

    def __init__(self, handle: Any, num_outputs: int, outputs: list[Any] | None = None) -> None:
        self.handle = handle
        self.num_outputs = num_outputs
        self.outputs = outputs


class Executor:
    """Runs ``fn(*args)`` somewhere; see the module's docstring."""

    name = "executor"
    num_workers = 1

    def put(self, value: Any) -> Any:
        """A handle on `value` to pass as a task argument."""
        return value

    def submit(
        self, fn: Callable[..., Any], args: Sequence[Any], num_outputs: int = 0, label: str = ""
    ) -> Job:
        raise NotImplementedError

    def wait(self, jobs: Sequence[Job], timeout: float | None) -> list[Job]:
        """The jobs among `jobs` that have finished, waiting up to `timeout` for one."""
        raise NotImplementedError

    def result(self, job: Job) -> Any:
        """The task's result (its last value, for a task with outputs); raises what it raised."""
        raise NotImplementedError

    def values(self, job: Job) -> list[Any]:
        """The values of the outputs of a job that finished."""
        raise NotImplementedError

    def output_handles(self, job: Job) -> list[Any]:
        """Handles on the outputs of a job that finished, to pass to other tasks."""
        return self.values(job)

    def map(self, fn: Callable[..., Any], arg_lists: Sequence[Sequence[Any]]) -> list[Any]:
        """fn over each argument list, in parallel; the results in order."""
        jobs = [self.submit(fn, args) for args in arg_lists]
        return [self.result(j) for j in jobs]

    def close(self, cancel: Sequence[Job] = ()) -> None:
        """Frees the workers; `cancel`: jobs to stop (an error stopped the caller)."""


class _PoolExecutor(Executor):
    def __init__(self, pool: cf.Executor, num_workers: int) -> None:
        self._pool = pool
        self.num_workers = num_workers

    def submit(
        self, fn: Callable[..., Any], args: Sequence[Any], num_outputs: int = 0, label: str = ""
    ) -> Job:
        return Job(self._pool.submit(fn, *args), num_outputs)

    def wait(self, jobs: Sequence[Job], timeout: float | None) -> list[Job]:
        by_future = {j.handle: j for j in jobs}
        done, _ = cf.wait(list(by_future), timeout=timeout, return_when=cf.FIRST_COMPLETED)
        return [by_future[f] for f in done]

    def result(self, job: Job) -> Any:
        value = job.handle.result()
        return value[-1] if job.num_outputs else value

    def values(self, job: Job) -> list[Any]:
        return list(job.handle.result()[:-1]) if job.num_outputs else []

    def close(self, cancel: Sequence[Job] = ()) -> None:
        for job in cancel:
            job.handle.cancel()
        # After an error (Ctrl-C...), do not wait for the tasks running now: they cannot be
        # stopped, and the error should reach the caller.
        self._pool.shutdown(wait=not cancel, cancel_futures=True)


class ThreadExecutor(_PoolExecutor):
    """Threads of this process: steps share its memory, and native kernels run in parallel
    (they release the GIL)."""

    name = "threads"

    def __init__(self, max_workers: int | None) -> None:
        n = max_workers or min(32, (os.cpu_count() or 1) + 4)
        super().__init__(cf.ThreadPoolExecutor(n, thread_name_prefix="seawall-step"), n)


class ProcessExecutor(_PoolExecutor):
    """Fresh Python processes, through loky (joblib's process pool): each worker is a new
    interpreter (fork and exec: nothing of this process's native thread pool is copied), which
    does not import the caller's ``__main__``, so a script without the
    ``if __name__ == "__main__":`` guard is not run again in every worker. Tasks travel with
    cloudpickle: functions of ``__main__`` (steps defined in the script) go by value, functions
    of importable modules by name."""

    name = "processes"

    def __init__(self, max_workers: int | None) -> None:
        import loky
        from loky.backend import get_context

        n = max_workers or os.cpu_count() or 1
        super().__init__(loky.ProcessPoolExecutor(n, context=get_context("loky")), n)

    def close(self, cancel: Sequence[Job] = ()) -> None:
        for job in cancel:
            job.handle.cancel()
        # After an error (Ctrl-C...), the workers are stopped, tasks running now included.
        pool: Any = self._pool  # loky's shutdown also takes kill_workers
        pool.shutdown(wait=not cancel, kill_workers=bool(cancel))


class RayExecutor(Executor):
    """Tasks on a Ray cluster: the one this process is connected to, else the one at `address`
    (``ray://host:port``), else the one ``ray.init()`` finds or starts (``RAY_ADDRESS``, or a
    local instance, left running for later calls in this process). Each task asks for one CPU,
    and independent tasks run in parallel. Functions reach the workers as Ray ships them: by
    module name when importable there (a module on the workers' path), else by value."""

    name = "ray"

    def __init__(self, address: str | None) -> None:
        ray = import_ray()
        if not ray.is_initialized():
            connect_ray(ray, address)
        self._ray = ray
        self._remote: dict[Callable[..., Any], Any] = {}
        self.num_workers = max(1, int(ray.cluster_resources().get("CPU", 1)))

    def put(self, value: Any) -> Any:
        return self._ray.put(value)

    def submit(
        self, fn: Callable[..., Any], args: Sequence[Any], num_outputs: int = 0, label: str = ""
    ) -> Job:
        remote = self._remote.get(fn)
        if remote is None:
            # Ray would retry a task whose worker died; steps have their own retries.
            remote = self._remote[fn] = self._ray.remote(max_retries=0)(fn)
        options: dict[str, Any] = {"num_returns": num_outputs + 1}
        if label:
            options["name"] = label
        refs = remote.options(**options).remote(*args)
        if num_outputs == 0:
            return Job(refs, 0)
        return Job(refs[-1], num_outputs, list(refs[:-1]))

    def wait(self, jobs: Sequence[Job], timeout: float | None) -> list[Job]:
        by_ref = {j.handle: j for j in jobs}
        done, _ = self._ray.wait(list(by_ref), num_returns=1, timeout=timeout, fetch_local=False)
        return [by_ref[r] for r in done]

    def result(self, job: Job) -> Any:
        return self._ray.get(job.handle)

    def values(self, job: Job) -> list[Any]:
        return list(self._ray.get(job.outputs or []))

    def output_handles(self, job: Job) -> list[Any]:
        return list(job.outputs or [])

    def map(self, fn: Callable[..., Any], arg_lists: Sequence[Sequence[Any]]) -> list[Any]:
        jobs = [self.submit(fn, args) for args in arg_lists]
        return list(self._ray.get([j.handle for j in jobs]))

    def close(self, cancel: Sequence[Job] = ()) -> None:
        for job in cancel:
            with contextlib.suppress(Exception):
                self._ray.cancel(job.handle)


# Ray Client's proxy starts a server process per connection, and now and then that process dies
# as it starts (seen: "Initialization failure from server ... ZombieProcess", about one connection
# in six on a loaded 2-core machine). A new connection gets a new process.
RAY_CLIENT_ATTEMPTS = 3


def connect_ray(ray: Any, address: str | None) -> None:
    attempts = RAY_CLIENT_ATTEMPTS if address and address.startswith("ray://") else 1
    for attempt in range(1, attempts + 1):
        try:
            ray.init(address=address, include_dashboard=False)
            return
        except ConnectionError:
            if attempt == attempts:
                raise
            time.sleep(0.5 * attempt)


def import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise MissingDependencyError(
            f"executor='ray' needs Ray, which is not installed: {RAY_HINT}"
        ) from exc
    return ray


def make_executor(executor: str, max_workers: int | None = None) -> Executor:
    """An executor by name: "threads" (or "local"), "processes", "ray", or "ray://host:port"."""
    if not isinstance(executor, str):
        raise InvalidInputError(
            f"executor must be 'threads', 'processes', 'ray' or a ray:// address, got {executor!r}"
        )
    if max_workers is not None and (
        isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1
    ):
        raise InvalidInputError(f"max_workers must be a positive integer, got {max_workers!r}")
    if executor in ("threads", "local"):
        return ThreadExecutor(max_workers)
    if executor == "processes":
        return ProcessExecutor(max_workers)
    if executor == "ray":
        return RayExecutor(None)
    if executor.startswith("ray://"):
        return RayExecutor(executor)
    raise InvalidInputError(
        f"executor must be 'threads', 'processes', 'ray' or a ray:// address, got {executor!r}"
    )
