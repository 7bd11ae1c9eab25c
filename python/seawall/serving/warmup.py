"""Warm-up: a model runs inputs at every batch size it will serve before it serves any request.

The first calls of a model are slow (onnxruntime allocates its arenas and plans each new input
shape, a Python model may import or compile lazily), and so is the first request of each kind
(a pipeline's first transform of a table of given column types, the decoding and encoding). So
before a model reports ready, and before a hot swap or a load switches to it, the server runs
warm-up inputs at batch size 1, at each preferred batch size and at the maximum, each as two
requests run without the HTTP: a v2 inference request of the datatypes the model's metadata
gives (what tritonclient and perf_analyzer send) and a records request (``/v1/.../predict``),
each decoded, through the pipeline, the model's own batcher and the model, and encoded.

The inputs, by preference:

1. the bundle's warm-up inputs (``save_bundle(..., warmup=records)``);
2. its example rows (``save_bundle(..., example=records)``, kept in the bundle);
3. rows made from the registry version's reference profile: for number columns the 5%, 25%, 50%,
   75% and 95% quantiles, for string columns the most frequent values;
4. with none of these, the model alone, on features of zeros (its pipeline is not exercised;
   twice at batch size 1), or without a pipeline on an input of zeros; a model without a
   pipeline whose input rows have no fixed shape is then not warmed up (logged).

Rows are repeated to fill each batch size (rows that do not make a v2 request of the model's
datatypes go as the records request only). A model, or pipeline, that raises on them is not
served: :class:`~seawall.errors.WarmupError`, and its batcher is closed. Once the warm-up is
over, and once more after one request on the server's event loop (see ``warm_on_loop``: at the
server's start for the models loaded then, else as part of the load), the batcher's counters are
reset, so that its figures (``/metrics``, Triton's
``/v2/models/{m}/stats``) count served requests only.

Last, on the server's event loop, the batch-size-1 requests go through the whole app as a
client's would (routing, the request handler, its metrics' series, the response), a few times
(``warm_request_path``): the first runs of that code are several times slower than later ones
(the interpreter specialises code as it runs it; objects such as the model's Prometheus series
are made on first use). These requests are made in the process (an ASGI scope naming the model,
which no client can send) and counted nowhere: not in the metrics, the statistics, the live
profile, the payload log or a traffic policy's figures.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from .._server.auth import IN_PROCESS_KEY
from ..bundles import Bundle, numpy_dtype
from ..errors import SeawallError, WarmupError
from .served_model import BadRequest

__all__ = [
    "LATER_PATH_ROUNDS",
    "PATH_ROUNDS",
    "WARMUP_QUANTILES",
    "WARMUP_SCOPE",
    "batch_sizes",
    "profile_rows",
    "warm_request_path",
    "warm_up",
    "warmup_rows",
]

log = logging.getLogger("seawall.serving")

WARMUP_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
# The ASGI scope key of a warm-up request made in the process: the ServedModel it warms.
WARMUP_SCOPE = "seawall.warmup"
# Times each request goes through the app: enough for the interpreter to specialise the path,
# the first time; for models loaded later (its code has run by then) a few rounds.
PATH_ROUNDS = 16
LATER_PATH_ROUNDS = 2


def batch_sizes(max_batch_size: int, preferred: Iterable[int] = ()) -> list[int]:
    """The batch sizes a warm-up runs: 1, each preferred size and the maximum, ascending."""
    return sorted({1, *(int(s) for s in preferred), int(max_batch_size)})


def profile_rows(profile: Any, columns: Sequence[str]) -> list[dict[str, Any]]:
    """Records for `columns` made from a Profile: quantiles of number columns, the most frequent
    values of string columns (null where the profile has no values for a column)."""
    n = len(WARMUP_QUANTILES)
    values: dict[str, list[Any]] = {}
    for column in columns:
        column_values: list[Any] = [None] * n
        if column in profile.columns:
            if profile.kind(column) == "string":
                top = [value for value, _ in profile.top_values(column, n)]
                if top:
                    column_values = [top[i % len(top)] for i in range(n)]
            elif profile.stats(column)["count"] > 0:
                column_values = profile.quantiles(column, WARMUP_QUANTILES)
        values[column] = column_values
    return [{c: values[c][i] for c in columns} for i in range(n)]


def warmup_rows(
    bundle: Bundle, reference: Callable[[], Any] | None = None
) -> tuple[list[Any] | None, str]:
    """The rows to warm `bundle` up with and where they come from (None: no such rows)."""
    if bundle.warmup is not None:
        return bundle.warmup, "the bundle's warm-up inputs"
    if bundle.example is not None:
        return bundle.example, "the bundle's example rows"
    if reference is not None and bundle.pipeline is not None:
        profile = reference()
        if profile is not None:
            columns = [str(c) for c in bundle.pipeline.input_columns_]
            return profile_rows(profile, columns), "its reference profile"
    return None, "features of zeros"


def warm_up(served: Any, sizes: Sequence[int], reference: Callable[[], Any] | None = None) -> None:
    """Runs `served`'s warm-up inputs (a ServedModel's bundle's, see the module's docstring) at
    each of `sizes` as requests run: decoded from a v2 inference request and from a records
    request, through the pipeline, the batcher and the model, and encoded as answers. Then
    resets the batcher's stats.

    ``reference`` gives the registry version's reference Profile (or None) when the bundle has
    no rows of its own. Raises WarmupError naming the batch size when anything fails.
    """
    bundle = served.bundle
    rows, source = warmup_rows(bundle, reference)
    if rows is None and bundle.pipeline is None:
        spec = bundle.signature.model_inputs[0]
        if any(d < 0 for d in spec.shape[1:]):
            log.warning(
                "model %r: no warm-up inputs, and its input rows have no fixed shape: it serves "
                "cold",
                bundle.name,
            )
            return
        rows = np.zeros((1, *spec.shape[1:]), dtype=numpy_dtype(spec.datatype)).tolist()
    for size in sizes:
        try:
            if rows is None:  # the model alone, on features of zeros
                width = len(bundle.pipeline.feature_names_out_)
                x = np.zeros((size, width), np.float32)
                for _ in range(2 if size == 1 else 1):
                    served.batcher.predict(x)
            else:
                batch = [rows[i % len(rows)] for i in range(size)]
                key = "records" if bundle.pipeline is not None else "instances"
                bodies = {
                    "infer": _infer_body(bundle, batch),
                    "predict": json.dumps({key: batch}).encode(),
                }
                made = {endpoint: _run(served, endpoint, b) for endpoint, b in bodies.items()}
                x = made["predict"]
                if size == 1:  # the requests warm_request_path sends through the app
                    served.warmup_requests = [
                        (endpoint, bodies[endpoint])
                        for endpoint, given in made.items()
                        if given is not None
                    ]
            if size == 1:
                served.warmup_x = x
        except Exception as exc:
            raise WarmupError(
                f"model {bundle.name!r} failed its warm-up at batch size {size} (inputs: "
                f"{source}): {exc}"
            ) from exc
    log.debug("model %r warmed up at batch sizes %s on %s", bundle.name, list(sizes), source)
    _settle(served.batcher)
    served.batcher.reset_stats()


async def warm_on_loop(served: Any, app: Any = None, rounds: int = PATH_ROUNDS) -> None:
    """On the event loop that will serve `served`: one request of a row through its batcher,
    as a request handler makes it (the first such call on a loop sets up how the batcher hands
    results to it), then, given the ASGI `app`, its warm-up requests through the app
    (:func:`warm_request_path`, `rounds` times); then resets the batcher's stats. Nothing when
    it had no warm-up."""
    if served.warmup_x is None:
        return
    try:
        await served.run(served.warmup_x, {})
    except Exception as exc:
        raise WarmupError(f"model {served.name!r} failed its warm-up request: {exc}") from exc
    if app is not None:
        await warm_request_path(app, served, rounds)
    _settle(served.batcher)
    served.batcher.reset_stats()


async def warm_request_path(app: Any, served: Any, rounds: int = PATH_ROUNDS) -> None:
    """Sends `served`'s batch-size-1 warm-up requests through the ASGI `app` (on the event loop
    that serves it), each `rounds` times, as requests its handler counts nowhere (module
    docstring). Raises WarmupError when one is not answered 200."""
    for endpoint, body in served.warmup_requests:
        path = (
            f"/v2/models/{served.name}/infer"
            if endpoint == "infer"
            else f"/v1/models/{served.name}/predict"
        )
        for _ in range(rounds):
            status, answer = await _asgi_post(app, path, body, served)
            if status != 200:
                raise WarmupError(
                    f"model {served.name!r} failed its warm-up request to {path}: {status} "
                    f"{answer[:300]!r}"
                )


async def _asgi_post(app: Any, path: str, body: bytes, served: Any) -> tuple[int, bytes]:
    """POSTs `body` to `path` of the ASGI `app` as a warm-up of `served`; (status, body)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 0),
        "server": ("127.0.0.1", 0),
        "state": {},
        WARMUP_SCOPE: served,
        IN_PROCESS_KEY: True,  # past the token check: made here, not by a client
    }
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    status = 0
    chunks: list[bytes] = []

    async def send(message: Mapping[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


def _run(served: Any, endpoint: str, body: bytes | None) -> Any:
    """One request as the server runs it, but for the HTTP: decoded, batched, run, encoded.
    Returns the model input it made (None for a v2 request the rows do not make)."""
    if body is None:
        return None
    if endpoint == "infer":
        try:
            prepared = served.prepare_infer(body, None)
        except (BadRequest, SeawallError) as exc:  # the rows, not the model: the records request
            log.debug("warm-up: the rows make no v2 request of %r: %s", served.name, exc)
            return None
    else:
        prepared = served.prepare_predict(body, None)
    result = served.batcher.predict(prepared.x)
    if not isinstance(result, Mapping):
        result = {served.output_names[0]: result}
    encode = served.infer_response if endpoint == "infer" else served.predict_response
    encode(prepared, result)
    return prepared.x


def _infer_body(bundle: Bundle, rows: list[Any]) -> bytes | None:
    """A v2 inference request of `rows`, each input of the datatype the model's metadata gives
    (as tritonclient and perf_analyzer send it); None when the rows do not fit it."""
    if bundle.pipeline is None:
        (spec,) = bundle.signature.model_inputs
        x = np.asarray(rows)
        tensors = [(spec, list(x.shape), x.ravel().tolist())]
    else:
        if not all(isinstance(r, dict) for r in rows):
            return None
        tensors = [
            (spec, [len(rows)], [_value(r.get(spec.name), spec.datatype) for r in rows])
            for spec in bundle.signature.inputs
        ]
    inputs = [
        {"name": spec.name, "datatype": spec.datatype, "shape": shape, "data": data}
        for spec, shape, data in tensors
    ]
    try:
        return json.dumps({"inputs": inputs}, allow_nan=False).encode()
    except (TypeError, ValueError):
        return None


def _value(value: Any, datatype: str) -> Any:
    """A raw value as a JSON tensor element of `datatype` (null stays null: a missing value)."""
    if value is None:
        return None
    if datatype == "BYTES":
        return value if isinstance(value, str) else str(value)
    if datatype == "BOOL":
        return bool(value)
    if datatype.startswith(("INT", "UINT")) and isinstance(value, float):
        return round(value) if math.isfinite(value) else None
    return value


def _settle(batcher: Any, timeout_s: float = 5.0) -> None:
    """Waits until every request the batcher ran is counted in compute_output (which it counts
    just after handing the result over), so that a reset leaves nothing behind."""
    deadline = time.monotonic() + timeout_s
    while True:
        stats = batcher.stats()
        done = stats["completed"] + stats["failed"]
        if stats["compute_output"]["count"] >= done or time.monotonic() > deadline:
            return
        time.sleep(0.0005)
