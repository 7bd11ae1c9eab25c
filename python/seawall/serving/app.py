"""The Open Inference Protocol (KServe v2) server: an ASGI app (Starlette) over bundles and batchers.

Endpoints (``{v}``: the served version; every model path also works without ``/versions/{v}``):

    GET  /v2                                          server metadata
    GET  /v2/health/live, /v2/health/ready            liveness, readiness
    GET  /v2/models/{name}[/versions/{v}]             model metadata (inputs, outputs)
    GET  /v2/models/{name}[/versions/{v}]/ready       model readiness
    POST /v2/models/{name}[/versions/{v}]/infer       inference on JSON tensors
    POST /v1/models/{name}[/versions/{v}]/predict     inference on raw records (seawall's own)
    GET  /metrics                                     Prometheus text format
    GET, POST /v2/models/{name}/traffic               the model's traffic policy, if it has one

and the model repository extension (load, unload, index) with Triton's /config and /stats per
model (``seawall.serving.repository``).

A bundle with a feature pipeline takes its raw columns as inputs, one 1-D tensor per column
(shape [rows] or [rows, 1]; BYTES for string columns, any number type for number columns, JSON
null for a missing value); the server transforms them with the pipeline, then the batcher runs
the model on the features. A bundle without one takes the model's input tensor itself. A
request of more rows than ``max_batch_size`` goes to the batcher in parts, joined again in order.

Inference also speaks Triton's binary tensor data extension (what tritonclient sends by
default): with an ``Inference-Header-Content-Length`` header, the body is that many bytes of JSON
followed by the inputs' raw bytes (little-endian; BYTES elements each a 4-byte length and the
UTF-8 text), each input naming its ``binary_data_size``. Outputs come back the same way when the
request asks (``binary_data`` in an output's parameters, or ``binary_data_output`` in the
request's).

``/v1/models/{name}/predict`` takes ``{"records": [{column: value, ...}, ...]}`` or
``{"columns": {column: [values]}}`` (without a pipeline: ``{"instances": [row, ...]}``), with
optional ``"outputs": [names]`` and ``"id"``, and answers ``{"model_name", "model_version",
"id", "outputs": {name: [one value or row per record]}}``. Under a traffic policy
(:mod:`seawall.serving.traffic`) both answers also hold ``"parameters": {"seawall_arm",
"seawall_model_version"}``, and the headers ``seawall-arm`` and ``seawall-model-version``.

Errors answer ``{"error": message}``: 400 for a malformed request (bad JSON, an unknown, missing
or extra input, a wrong datatype or shape), 413 for a body over ``max_body_bytes``, 404 for an
unknown model or version, 503 with ``Retry-After`` when the batcher's queue is full (or a request
timed out in it, or the server is shutting down). Large bodies are parsed, and large responses
written, on a worker thread a block at a time (``seawall._server.bulk_json``), so that the event
loop keeps answering (health checks, small requests) meanwhile. Run by ``seawall serve`` or
``serve_in_thread``, the server also keeps within ``seawall._server.Limits`` (connections,
concurrency, timeouts, body bytes in flight).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

import anyio
import pyarrow as pa
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..bundles import Bundle, load_bundle
from ..errors import (
    BatcherClosedError,
    InvalidInputError,
    QueueFullError,
    RequestTimeoutError,
    SeawallError,
)
from . import extensions
from .hot_swap import AliasWatcher, signature_changes
from .live import LiveProfiler, Slice
from .metrics import ServerMetrics
from .payload_log import PayloadLog
from .payload_log import current as payload_exchange
from .repository import Repository, registry_reference
from .repository import from_registry as _from_registry
from .served_model import BadRequest, NotFound, PayloadTooLarge, ServedModel, _dumps
from .traffic import Routed, TrafficCollector, TrafficPolicy, TrafficRouter
from .warmup import WARMUP_SCOPE

__all__ = ["DEFAULT_MAX_BODY_BYTES", "create_app"]

log = logging.getLogger("seawall.serving")

DEFAULT_MAX_BODY_BYTES = 64 << 20
# Requests (body bytes) and responses (rows) above these are decoded or encoded on a worker
# thread, so that one large request does not hold up the event loop for the small ones.
_OFFLOAD_BYTES = 256 << 10
_OFFLOAD_ROWS = 4096


def _json(status: int, obj: Any, headers: Mapping[str, str] | None = None) -> Response:
    return Response(_dumps(obj), status, headers=headers, media_type="application/json")


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    return _json(status, {"error": message}, headers)


class _Server:
    """The state behind one app: served models, metrics, limits."""

    def __init__(
        self,
        models: dict[str, ServedModel],
        max_body_bytes: int,
        retry_after_s: int,
        metrics: ServerMetrics,
        repository: Repository,
        payload_log: PayloadLog | None,
    ) -> None:
        self.models = models
        self.repository = repository  # the other live versions, loads and unloads
        self.max_body_bytes = max_body_bytes
        self.retry_after = str(retry_after_s)
        self.metrics = metrics
        self.closed = False
        self.watchers: list[AliasWatcher] = []
        self.traffic: dict[str, TrafficRouter] = {}  # model name -> its traffic policy at work
        self._swap_lock = threading.Lock()
        self.payload_log = payload_log

    def profiler(self, name: str) -> LiveProfiler | None:
        """The live profile of what model `name` serves (None when profiling is off)."""
        return self.models[name].profiler

    def swap(self, name: str, new: ServedModel) -> None:
        """Serves `new` under `name` from now on; the old model drains and closes."""
        with self._swap_lock:
            old = self.models[name]
            new.profiler = old.profiler  # one live profile per model name, across versions
            self.models[name] = new  # requests from now on find the new model
            old.replaced_by = new
        old.ready = False
        old.batcher.close(drain=True)  # requests already holding the old model finish on it
        changes = signature_changes(old.bundle.signature, new.bundle.signature)
        log.info(
            "hot swap: %r now serves version %s (was %s); signature %s",
            name,
            new.version,
            old.version,
            "changes: " + "; ".join(changes) if changes else "unchanged",
        )

    def close(self, drain: bool = True) -> None:
        """Closes every batcher (finishing queued requests when drain); the app stops serving."""
        self.closed = True
        for watcher in self.watchers:
            watcher.close()
        for router in self.traffic.values():
            router.close()
        self.repository.close(drain=drain)
        for served in self.models.values():
            served.ready = False
            served.batcher.close(drain=drain)
            if served.profiler is not None:
                served.profiler.close()
        if self.payload_log is not None:  # after the batchers: what they finished is logged
            self.payload_log.close()

    def model(self, request: Request) -> ServedModel:
        name = request.path_params["name"]
        served = self.models.get(name)
        if served is None:
            raise NotFound(f"unknown model {name!r}: this server has {sorted(self.models)}")
        version = request.path_params.get("version")
        if version is not None and version != served.version:
            other = self.repository.version(name, version)
            if other is not None:
                return other
            have = f"version {served.version}" if served.version is not None else "no version"
            raise NotFound(f"model {name!r} has no version {version!r} (it serves {have})")
        return served

    async def body(self, request: Request) -> bytes:
        limit = self.max_body_bytes
        length = request.headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                raise BadRequest("the Content-Length header is not a number")
            if int(length) > limit:
                raise PayloadTooLarge(
                    f"the body is {int(length)} bytes, over this server's limit of {limit}"
                )
        chunks = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"the body is over this server's limit of {limit} bytes")
            if chunk:  # a body read whole comes as one chunk: joined without a copy
                chunks.append(chunk)
        return b"".join(chunks)

    # --- handlers -----------------------------------------------------------------------------

    async def server_metadata(self, request: Request) -> Response:
        from .._core import __version__

        return _json(
            200,
            {
                "name": "seawall",
                "version": __version__,
                "extensions": [
                    "binary_tensor_data",
                    "model_repository",  # and the rest as Triton names them (repository.py)
                    "model_configuration",
                    "statistics",
                ],
            },
        )

    async def live(self, request: Request) -> Response:
        return _json(200, {"live": True})

    async def ready(self, request: Request) -> Response:
        ready = not self.closed and all(m.ready for m in self.models.values())
        return _json(200 if ready else 400, {"ready": ready})

    async def model_metadata(self, request: Request) -> Response:
        try:
            return _json(200, self.model(request).metadata())
        except NotFound as exc:
            return _error(404, str(exc))

    async def model_ready(self, request: Request) -> Response:
        try:
            served = self.model(request)
        except NotFound as exc:
            return _error(404, str(exc))
        ready = served.ready and not self.closed
        return _json(200 if ready else 400, {"name": served.name, "ready": ready})

    async def infer(self, request: Request) -> Response:
        return await self._run(request, "infer")

    async def predict(self, request: Request) -> Response:
        return await self._run(request, "predict")

    async def traffic_policy(self, request: Request) -> Response:
        """GET or POST /v2/models/{name}/traffic: the model's traffic policy (TrafficRouter)."""
        name = request.path_params["name"]
        router = self.traffic.get(name)
        if router is None:
            return _error(404, f"model {name!r} has no traffic policy")
        return await router.admin(request)

    async def metrics_text(self, request: Request) -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(self.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def _run(self, request: Request, endpoint: str) -> Response:
        start = time.perf_counter()
        warming = request.scope.get(WARMUP_SCOPE)  # a warm-up request, made in this process
        try:
            served = warming if warming is not None else self.model(request)
        except NotFound as exc:
            self.metrics.observe("", "", endpoint, 404, time.perf_counter() - start)
            return _error(404, str(exc))
        version = served.version or ""
        in_flight = self.metrics.in_flight.labels(served.name, version)
        in_flight.inc()
        record = warming is None
        exchange = self.payload_log.begin(served) if self.payload_log and record else None
        try:
            response = await self._answer(request, served, endpoint, record)
        finally:
            in_flight.dec()
        if not record:
            return response  # counted nowhere: no figure, log or profile sees a warm-up
        served.counts.observe(response.status_code, time.perf_counter() - start)
        if self.traffic:  # the version that answered: a traffic policy's router names it
            version = _answered_version(response, version)
        if exchange is not None:
            exchange.end(response)
        self.metrics.observe(
            served.name, version, endpoint, response.status_code, time.perf_counter() - start
        )
        return response

    async def _answer(
        self, request: Request, served: ServedModel, endpoint: str, record: bool = True
    ) -> Response:
        try:
            body = await self.body(request)
        except BadRequest as exc:
            return _error(413 if isinstance(exc, PayloadTooLarge) else 400, str(exc))
        header_length = request.headers.get("inference-header-content-length")
        router = self.traffic.get(served.name) if self.traffic and record else None
        if router is not None:  # a traffic policy picks the arm that answers
            return await router.answer(self, request, endpoint, body, header_length)
        response, _ = await self.answer_with(served, endpoint, body, header_length, record=record)
        return response

    async def answer_with(
        self,
        served: ServedModel,
        endpoint: str,
        body: bytes,
        header_length: str | None,
        routed: Routed | None = None,
        *,
        record: bool = True,
    ) -> tuple[Response, ServedModel]:
        """The answer of `served` to a request, and the model that gave it: `served`, or the one
        a hot swap replaced it with under the request. ``routed`` (a traffic policy's request)
        gets the outputs, and the response's parameters name its arm. Without ``record`` (a
        warm-up) the live profile and the payload log do not see it."""
        while True:
            answer = await self._answer_with(
                served, endpoint, body, header_length, routed, record=record
            )
            if not isinstance(answer, ServedModel):
                return answer, served
            # A hot swap closed this model's batcher under the request: the replacement
            # answers it, from the raw request (its feature pipeline may differ).
            served = answer

    async def _answer_with(
        self,
        served: ServedModel,
        endpoint: str,
        body: bytes,
        header_length: str | None,
        routed: Routed | None = None,
        *,
        record: bool = True,
    ) -> Response | ServedModel:
        prepare = served.prepare_infer if endpoint == "infer" else served.prepare_predict
        encode = served.infer_response if endpoint == "infer" else served.predict_response
        try:
            if len(body) > _OFFLOAD_BYTES:
                prepared = await anyio.to_thread.run_sync(prepare, body, header_length)
            else:
                prepared = prepare(body, header_length)
        except BadRequest as exc:
            return _error(400, str(exc))
        except (
            SeawallError,  # InvalidInputError, DTypeError, MissingColumnError from the pipeline
            ValueError,
            TypeError,
            KeyError,
            OverflowError,
            pa.ArrowException,
        ) as exc:
            return _error(400, _message(exc))
        exchange = payload_exchange() if record else None
        if exchange is not None:  # gives the request an id if it has none, echoed in the answer
            exchange.decoded(served, prepared, len(body))
        if self.closed:
            return _error(503, "the server is shutting down", {"Retry-After": self.retry_after})
        try:
            result = await served.run(prepared.x, prepared.options)
        except QueueFullError as exc:
            return _error(503, f"overloaded, retry later: {exc}", {"Retry-After": self.retry_after})
        except BatcherClosedError as exc:
            if served.replaced_by is not None:
                return served.replaced_by
            return _error(503, _message(exc), {"Retry-After": self.retry_after})
        except RequestTimeoutError as exc:
            return _error(503, _message(exc), {"Retry-After": self.retry_after})
        except InvalidInputError as exc:  # an option the batcher refuses (a priority too high)
            return _error(400, _message(exc))
        except Exception as exc:
            log.exception("model %r failed", served.name)
            return _error(500, f"the model failed: {_message(exc)}")
        if exchange is not None:
            exchange.answered(served, result)
        if served.profiler is not None and prepared.raw is not None and record:
            served.profiler.observe(prepared.raw, result)
        if routed is not None:
            routed.result = result
            routed.prepared = prepared  # the request as decoded: a shadow need not decode it again
            routed.features_key = served.features_key
            prepared.parameters = {
                "seawall_arm": routed.arm,
                "seawall_model_version": served.version,
            }
        if prepared.x.shape[0] > _OFFLOAD_ROWS:
            content, json_length = await anyio.to_thread.run_sync(encode, prepared, result)
        else:
            content, json_length = encode(prepared, result)
        if json_length is None:
            return Response(content, 200, media_type="application/json")
        return Response(
            content,
            200,
            headers={"Inference-Header-Content-Length": str(json_length)},
            media_type="application/octet-stream",
        )


def _answered_version(response: Response, default: str) -> str:
    """The version a traffic policy's header names (the raw headers, last first: cheaper than
    Starlette's header mapping), else `default`."""
    for name, value in reversed(response.raw_headers):
        if name == b"seawall-model-version":
            return value.decode()
    return default


def _message(exc: BaseException) -> str:
    text = str(exc)
    return text if text else type(exc).__name__


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _error(exc.status_code, str(exc.detail), exc.headers)


def _to_monitor(
    monitor: Any,
    router_of: Callable[[str], TrafficRouter | None],
    model_name: str,
    s: Slice,
) -> None:
    router = router_of(model_name)
    if router is not None:  # the arms' figures first: the slice may close the window
        monitor.add_arms(s.start, s.end, router.slice_figures())
    monitor.add_slice(s.start, s.end, s.features, s.predictions)


def _single_name(served: Mapping[str, ServedModel]) -> str:
    """The one model's name, for a TrafficPolicy given without one."""
    if len(served) != 1:
        raise InvalidInputError(
            f"traffic= as one TrafficPolicy applies to a single model; this app serves "
            f"{sorted(served)}: give {{name: TrafficPolicy(...)}}"
        )
    return next(iter(served))


def _default_registry() -> Any:
    from ..registry import Registry

    return Registry()


def _as_bundle(model: Any, trust_code: bool) -> Bundle:
    if isinstance(model, Bundle):
        return model
    if isinstance(model, (str, os.PathLike)):
        return load_bundle(model, trust_code=trust_code)
    raise InvalidInputError(f"expected a Bundle or a bundle path, got {type(model).__name__}")


def create_app(
    models: Bundle | str | os.PathLike[str] | Sequence[Bundle | str | os.PathLike[str]],
    *,
    name: str | None = None,
    version: str | int | None = None,
    max_batch_size: int = 64,
    max_queue_delay_us: int | None = None,
    preferred_batch_sizes: Sequence[int] | None = None,
    max_queue_size: int | None = None,
    default_timeout_us: int | None = None,
    priority_levels: int | None = None,
    instances: int | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    retry_after_s: int = 1,
    trust_code: bool = False,
    metrics_registry: Any = None,
    registry: Any = None,
    watch_interval_s: float | None = 2.0,
    profile_slice_s: float | None = 10.0,
    profile_max_bytes: int = 64 << 20,
    on_slice: Callable[[str, Slice], None] | None = None,
    monitors: Mapping[str, Any] | None = None,
    dashboard: bool = False,
    traffic: TrafficPolicy | Mapping[str, TrafficPolicy] | None = None,
    model_control: str = "none",
    payload_log: PayloadLog | None = None,
    auth: Any = None,
) -> Starlette:
    """The server as an ASGI app (Starlette), to run with uvicorn or mount in another service.

    ``models`` is a bundle (loaded, or a path to load; ``trust_code`` as in load_bundle) or a
    list of them, served under their bundle names and versions (``name`` and ``version``
    override them for a single bundle). Each model gets its own :class:`seawall.serving.Batcher`
    with the batcher options given (None: the batcher's default). ``max_body_bytes`` bounds a
    request body (413 past it); ``retry_after_s`` is the Retry-After of a 503. Metrics go to a
    registry of the app's own unless ``metrics_registry`` (a prometheus_client
    CollectorRegistry) is given.

    A model may also be a registry URI, ``models:/NAME/VERSION`` or ``models:/NAME@ALIAS``
    (through ``registry``, default ``seawall.Registry()``). An alias is followed: every
    ``watch_interval_s`` seconds (None: never) the server looks where it points and hot-swaps
    to a new version without dropping a request.

    Every ``profile_slice_s`` seconds (None: off) each model's live profile closes a slice: the
    :class:`~seawall.Profile` of the raw features it served and of its predictions, kept in
    ``app.state.seawall.profiler(name)`` (at most ``profile_max_bytes`` of them per model, the
    oldest dropped first) and passed to ``on_slice(name, slice)``.

    ``monitors`` maps model names to :class:`seawall.monitoring.Monitor`: each gets its model's
    slices, its windows and alerts are exported on ``/metrics``, and a hot swap gives it the new
    version's reference profile. ``dashboard=True`` mounts ``seawall ui`` at ``/ui``.

    ``traffic`` (a :class:`~seawall.serving.traffic.TrafficPolicy`, or a mapping of model names
    to them) splits a model's requests between registry versions: canary, shadow, sticky
    routing, automatic rollback and promotion (see :mod:`seawall.serving.traffic`); the policy
    at work is ``app.state.seawall.traffic[name]``, also at ``/v2/models/{name}/traffic``.

    Each model is warmed up before it serves (at start, and before a hot swap or a load
    switches to it): see :mod:`seawall.serving.warmup`. ``model_control="explicit"`` loads no
    model at start: the models given (and, through ``registry``, every registered one) load and
    unload when asked, through the model repository extension (see
    :mod:`seawall.serving.repository`, which also serves Triton's /config and /stats).

    ``payload_log`` (a :class:`seawall.serving.PayloadLog`) records a sample of the requests
    and answers in Parquet files, off the request path; every answer then carries a request id
    (the request's own ``id``, or one made for it) in its v2 ``id`` and its ``X-Request-Id``
    header, to join labels to later. Its counts are on ``/metrics``; it closes with the app.

    ``auth`` protects every route but the health probes with tokens: a
    :class:`seawall.serving.Authenticator`, or a registry or
    :class:`~seawall.serving.TokenFile` to check them against (cached for 0.5 s, so a
    revoked token stops working within a second), or a token file's path. Each route group
    needs its scope (:mod:`seawall.serving.access`: ``read:models/NAME`` to infer,
    ``admin:models/NAME`` to load or unload...); 401 without a valid token, 403 with the
    wrong scope, 429 past the token's rate limit. The dashboard at ``/ui`` then signs in with
    the same tokens.

    The batchers start here and close when the app's lifespan ends (uvicorn's shutdown), or on
    ``app.state.seawall.close()`` for an app mounted where its lifespan does not run.
    """
    from .._server.auth import make_authenticator

    authenticator = make_authenticator(auth)
    items = [models] if isinstance(models, (Bundle, str, os.PathLike)) else list(models)
    repository = Repository(
        model_control=model_control,
        registry=registry,
        trust_code=trust_code,
        watch_interval_s=watch_interval_s,
    )
    if not items and not (repository.explicit and registry is not None):
        raise InvalidInputError("create_app needs at least one bundle")
    if (name is not None or version is not None) and len(items) != 1:
        raise InvalidInputError("name= and version= apply to a single bundle")
    if not isinstance(max_body_bytes, int) or max_body_bytes <= 0:
        raise InvalidInputError(
            f"max_body_bytes must be a positive integer, got {max_body_bytes!r}"
        )
    options: dict[str, Any] = {
        "max_batch_size": max_batch_size,
        "max_queue_delay_us": max_queue_delay_us,
        "preferred_batch_sizes": preferred_batch_sizes,
        "max_queue_size": max_queue_size,
        "default_timeout_us": default_timeout_us,
        "priority_levels": priority_levels,
        "instances": instances,
    }
    options = {k: v for k, v in options.items() if v is not None}

    def start(
        bundle: Bundle,
        model_name: str,
        model_version: str | None,
        reference: Callable[[], Any] | None = None,
    ) -> ServedModel:
        served = ServedModel.start(bundle, model_name, model_version, options)
        repository.warm_up(served, reference)  # closes the batcher when it fails
        return served

    def new_profiler(model_name: str) -> LiveProfiler | None:
        if profile_slice_s is None:
            return None
        callback = None if on_slice is None else functools.partial(on_slice, model_name)
        profiler = LiveProfiler(profile_slice_s, on_slice=callback, max_bytes=profile_max_bytes)
        monitor = (monitors or {}).get(model_name)
        if monitor is not None:
            # The router (a traffic policy's) is looked up per slice: it starts after the model.
            profiler.add_callback(functools.partial(_to_monitor, monitor, routers.get, model_name))
        return profiler

    served: dict[str, ServedModel] = {}
    follow: dict[str, tuple[str, int]] = {}  # model name -> (alias URI, version served)
    sources: dict[str, str] = {}  # model name -> the registry URI it was served from
    routers: dict[str, TrafficRouter] = {}
    try:
        for item in items:
            model_version: str | None
            reference = None
            if isinstance(item, str) and item.startswith("models:/"):
                registry = registry if registry is not None else _default_registry()
                repository.registry = registry
            if repository.explicit:  # listed now, loaded when asked
                repository.add_source(item, name, None if version is None else str(version))
                continue
            if isinstance(item, str) and item.startswith("models:/"):
                bundle, uri_name, uri_version = _from_registry(registry, item, trust_code)
                if "@" in item:
                    follow[name or uri_name] = (item, uri_version)
                sources[name or uri_name] = item
                model_name, model_version = uri_name, str(uri_version)
                reference = registry_reference(registry, f"models:/{uri_name}/{uri_version}")
            else:
                bundle = _as_bundle(item, trust_code)
                model_name, model_version = bundle.name, bundle.version
            model_name = name if name is not None else model_name
            model_version = str(version) if version is not None else model_version
            if model_name in served:
                raise InvalidInputError(f"two bundles are named {model_name!r}")
            served[model_name] = start(bundle, model_name, model_version, reference)
            served[model_name].profiler = new_profiler(model_name)
        if traffic is not None and repository.explicit:
            raise InvalidInputError(
                "a traffic policy needs the models loaded at start: model_control='none'"
            )
        if traffic is not None and registry is None:
            registry = _default_registry()  # the arms are registry URIs
        policies = (
            {_single_name(served): traffic} if isinstance(traffic, TrafficPolicy) else traffic
        )
        for model_name, policy in (policies or {}).items():
            if model_name not in served:
                raise InvalidInputError(f"traffic names {model_name!r}, which is not served")
            routers[model_name] = TrafficRouter(
                model_name,
                policy,
                served,
                primary_uri=sources.get(model_name),
                registry=registry,
                load=lambda uri: _from_registry(registry, uri, trust_code)[0],
                start=start,
                watch_interval_s=watch_interval_s,
                trust_code=trust_code,
            )
        for model_name in monitors or {}:
            if model_name not in served and not repository.explicit:
                raise InvalidInputError(f"monitors names {model_name!r}, which is not served")
            if profile_slice_s is None:
                raise InvalidInputError("monitors need the live profile: set profile_slice_s")
    except BaseException:
        for r in routers.values():
            r.close()
        for s in served.values():
            s.batcher.close(drain=False)
            if s.profiler is not None:
                s.profiler.close()
        raise

    def batchers() -> list[tuple[str, str, Any, int]]:
        return [(s.name, s.version or "", s.batcher, s.max_batch_size) for s in repository.live()]

    server = _Server(
        served,
        max_body_bytes,
        retry_after_s,
        ServerMetrics(batchers, metrics_registry),
        repository,
        payload_log,
    )
    if payload_log is not None:
        server.metrics.registry.register(payload_log.collector())
    if monitors:
        server.metrics.registry.register(extensions.monitor_collector(list(monitors.values())))
    if routers:
        server.traffic.update(routers)
        server.metrics.registry.register(TrafficCollector(lambda: server.traffic.values()))

    def change_for(model_name: str, uri: str) -> Callable[[int], None]:
        """Hot swap: serves the version alias `uri` moved to under `model_name`."""

        def change(new_version: int) -> None:
            version_uri = f"{uri.split('@')[0]}/{new_version}"
            try:
                bundle, _, _ = _from_registry(registry, version_uri, trust_code)
                new = start(
                    bundle, model_name, str(new_version), registry_reference(registry, version_uri)
                )
            except Exception:
                server.metrics.swaps.labels(model_name, "failed").inc()
                raise
            server.swap(model_name, new)
            server.metrics.swaps.labels(model_name, "ok").inc()
            monitor = (monitors or {}).get(model_name)
            reference = registry.reference_profile(version_uri) if monitor else None
            if monitor is not None and reference is not None:
                monitor.set_reference(reference, version=new_version)

        return change

    repository.attach(server, start=start, new_profiler=new_profiler, change_for=change_for)
    for model_name, (uri, served_version) in follow.items():
        repository.follow(model_name, uri, served_version)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await repository.serving(app)  # the last of the warm-up, on the server's event loop
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(server.close)

    model_routes = []
    for prefix in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}"):
        model_routes += [
            Route(prefix, server.model_metadata, methods=["GET"]),
            Route(prefix + "/ready", server.model_ready, methods=["GET"]),
            Route(prefix + "/infer", server.infer, methods=["POST"]),
        ]
    for prefix in ("/v1/models/{name}", "/v1/models/{name}/versions/{version}"):
        model_routes.append(Route(prefix + "/predict", server.predict, methods=["POST"]))
    if routers:
        model_routes.append(
            Route("/v2/models/{name}/traffic", server.traffic_policy, methods=["GET", "POST"])
        )
    routes: list[BaseRoute] = [
        *repository.routes(),  # first: /v2/models/stats before /v2/models/{name}
        Route("/v2", server.server_metadata, methods=["GET"]),
        Route("/v2/health/live", server.live, methods=["GET"]),
        Route("/v2/health/ready", server.ready, methods=["GET"]),
        *model_routes,
        Route("/metrics", server.metrics_text, methods=["GET"]),
    ]
    if dashboard:
        from starlette.routing import Mount

        ui = extensions.dashboard_app(registry, list((monitors or {}).values()), authenticator)
        routes.append(Mount("/ui", app=ui))
    middleware = []
    if authenticator is not None:
        from starlette.middleware import Middleware

        from .._server.auth import AuthMiddleware
        from .access import classify

        middleware.append(
            Middleware(AuthMiddleware, authenticator=authenticator, classify=classify)
        )
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_error},
        middleware=middleware,
    )
    app.state.seawall = server
    return app
