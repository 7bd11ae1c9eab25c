"""The dynamic inference batcher: many concurrent requests, one model call per batch.

Requests from any number of threads (:meth:`Batcher.predict`, :meth:`Batcher.submit`) or from
asyncio (:meth:`Batcher.apredict`) are queued in native code, coalesced into one contiguous batch,
run through the model once, and split back to each caller. The scheduling follows NVIDIA Triton's
dynamic batcher; the queue, the copying of rows and the waiting happen in C++ without the GIL,
which is held only while the model itself is called.
"""

from __future__ import annotations

import asyncio
import operator
import threading
import weakref
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import Any

import numpy as np
import numpy.typing as npt

from .. import _core
from ..errors import DTypeError, InvalidInputError

__all__ = ["BatchResult", "Batcher"]

#: What a request gets back: its rows of the model's output (an array, or a dict of arrays).
BatchResult = np.ndarray | dict[str, np.ndarray]


class Batcher:
    """Batches concurrent inference requests into single model calls, as Triton's dynamic batcher.

    ``model`` is any callable taking one numpy array, a batch of shape ``(rows, *row_shape)``, and
    returning a numpy array whose first axis is those rows, or a dict of name to such arrays (for
    models with several outputs). It is called from the batcher's own threads, at most
    ``instances`` batches at a time, with the GIL held for the call only: a model that releases
    the GIL while it computes (onnxruntime, most numpy and PyTorch kernels) runs batches in
    parallel. The batch array is valid during the call; a model that keeps it (or a view of it)
    afterwards keeps its memory too, and the batcher allocates a fresh buffer.

    Requests: ``x`` is an array of rows, ``(n, *row_shape)`` with ``1 <= n <= max_batch_size``
    (a larger request is an :class:`~seawall.errors.InvalidInputError`: split it), or a single row
    of shape ``row_shape``, whose result then has no row axis either. Every request has the same
    dtype and row shape: given as ``dtype`` / ``row_shape``, or else fixed by the first request
    (a 1-d first request is one row; ``row_shape=()`` makes rows of one value). An array of another
    dtype is a :class:`~seawall.errors.DTypeError`, another row shape an
    :class:`~seawall.errors.InvalidInputError`, each naming what was expected; lists and scalars
    are converted with numpy's same-kind casting. Each request gets a view of its rows of the
    batch's output. The input array must not change until its request completes.

    Scheduling (Triton's dynamic batcher): an idle instance takes requests from the head of the
    queue, highest priority first and in arrival order within a priority, while their rows fit in
    ``max_batch_size``. It dispatches them at once when the batch is full (or the next request
    does not fit), otherwise when the oldest of them has waited ``max_queue_delay_us``; if the
    rows taken can form one of ``preferred_batch_sizes`` before then, the largest such batch goes
    at once. The default delay, 0, dispatches whatever is queued as soon as an instance is free,
    so batches form only while every instance is busy; a delay trades that latency for fuller
    batches.

    Priorities: ``0`` is the highest, ``priority_levels - 1`` the lowest (Triton counts from 1);
    requests without one get ``default_priority``, by default the lowest level, so only requests
    that ask go ahead of the others.

    Limits: with ``max_queue_size`` requests waiting, a new one is refused at once with
    :class:`~seawall.errors.QueueFullError` (``None``: no limit). A request still waiting after
    its timeout (``timeout_us``, else ``default_timeout_us``; ``None`` or 0: none) is removed and
    fails with :class:`~seawall.errors.RequestTimeoutError`: it is never run late, even while
    every instance is busy. An exception raised by the model fails exactly the requests of that
    batch, each with that same exception object, and the batcher goes on.

    Waiting: an idle instance, and a :meth:`predict` caller whose result is due within
    ``spin_us`` (judged from recent requests), poll for up to ``spin_us`` microseconds before
    they sleep, one of each at a time: waking a sleeping thread takes tens of microseconds on an
    idle virtual machine, more than the batcher's own work per request. ``spin_us=0`` never polls.

    Closing: :meth:`close` (also on leaving a ``with`` block) refuses new requests with
    :class:`~seawall.errors.BatcherClosedError` and runs what is queued at once, or with
    ``drain=False`` fails it with :class:`~seawall.errors.BatcherClosedError`; it returns when
    the batcher's threads have stopped. A batcher that is garbage collected, or still open when
    the interpreter exits, is closed with ``drain=False``.

    Example::

        with Batcher(model, max_batch_size=64, max_queue_delay_us=500) as batcher:
            y = batcher.predict(x)                # from any thread
            future = batcher.submit(x)            # a concurrent.futures.Future
            y = await batcher.apredict(x)         # from a coroutine
    """

    def __init__(
        self,
        model: Callable[[np.ndarray], Any],
        *,
        max_batch_size: int = 32,
        max_queue_delay_us: int = 0,
        preferred_batch_sizes: Iterable[int] = (),
        max_queue_size: int | None = None,
        default_timeout_us: int | None = None,
        priority_levels: int = 1,
        default_priority: int | None = None,
        instances: int = 1,
        dtype: npt.DTypeLike | None = None,
        row_shape: Iterable[int] | None = None,
        spin_us: int = 50,
    ) -> None:
        if not callable(model):
            raise DTypeError(f"model must be callable, got {type(model).__name__}")
        if isinstance(preferred_batch_sizes, (str, bytes)) or not isinstance(
            preferred_batch_sizes, Iterable
        ):
            raise DTypeError(
                f"preferred_batch_sizes must be a list of integers, got {preferred_batch_sizes!r}"
            )
        if row_shape is not None and (
            isinstance(row_shape, (str, bytes)) or not isinstance(row_shape, Iterable)
        ):
            raise DTypeError(f"row_shape must be a tuple of integers, got {row_shape!r}")
        if dtype is not None:
            try:
                dtype = np.dtype(dtype)
            except TypeError as exc:
                raise DTypeError(f"dtype {dtype!r} is not a numpy dtype: {exc}") from exc
        self._native = _core.Batcher(
            model,
            _integer("max_batch_size", max_batch_size),
            _integer("max_queue_delay_us", max_queue_delay_us),
            [_integer("preferred_batch_sizes", s) for s in preferred_batch_sizes],
            0 if max_queue_size is None else _integer("max_queue_size", max_queue_size),
            0 if default_timeout_us is None else _integer("default_timeout_us", default_timeout_us),
            _integer("priority_levels", priority_levels, bits=32),
            -1 if default_priority is None else _integer("default_priority", default_priority, 32),
            _integer("instances", instances, bits=32),
            _integer("spin_us", spin_us),
            dtype,
            None if row_shape is None else tuple(_integer("row_shape", d) for d in row_shape),
        )
        self._delivery = _Delivery()
        # Closes the batcher when it is garbage collected or, still open, at interpreter exit
        # (weakref.finalize runs its pending finalizers then), before any thread is torn down.
        self._finalizer = weakref.finalize(self, _shutdown, self._native, self._delivery, False)

    def predict(
        self, x: npt.ArrayLike, *, priority: int | None = None, timeout_us: int | None = None
    ) -> BatchResult:
        """Runs ``x`` in a batch and returns its rows of the model's output; blocks until then.

        Raises what the model raised, or :class:`~seawall.errors.QueueFullError`,
        :class:`~seawall.errors.RequestTimeoutError`, :class:`~seawall.errors.BatcherClosedError`.
        """
        return self._native.predict(x, priority, timeout_us)

    def submit(
        self, x: npt.ArrayLike, *, priority: int | None = None, timeout_us: int | None = None
    ) -> Future[BatchResult]:
        """Queues ``x`` and returns a future of its result, which is already running: it cannot
        be cancelled. A full queue or a closed batcher raises here, at once."""
        future: Future[BatchResult] = Future()
        future.set_running_or_notify_cancel()
        self._native.submit(x, priority, timeout_us, self._delivery.thread_channel(), future)
        return future

    async def apredict(
        self, x: npt.ArrayLike, *, priority: int | None = None, timeout_us: int | None = None
    ) -> BatchResult:
        """:meth:`predict` for coroutines: the event loop is not blocked while the batch runs.

        Results reach the loop through a pipe it watches, with no thread hop. Cancelling the
        awaiting task does not withdraw a request already queued; its result is dropped."""
        loop = asyncio.get_running_loop()
        channel = self._delivery.loop_channel(loop)
        if channel is None:  # a loop that cannot watch a file descriptor
            future = self.submit(x, priority=priority, timeout_us=timeout_us)
            return await asyncio.wrap_future(future)
        awaitable: asyncio.Future[BatchResult] = loop.create_future()
        self._native.submit(x, priority, timeout_us, channel, awaitable)
        return await awaitable

    def close(self, drain: bool = True) -> None:
        """Refuses new requests and, with ``drain``, runs the queued ones at once (without the
        queue delay); otherwise fails them with :class:`~seawall.errors.BatcherClosedError`.
        Returns once every request has completed and the batcher's threads have stopped."""
        if _shutdown(self._native, self._delivery, drain):
            self._finalizer.detach()

    @property
    def closed(self) -> bool:
        return bool(self._native.closed)

    def __enter__(self) -> Batcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def stats(self) -> dict[str, Any]:
        """Counters since the batcher was made, for monitoring (the keys are stable).

        - ``requests``: accepted into the queue. Once nothing is in progress,
          ``requests == completed + failed + timed_out + cancelled + queued + running``.
        - ``completed``: answered with the model's output.
        - ``rejected``: refused at once (queue full, or closed); not counted in ``requests``.
        - ``timed_out``: removed from the queue at their timeout.
        - ``failed``: in a batch whose model call raised (or returned a bad output).
        - ``cancelled``: failed by ``close(drain=False)``, or withdrawn by Ctrl-C in ``predict``.
        - ``queued``, ``running``: waiting, and in a batch being run, now.
        - ``batches``, ``failed_batches``: model calls, and those that raised.
        - ``rows``: rows sent to the model.
        - ``batch_size_histogram``: ``{rows in a batch: batches}``.
        - ``queue_wait_us``: per dispatched request, from queueing to its batch being taken;
          ``compute_us``: per batch, the model call (including taking the GIL). Each is a dict
          of ``count``, ``sum``, ``mean``, ``min``, ``max``, ``p50``, ``p90``, ``p99``
          (microseconds; quantiles from a KLL sketch, within about 2% in rank; all 0 while
          ``count`` is 0).
        - ``queue``, ``compute_input``, ``compute_infer``, ``compute_output``: Triton's
          inference statistics, each ``{"count", "ns"}`` (totals in nanoseconds). ``queue``
          counts each request whose batch was taken, with its wait; the others count each
          request of a batch that ran with that batch's phases: copying its rows in, the model
          call, and from the end of the call until the request's result was handed over
          (counted just after that, so a caller may see its result before it is counted).
        - ``batch_stats``: ``{rows in a batch: {"compute_input", "compute_infer",
          "compute_output"}}``, the same phases per batch, each ``{"count", "ns"}``.
        """
        return dict(self._native.stats())

    def reset_stats(self) -> None:
        """Sets :meth:`stats` back to zero, as if the batcher had just been made (requests
        queued or running now stay counted in ``requests``). The model server resets a batcher
        once its model's warm-up is over, so that its figures count served requests only."""
        self._native.reset_stats()

    @property
    def dtype(self) -> np.dtype[Any] | None:
        """The requests' dtype: given, or fixed by the first request (None until then)."""
        return self._native.dtype

    @property
    def row_shape(self) -> tuple[int, ...] | None:
        """The shape of one row: given, or fixed by the first request (None until then)."""
        return self._native.row_shape

    @property
    def max_batch_size(self) -> int:
        return int(self._native.max_batch_size)

    @property
    def instances(self) -> int:
        return int(self._native.instances)

    @property
    def options(self) -> dict[str, Any]:
        """The scheduling settings: ``max_batch_size``, ``max_queue_delay_us``,
        ``preferred_batch_sizes``, ``max_queue_size`` and ``default_timeout_us`` (0: none),
        ``priority_levels``, ``default_priority`` and ``instances``."""
        return dict(self._native.options)

    @property
    def priority_levels(self) -> int:
        return int(self._native.priority_levels)

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return (
            f"Batcher(max_batch_size={self.max_batch_size}, instances={self.instances}, "
            f"dtype={self.dtype}, row_shape={self.row_shape}, {state})"
        )


def _integer(name: str, value: object, bits: int = 64) -> int:
    """`value` as an int of the native core's width; the core checks each setting's range."""
    if isinstance(value, bool):
        raise DTypeError(f"{name} must be an integer, got a bool")
    try:
        out = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise DTypeError(f"{name} must be an integer, got {type(value).__name__}") from None
    if not -(2 ** (bits - 1)) <= out < 2 ** (bits - 1):
        raise InvalidInputError(f"{name} is out of range: {out}")
    return out


class _Delivery:
    """Hands completed submit()/apredict() results to their futures.

    submit(): one channel drained by a daemon thread, started on first use. apredict(): one
    channel per event loop, drained by that loop when the channel's pipe becomes readable.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._channel: _core.BatchChannel | None = None
        self._thread: threading.Thread | None = None
        self._loops: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, _core.BatchChannel | None
        ] = weakref.WeakKeyDictionary()

    def thread_channel(self) -> _core.BatchChannel:
        channel = self._channel
        if channel is None:
            with self._lock:
                if self._channel is None:
                    channel = _core.BatchChannel()
                    thread = threading.Thread(
                        target=_deliver_until_closed,
                        args=(channel,),
                        name="seawall-batcher-delivery",
                        daemon=True,
                    )
                    thread.start()
                    self._channel, self._thread = channel, thread
                channel = self._channel
        return channel

    def loop_channel(self, loop: asyncio.AbstractEventLoop) -> _core.BatchChannel | None:
        try:
            return self._loops[loop]
        except KeyError:
            pass
        with self._lock:
            self._forget_closed_loops()
            if loop not in self._loops:
                channel = _core.BatchChannel()
                try:
                    loop.add_reader(channel.fileno(), _deliver_ready, channel)
                    self._loops[loop] = channel
                except NotImplementedError:
                    self._loops[loop] = None
            return self._loops[loop]

    def _forget_closed_loops(self) -> None:
        """Drops the channels of closed event loops, with the results nobody can deliver there
        any more. Those hold their futures, which hold the loop, which keeps its channel in
        ``_loops``: a cycle through native code that the garbage collector cannot break."""
        for loop, channel in list(self._loops.items()):
            if loop.is_closed():
                if channel is not None:
                    channel.drain()
                del self._loops[loop]

    def stop(self) -> None:
        """Once every request has completed: delivers what is left and stops watching."""
        with self._lock:
            self._forget_closed_loops()
            channel, thread = self._channel, self._thread
            loops = [(loop, ch) for loop, ch in self._loops.items() if ch is not None]
        if channel is not None:
            channel.close()
            if thread is not None and thread is not threading.current_thread():
                thread.join()
        for loop, ch in loops:
            if not loop.is_closed():
                try:
                    loop.call_soon_threadsafe(_stop_watching, loop, ch)
                except RuntimeError:  # closed meanwhile
                    pass


def _shutdown(native: Any, delivery: _Delivery, drain: bool) -> bool:
    """Closes the native batcher, then the delivery; False when called from the batcher's own
    thread (a model closing its batcher), which cannot wait for itself."""
    if not native.close(drain):
        return False
    delivery.stop()
    return True


def _resolve(items: list[tuple[Any, Any]]) -> None:
    for future, result in items:
        if future.done():  # an asyncio future whose task was cancelled
            continue
        if type(result) is _core.BatchFailure:
            try:
                result.reraise()
            except BaseException as exc:  # the model's own exception, whatever its class
                future.set_exception(exc)
        else:
            future.set_result(result)


def _deliver_until_closed(channel: _core.BatchChannel) -> None:
    while (items := channel.wait()) is not None:
        _resolve(items)


def _deliver_ready(channel: _core.BatchChannel) -> None:
    _resolve(channel.drain())


def _stop_watching(loop: asyncio.AbstractEventLoop, channel: _core.BatchChannel) -> None:
    _deliver_ready(channel)
    loop.remove_reader(channel.fileno())
