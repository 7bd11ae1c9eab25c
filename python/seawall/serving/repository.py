"""The model repository: the models and versions a server has live and their states, loading and
unloading them over HTTP (the Open Inference Protocol's model repository extension, as Triton
implements it), and Triton's ``/config`` and ``/stats`` of each.

Endpoints (tritonclient's ``get_model_repository_index``, ``load_model``, ``unload_model``,
``get_model_config`` and ``get_inference_statistics`` use them)::

    POST /v2/repository/index                        [{name, version, state, reason}, ...]
    POST /v2/repository/models/{name}/load           load a model (or reload it)
    POST /v2/repository/models/{name}/unload         unload it
    GET  /v2/models/{name}[/versions/{v}]/config     Triton's model configuration
    GET  /v2/models[/{name}[/versions/{v}]]/stats    Triton's model statistics

Model control (``create_app(model_control=...)``, ``seawall serve --model-control``):

- ``"none"``, the default: the models given are loaded at start and stay; load and unload answer
  503 with Triton's message for this case ("explicit model load / unload is not allowed ...").
- ``"explicit"``: nothing loads at start. The models given are listed in the index (UNAVAILABLE)
  and load when asked; with a registry, so does any model registered in it, by name.

Loading: a model from the registry loads ``models:/NAME@champion`` (or the ``models:/`` URI it
was given as); the request's ``parameters`` may name another: ``{"version": 3}`` or ``{"alias":
"challenger"}``. A version loaded through an alias is the model's default, the one
``/v2/models/NAME/...`` serves, and follows the alias (a hot swap when it moves); one loaded by
number is served beside it under ``/v2/models/NAME/versions/V`` (or is the default when it is the
first). Several versions of a model are so live at once. A bundle folder is read again at each
load, so a changed bundle is picked up. A load warms the model up first
(:mod:`seawall.serving.warmup`); one that fails (a bundle that does not load or fails its
warm-up) answers 400 with the reason, leaves whatever served before serving, and shows in the
index as that version UNAVAILABLE with the reason. Loading a version that is live reloads it:
the new copy takes over once warm, as in a hot swap. Loads and unloads happen one at a time.

Unloading (``{"version": V}``: only that version): the model stops taking requests at once (404);
requests already in it finish (its batcher drains, and one that had not reached the batcher gets
503 with Retry-After); then its batcher, live profile and alias watcher are closed and released.
Unloading the default version while others are live makes the highest of them the default.

Errors answer Triton's ``{"error": message}``: 404 for an unknown model or version, 400 for a bad
request or a load that failed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from prometheus_client import Counter
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..bundles import Bundle, load_bundle, read_manifest
from ..errors import InvalidInputError, NotFoundError, SeawallError
from .hot_swap import AliasWatcher
from .served_model import BadRequest, NotFound, PayloadTooLarge, ServedModel, _dumps
from .triton_shapes import model_config, model_stats
from .warmup import LATER_PATH_ROUNDS, PATH_ROUNDS, batch_sizes, warm_on_loop, warm_up

__all__ = [
    "LOADING",
    "MODEL_CONTROL",
    "READY",
    "UNAVAILABLE",
    "UNLOADING",
    "Repository",
    "from_registry",
    "registry_reference",
]

log = logging.getLogger("seawall.serving")

READY, LOADING, UNLOADING, UNAVAILABLE = "READY", "LOADING", "UNLOADING", "UNAVAILABLE"
MODEL_CONTROL = ("none", "explicit")
_NOT_EXPLICIT = (
    "explicit model load / unload is not allowed: this server runs with model control 'none' "
    "(start it with --model-control explicit)"
)
_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:/[^/@]+|@[^/@]+)?/?$")
_ALIAS = re.compile(r"^[A-Za-z0-9_.-]+$")

# (bundle, model name, version) -> the served model, started and warmed up
Start = Callable[[Bundle, str, "str | None", "Callable[[], Any] | None"], ServedModel]


def from_registry(registry: Any, uri: str, trust_code: bool) -> tuple[Bundle, str, int]:
    """The bundle a models:/ URI names now, with its model name and version number."""
    from ..registry import resolve_bundle

    mv = registry.resolve(uri)
    path = resolve_bundle(f"models:/{mv.model}/{mv.version}", registry=registry)
    return load_bundle(path, trust_code=trust_code), mv.model, int(mv.version)


def registry_reference(registry: Any, version_uri: str) -> Callable[[], Any]:
    """A function giving the reference Profile of a registry version, or None without one."""

    def reference() -> Any:
        try:
            return registry.reference_profile(version_uri)
        except SeawallError:
            return None

    return reference


class RepositoryError(Exception):
    """A repository request the server refuses: answered with `status` and the message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class _Source:
    """Where a model named at start loads from: a models:/ URI, or a bundle folder (with the
    bundle itself until its first load, and the version it is served as)."""

    uri: str | None = None
    path: Path | None = None
    bundle: Bundle | None = None
    version: str | None = None
    trust_code: bool = False


@dataclass
class _Target:
    """What one load request loads."""

    uri: str | None  # a models:/ URI, else `source` is a bundle folder
    follow: bool  # the URI is an alias the model follows once loaded
    source: _Source | None


class Repository:
    """The live models and versions of one server, their states, and the repository endpoints.

    ``server`` is the app's state (``app.state.seawall``): its ``models`` hold each model's
    default version; the repository keeps the other live versions, the states of versions that
    are loading, unloading or failed, and each model's alias watcher. Wired by ``create_app``.
    """

    def __init__(
        self,
        *,
        model_control: str = "none",
        registry: Any = None,
        trust_code: bool = False,
        watch_interval_s: float | None = 2.0,
    ) -> None:
        if model_control not in MODEL_CONTROL:
            raise InvalidInputError(
                f"model_control must be one of {list(MODEL_CONTROL)}, got {model_control!r}"
            )
        self.explicit = model_control == "explicit"
        self.registry = registry
        self.trust_code = trust_code
        self.watch_interval_s = watch_interval_s
        self.warmups = Counter(
            "seawall_model_warmups",
            "Warm-ups before a model serves, by model and result: ok, or failed (the model is "
            "not served; the version before it goes on serving).",
            ("model", "result"),
            registry=None,
        )
        self._sources: dict[str, _Source] = {}
        self._extra: dict[str, dict[str, ServedModel]] = {}  # name -> version -> served
        self._states: dict[tuple[str, str | None], tuple[str, str]] = {}
        self._watchers: dict[str, tuple[str, AliasWatcher]] = {}  # name -> (alias URI, watcher)
        self._lock = threading.Lock()  # one load, unload or hot swap at a time
        self.server: Any = None
        self.loop: asyncio.AbstractEventLoop | None = None  # the server's, once it runs
        self.app: Any = None  # the ASGI app, once it runs: warm-up requests go through it
        self._path_warm = False  # its request path has run PATH_ROUNDS warm-up requests
        self._start: Start | None = None
        self._new_profiler: Callable[[str], Any] = lambda name: None
        self._change_for: Callable[[str, str], Callable[[int], None]] | None = None

    def attach(
        self,
        server: Any,
        *,
        start: Start,
        new_profiler: Callable[[str], Any],
        change_for: Callable[[str, str], Callable[[int], None]],
    ) -> None:
        """Connects the app: its state, how it starts a model (``start``), makes a model's live
        profile, and swaps a followed model to a version (``change_for(name, alias_uri)``)."""
        self.server = server
        self._start = start
        self._new_profiler = new_profiler
        self._change_for = change_for
        server.metrics.registry.register(self.warmups)

    # --- what the app calls ---------------------------------------------------------------------

    def warm_up(self, served: ServedModel, reference: Callable[[], Any] | None = None) -> None:
        """Warms `served` up (see seawall.serving.warmup); when that fails, closes its batcher,
        counts the failure and raises WarmupError."""
        sizes = batch_sizes(served.max_batch_size, served.batcher.options["preferred_batch_sizes"])
        try:
            warm_up(served, sizes, reference)
            self._warm_on_loop(served)
        except Exception:
            served.batcher.close(drain=False)
            self.warmups.labels(served.name, "failed").inc()
            raise
        served.warmup_sizes = sizes
        self.warmups.labels(served.name, "ok").inc()

    async def serving(self, app: Any = None) -> None:
        """On the server's event loop, before it takes requests (the app's lifespan): the
        models loaded so far run one request on this loop and their warm-up requests through
        `app` (warmup.warm_on_loop); models loaded later do as part of their warm-up."""
        self.loop = asyncio.get_running_loop()
        self.app = app
        # anyio imports its backend at its first use in a loop (the server's limits use it on
        # every request with a body): here, rather than in the first request.
        with anyio.fail_after(600):
            for served in self.live():
                await self._warm_on_this_loop(served)

    async def _warm_on_this_loop(self, served: ServedModel) -> None:
        """The model's series on /metrics made now (at 0), not by its first request; then
        warm_on_loop: the app's request path PATH_ROUNDS times the first time, fewer for later
        models (its code has run by then)."""
        if served.warmup_x is not None:  # (none: it had no warm-up)
            self.server.metrics.prepare(served.name, served.version or "", ("infer", "predict"))
        rounds = LATER_PATH_ROUNDS if self._path_warm else PATH_ROUNDS
        await warm_on_loop(served, self.app, rounds)
        self._path_warm = self._path_warm or self.app is not None

    def _warm_on_loop(self, served: ServedModel) -> None:
        """warm_on_loop on the server's loop, from the thread loading `served`."""
        loop = self.loop
        if loop is None or not loop.is_running() or _running_loop() is loop:
            return  # not serving yet (its start does it), or no longer
        try:
            future = asyncio.run_coroutine_threadsafe(self._warm_on_this_loop(served), loop)
        except RuntimeError:  # the loop closed meanwhile
            return
        try:
            future.result(timeout=60)
        except TimeoutError:  # a loop this busy: the model serves all the same
            future.cancel()
            log.warning("model %r: its warm-up on the event loop did not run", served.name)

    def add_source(self, item: Any, name: str | None, version: str | None) -> str:
        """Lists a model given at start without loading it (model control "explicit"); returns
        its name."""
        if isinstance(item, str) and item.startswith("models:/"):
            match = _URI.match(item)
            if match is None:
                raise InvalidInputError(
                    f"{item!r} is not models:/NAME/VERSION or models:/NAME@ALIAS"
                )
            if self.registry is None:
                raise InvalidInputError(f"{item} needs a registry")
            model_name = name or match["name"]
            source = _Source(uri=item)
        else:
            if isinstance(item, Bundle):
                path, bundle, default_name = item.path, item, item.name
                trust = self.trust_code or item.loads_code  # loaded by the caller, so trusted
            else:
                path, bundle, trust = Path(item), None, self.trust_code
                default_name = read_manifest(path)["name"]
            model_name = name or default_name
            source = _Source(path=path, bundle=bundle, version=version, trust_code=trust)
        if model_name in self._sources:
            raise InvalidInputError(f"two bundles are named {model_name!r}")
        self._sources[model_name] = source
        return model_name

    def follow(self, name: str, uri: str, version: int) -> None:
        """Follows alias `uri` for model `name`, served at `version` now (a hot swap when the
        alias moves), unless the app does not watch aliases."""
        if self.watch_interval_s is None or self._change_for is None:
            return
        for result in ("ok", "failed"):  # both series exist from the start, at 0
            self.server.metrics.swaps.labels(name, result)
        on_change = self._change_for(name, uri)

        def change(new_version: int) -> None:
            key = (name, str(new_version))
            with self._lock:
                if name not in self.server.models:
                    raise NotFoundError(f"model {name!r} was unloaded")
                self._states[key] = (LOADING, "")
                try:
                    on_change(new_version)
                except Exception as exc:
                    self._states[key] = (UNAVAILABLE, f"failed to load: {exc}")
                    raise
                self._states.pop(key, None)

        watcher = AliasWatcher(
            self.registry, uri, version, change, interval_s=self.watch_interval_s
        )
        self.server.watchers.append(watcher)
        self._watchers[name] = (uri, watcher)

    def version(self, name: str, version: str) -> ServedModel | None:
        """A live version of `name` other than its default, or None."""
        return self._extra.get(name, {}).get(version)

    def versions(self, name: str) -> dict[str, ServedModel]:
        """Every live version of `name`, its default first (versions by their string)."""
        out: dict[str, ServedModel] = {}
        default = self.server.models.get(name)
        if default is not None:
            out[default.version or ""] = default
        for version, served in self._extra.get(name, {}).items():
            out.setdefault(version, served)
        return out

    def live(self) -> list[ServedModel]:
        """Every live version of every model."""
        return [s for name in list(self.server.models) for s in self.versions(name).values()]

    def close(self, drain: bool = True) -> None:
        """Closes the versions other than the defaults (the app closes those)."""
        for extras in list(self._extra.values()):
            for served in list(extras.values()):
                served.ready = False
                served.batcher.close(drain=drain)

    # --- the repository operations ------------------------------------------------------------

    def index(self, ready_only: bool = False) -> list[dict[str, str]]:
        """Every model this server knows, one entry per version live, loading or failed, as
        Triton's repository index lists them."""
        names = set(self.server.models) | set(self._sources) | set(self._extra)
        names |= {name for name, _ in list(self._states)}
        if self.explicit and self.registry is not None:
            names |= {m.name for m in self.registry.list_models()}
        entries: list[dict[str, str]] = []
        for name in sorted(names):
            live = self.versions(name)
            listed = []
            for live_version, served in live.items():
                state = READY if served.ready else UNAVAILABLE
                listed.append(_entry(name, live_version, state, ""))
            for (model, version), (state, reason) in sorted(
                list(self._states.items()), key=lambda kv: str(kv[0][1])
            ):
                if model == name and (version or "") not in live:
                    listed.append(_entry(name, version, state, reason))
            entries += listed or [_entry(name, None, UNAVAILABLE, "not loaded")]
        if ready_only:
            entries = [e for e in entries if e["state"] == READY]
        return entries

    def load(self, name: str, parameters: Mapping[str, Any]) -> None:
        """Loads model `name` (see the module's docstring); blocks until it serves."""
        if not self.explicit:
            raise RepositoryError(503, _NOT_EXPLICIT)
        target = self._target(name, parameters)
        assert self._start is not None
        with self._lock:
            try:
                bundle, version, reference = self._open(target)
            except NotFoundError as exc:
                raise RepositoryError(404, f"cannot load model {name!r}: {exc}") from None
            except Exception as exc:
                raise self._failed(name, None, exc) from None
            key = (name, version)
            self._states[key] = (LOADING, "")
            try:
                new = self._start(bundle, name, version, reference)
            except Exception as exc:
                raise self._failed(name, version, exc) from None
            self._states.pop(key, None)
            closing = self._publish(name, new, default=target.follow)
            stopping = self._refollow(name, target, int(version or 0)) if target.uri else []
        log.info("model %r version %s loaded", name, version)
        self._release(stopping, closing)

    def unload(self, name: str, parameters: Mapping[str, Any]) -> None:
        """Unloads model `name`, or one version of it; blocks until its requests are done."""
        if not self.explicit:
            raise RepositoryError(503, _NOT_EXPLICIT)
        version = _version(parameters, allowed=("version", "unload_dependents"))
        with self._lock:
            if not self._known(name):
                raise RepositoryError(404, f"unknown model {name!r}")
            closing = self._take(name, version)
            remaining = name in self.server.models
            stopping = []
            if not remaining and name in self._watchers:
                stopping.append(self._watchers.pop(name)[1])
            for served in closing:
                self._states[(name, served.version)] = (UNLOADING, "")
        profiler = closing[0].profiler if closing and not remaining else None
        self._release(stopping, closing)
        if profiler is not None:
            profiler.close()
        with self._lock:
            for served in closing:
                self._states[(name, served.version)] = (UNAVAILABLE, "unloaded")
        log.info("model %r unloaded (%s)", name, ", ".join(str(s.version) for s in closing))

    # --- helpers -----------------------------------------------------------------------------

    def _known(self, name: str) -> bool:
        if name in self.server.models or name in self._sources or name in self._extra:
            return True
        if any(model == name for model, _ in list(self._states)):
            return True
        return self.registry is not None and any(
            m.name == name for m in self.registry.list_models()
        )

    def _target(self, name: str, parameters: Mapping[str, Any]) -> _Target:
        if "config" in parameters or any(k.startswith("file:") for k in parameters):
            raise RepositoryError(
                400,
                "a model configuration or files in a load request are not supported: seawall "
                "loads bundles (from a folder or the registry)",
            )
        version = _version(parameters, allowed=("version", "alias"))
        alias = parameters.get("alias")
        if alias is not None and (not isinstance(alias, str) or not _ALIAS.match(alias)):
            raise RepositoryError(400, f"parameter 'alias' must be an alias name, got {alias!r}")
        if version is not None and alias is not None:
            raise RepositoryError(400, "give 'version' or 'alias', not both")
        source = self._sources.get(name)
        if source is not None and source.path is not None:
            if version is not None or alias is not None:
                raise RepositoryError(
                    400,
                    f"model {name!r} is served from a bundle folder ({source.path}): it has no "
                    "registry versions or aliases to choose from",
                )
            return _Target(None, False, source)
        if source is not None:
            assert source.uri is not None
            match = _URI.match(source.uri)
            assert match is not None
            registry_name, base = match["name"], source.uri
        elif self.registry is not None:
            registry_name, base = name, f"models:/{name}@champion"
        else:
            raise RepositoryError(
                404, f"unknown model {name!r}: this server has {sorted(self._sources)}"
            )
        if version is not None:
            return _Target(f"models:/{registry_name}/{version}", False, source)
        if alias is not None:
            return _Target(f"models:/{registry_name}@{alias}", True, source)
        return _Target(base, "@" in base, source)

    def _open(self, target: _Target) -> tuple[Bundle, str | None, Callable[[], Any] | None]:
        if target.uri is not None:
            bundle, model, version = from_registry(self.registry, target.uri, self.trust_code)
            reference = registry_reference(self.registry, f"models:/{model}/{version}")
            return bundle, str(version), reference
        source = target.source
        assert source is not None and source.path is not None
        bundle = source.bundle or load_bundle(source.path, trust_code=source.trust_code)
        source.bundle = None  # loaded again from its folder next time
        return bundle, source.version or bundle.version, None

    def _failed(self, name: str, version: str | None, exc: Exception) -> RepositoryError:
        """Records and logs a failed load; the error to answer it with."""
        self._states[(name, version)] = (UNAVAILABLE, f"failed to load: {exc}")
        log.error("model %r failed to load: %s", name, exc, exc_info=exc)
        return RepositoryError(400, f"failed to load model {name!r}: {exc}")

    def _publish(self, name: str, new: ServedModel, default: bool) -> list[ServedModel]:
        """Serves `new`: as the default (the first version, one loaded through an alias, or a
        reload of the default), else beside it. Returns what it replaced, to close."""
        server = self.server
        current = server.models.get(name)
        extras = self._extra.setdefault(name, {})
        version = new.version or ""
        closing = []
        if current is None:
            new.profiler = self._new_profiler(name)
            server.models[name] = new
        elif default or (current.version or "") == version:
            server.swap(name, new)  # the old default drains and closes
        else:
            new.profiler = current.profiler
        if server.models[name] is new:
            stale = extras.pop(version, None)
        else:
            stale = extras.get(version)
            extras[version] = new
        if stale is not None:
            stale.replaced_by = new
            closing.append(stale)
        if not extras:
            del self._extra[name]
        return closing

    def _refollow(self, name: str, target: _Target, version: int) -> list[AliasWatcher]:
        """After a load through an alias: the model follows that alias (a watcher already on it
        learns the version now served). Returns the watchers to stop."""
        if not target.follow or target.uri is None:
            return []
        uri, watcher = self._watchers.get(name, (None, None))
        if watcher is not None and uri == target.uri:
            watcher.version = version
            return []
        stopping = []
        if watcher is not None:
            del self._watchers[name]
            stopping.append(watcher)
        self.follow(name, target.uri, version)
        return stopping

    def _take(self, name: str, version: str | None) -> list[ServedModel]:
        """Removes `name` (or one version of it) from serving; returns what to close."""
        server = self.server
        current = server.models.get(name)
        extras = self._extra.pop(name, {})
        if version is None:
            taken = [*(() if current is None else (current,)), *extras.values()]
            server.models.pop(name, None)
            return taken
        if current is not None and (current.version or "") == version:
            if extras:
                promoted = extras.pop(max(extras, key=_version_order))
                promoted.profiler = current.profiler
                server.models[name] = promoted
            else:
                server.models.pop(name, None)
            taken = [current]
        elif version in extras:
            taken = [extras.pop(version)]
        else:
            if extras:
                self._extra[name] = extras
            raise RepositoryError(404, f"model {name!r} has no version {version!r} loaded")
        if extras:
            self._extra[name] = extras
        return taken

    def _release(self, watchers: Iterable[AliasWatcher], served: Iterable[ServedModel]) -> None:
        """Stops watchers and closes models taken out of serving (outside the lock: a watcher
        may be waiting for it)."""
        for watcher in watchers:
            watcher.close()
            if watcher in self.server.watchers:
                self.server.watchers.remove(watcher)
        for s in served:
            s.ready = False
            s.batcher.close(drain=True)

    # --- HTTP -------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        """The repository extension's routes, and /config and /stats (before the app's
        /v2/models/{name} routes, so that /v2/models/stats is this one)."""
        routes: list[BaseRoute] = [
            Route("/v2/repository/index", self._index, methods=["POST"]),
            Route("/v2/repository/models/{name}/load", self._load, methods=["POST"]),
            Route("/v2/repository/models/{name}/unload", self._unload, methods=["POST"]),
            Route("/v2/models/stats", self._all_stats, methods=["GET"]),
        ]
        for prefix in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}"):
            routes += [
                Route(prefix + "/config", self._config, methods=["GET"]),
                Route(prefix + "/stats", self._stats, methods=["GET"]),
            ]
        return routes

    async def _body(self, request: Request) -> dict[str, Any]:
        body = await self.server.body(request)
        if not body.strip():
            return {}
        try:
            parsed = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BadRequest(f"the body is not valid JSON: {exc}") from None
        if not isinstance(parsed, dict):
            raise BadRequest("the body must be a JSON object")
        return parsed

    async def _parameters(self, request: Request) -> Mapping[str, Any]:
        parameters = (await self._body(request)).get("parameters", {})
        if not isinstance(parameters, dict):
            raise BadRequest("'parameters' must be an object")
        return parameters

    async def _index(self, request: Request) -> Response:
        try:
            ready = (await self._body(request)).get("ready", False)
            if not isinstance(ready, bool):
                raise BadRequest("'ready' must be true or false")
        except BadRequest as exc:
            return _error(413 if isinstance(exc, PayloadTooLarge) else 400, str(exc))
        entries = await anyio.to_thread.run_sync(self.index, ready)
        return Response(_dumps(entries), 200, media_type="application/json")

    async def _load(self, request: Request) -> Response:
        return await self._change(request, self.load)

    async def _unload(self, request: Request) -> Response:
        return await self._change(request, self.unload)

    async def _change(
        self, request: Request, operation: Callable[[str, Mapping[str, Any]], None]
    ) -> Response:
        try:
            parameters = await self._parameters(request)
            await anyio.to_thread.run_sync(operation, request.path_params["name"], parameters)
        except BadRequest as exc:
            return _error(413 if isinstance(exc, PayloadTooLarge) else 400, str(exc))
        except RepositoryError as exc:
            return _error(exc.status, str(exc))
        return Response(b"", 200)

    async def _config(self, request: Request) -> Response:
        try:
            served = self.server.model(request)
        except NotFound as exc:
            return _error(404, str(exc))
        config = model_config(served, served.warmup_sizes)
        return Response(_dumps(config), media_type="application/json")

    async def _stats(self, request: Request) -> Response:
        try:
            served = self.server.model(request)
        except NotFound as exc:
            return _error(404, str(exc))
        stats = [model_stats(served)]
        if "version" not in request.path_params:  # every live version, as Triton
            stats += [
                model_stats(s) for s in self.versions(served.name).values() if s is not served
            ]
        return Response(_dumps({"model_stats": stats}), media_type="application/json")

    async def _all_stats(self, request: Request) -> Response:
        stats = [model_stats(s) for s in self.live()]
        return Response(_dumps({"model_stats": stats}), media_type="application/json")


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _entry(name: str, version: str | None, state: str, reason: str) -> dict[str, str]:
    entry = {"name": name}
    if version:
        entry["version"] = version
    entry["state"] = state
    entry["reason"] = reason
    return entry


def _version(parameters: Mapping[str, Any], allowed: tuple[str, ...]) -> str | None:
    unknown = sorted(set(parameters) - set(allowed))
    if unknown:
        raise RepositoryError(
            400, f"unknown parameter {unknown[0]!r}: this request takes {list(allowed)}"
        )
    version = parameters.get("version")
    if version is None:
        return None
    if (
        isinstance(version, bool)
        or not isinstance(version, (int, str))
        or not str(version).isdigit()
    ):
        raise RepositoryError(400, f"parameter 'version' must be a version number, got {version!r}")
    return str(int(version))


def _version_order(version: str) -> tuple[int, str]:
    return (int(version), "") if version.isdigit() else (-1, version)


def _error(status: int, message: str) -> Response:
    return Response(_dumps({"error": message}), status, media_type="application/json")
