"""Traffic policies: a served model's requests split between registry versions (arms).

``create_app("models:/fraud@champion", traffic=TrafficPolicy(canary="models:/fraud@challenger",
share=10, shadow="models:/fraud@candidate"))`` serves three arms under the one model name:

- the *primary* (the model served, ``models:/fraud@champion``) answers what the others do not;
- the *canary* answers ``share`` per cent of the requests, chosen at random, or, with ``sticky``,
  by a hash of a key (a header, ``header:x-user-id``, or an input column, ``input:user_id``:
  the first row's value), so that a key always reaches the same arm, across restarts and across
  replicas (BLAKE2b of the key's text, not Python's salted ``hash``). Raising the share only
  moves keys from the primary to the canary; requests without the key go at random;
- the *shadow* gets a copy of ``shadow_share`` per cent of the requests off the request path
  (:mod:`seawall.serving.shadow`): its answers are compared with the primary's and never sent.

Each arm is a ``models:/NAME@ALIAS`` (or ``models:/NAME/VERSION``) URI, followed like the
primary's: when its alias moves, the arm hot-swaps to the new version without dropping a
request. An arm must have the primary's signature (inputs and outputs); one whose version does
not load leaves the primary serving alone: the failure is logged once, counted on ``/metrics``
(``seawall_traffic_arm_loads_total{result="failed"}``) and retried with back-off.

Every answer names the arm and the version that answered it: response headers ``seawall-arm``
and ``seawall-model-version``, and in the response body's ``parameters`` (``seawall_arm``,
``seawall_model_version``). Each arm's figures (requests, errors, latency quantiles, predictions,
and the shadow's agreement with the primary; :mod:`seawall.serving.figures`) are on ``/metrics``
(``seawall_traffic_*``, label ``arm``), in a monitor's windows, on ``GET
/v2/models/{name}/traffic``, and drive the rollback and promotion rules
(:mod:`seawall.serving.rollout`).

At run time the canary's share changes through the Python API,
``app.state.seawall.traffic["fraud"].set_share(25)``, or ``POST /v2/models/{name}/traffic``
with ``{"share": 25}`` (and/or ``"shadow_share"``), which answers clients on loopback, or,
when the server checks tokens, a token with ``admin`` on the model (others get 403).

The live profile (and so a monitor's drift and prediction windows) sees what the primary
answers; the other arms are in the monitor's per-arm figures.

Per request the routing costs a dictionary lookup, one random number (or one hash of the
sticky key; an input key costs a second parse of the request's JSON) and a comparison; the
figures, a lock, a few additions and an append.
"""

from __future__ import annotations

import collections
import functools
import ipaddress
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .._server.auth import principal_of
from ..errors import InvalidInputError, NotFoundError
from .figures import ArmFigures, ArmStats
from .hot_swap import AliasWatcher, signature_changes
from .payload_log import current as payload_exchange
from .rollout import Rollout
from .shadow import LoggedCopy, ShadowQueue
from .shadow_process import ShadowProcess
from .traffic_policy import TrafficPolicy, check_share, input_key, sticky_unit

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from ..bundles import Bundle
    from .served_model import ServedModel

__all__ = ["Routed", "TrafficCollector", "TrafficPolicy", "TrafficRouter", "sticky_unit"]

log = logging.getLogger("seawall.serving")

ARMS = ("primary", "canary", "shadow")
_VIEWS = ("rollout", "monitor")


class Routed:
    """What the answer path tells the router about one request: the arm; the outputs, the
    request as the arm decoded it and the key of the features it made (for the shadow)."""

    __slots__ = ("arm", "features_key", "prepared", "result")

    def __init__(self, arm: str) -> None:
        self.arm = arm
        self.result: Mapping[str, Any] | None = None
        self.prepared: Any = None
        self.features_key: str | None = None


class _Arm:
    __slots__ = ("alias", "model", "name", "served", "uri", "watcher")

    def __init__(self, name: str, uri: str | None) -> None:
        self.name = name
        self.uri = uri
        self.alias = uri.split("@", 1)[1].rstrip("/") if uri and "@" in uri else None
        self.model: str | None = None
        self.served: ServedModel | None = None
        self.watcher: AliasWatcher | None = None


class TrafficRouter:
    """One served model's traffic policy at work: its arms, the routing of each request, the
    figures, the shadow queue and the rollout (module docstring).

    ``models`` is the server's table of served models (the primary is ``models[name]``, which a
    hot swap replaces); ``load(uri)`` loads a registry version's bundle and ``start(bundle,
    name, version)`` starts a ServedModel for it (the server's own, with its batcher options).
    """

    def __init__(
        self,
        name: str,
        policy: TrafficPolicy,
        models: dict[str, ServedModel],
        *,
        primary_uri: str | None,
        registry: Any,
        load: Callable[[str], Bundle],
        start: Callable[[Bundle, str, str], ServedModel],
        watch_interval_s: float | None,
        trust_code: bool = False,
    ) -> None:
        if not isinstance(policy, TrafficPolicy):
            raise InvalidInputError(
                f"traffic for {name!r} must be a TrafficPolicy, got {type(policy).__name__}"
            )
        if registry is None:
            raise InvalidInputError("a traffic policy's arms come from a registry: give registry=")
        self.name = name
        self.policy = policy
        self._models = models
        self._registry = registry
        self._load = load
        self._start = start
        self._lock = threading.Lock()
        self._stats: dict[tuple[str, str | None], ArmStats] = {}
        self.loads: collections.Counter[tuple[str, str]] = collections.Counter()
        # arm -> why its latest version did not load or warm up (gone once one does)
        self.load_errors: dict[str, str] = {}
        self._fraction = policy.share / 100
        self._shadow_fraction = policy.shadow_share / 100
        self._sticky_header = policy.sticky_key if policy.sticky_kind == "header" else None
        self._sticky_input = policy.sticky_key if policy.sticky_kind == "input" else None
        self._primary = _Arm("primary", primary_uri)
        self._arms = {"primary": self._primary}
        self._closed = False
        self._shadow_queue: ShadowQueue | None = None
        self.rollout: Rollout | None = None
        primary = models[name]
        if primary_uri is not None and primary_uri.startswith("models:/"):
            self._primary.model = primary_uri[len("models:/") :].split("@")[0].split("/")[0]
        if self._sticky_input is not None and self._sticky_input not in primary.inputs:
            raise InvalidInputError(
                f"sticky input {self._sticky_input!r} is not an input of {name!r} (it takes "
                f"{list(primary.inputs)})"
            )
        try:
            for role in ("canary", "shadow"):
                uri = getattr(policy, role)
                if uri is not None:
                    arm = _Arm(role, uri)
                    self._arms[role] = arm
                    self._first_load(arm, watch_interval_s)
            self._check_rollout()
            if "shadow" in self._arms:
                self._shadow_queue = ShadowQueue(
                    name,
                    lambda: self._arms["shadow"].served,
                    lambda version: self.stats_for("shadow", version),
                    size=policy.shadow_queue,
                    workers=policy.shadow_workers,
                    timeout_s=policy.shadow_timeout_s,
                    process=ShadowProcess(name, trust_code) if policy.shadow_process else None,
                )
            if policy.has_rollout:
                self.rollout = Rollout(
                    self,
                    rollback=policy.rollback_if,
                    promote=policy.promote_if,
                    promote_after_requests=policy.promote_after_requests,
                    promote_after_s=policy.promote_after_s,
                    interval_s=policy.interval_s,
                    min_requests=policy.min_requests,
                    move_alias=self._move_alias,
                )
        except BaseException:
            self.close()
            raise
        self._canary = self._arms.get("canary")

    # --- arms ---------------------------------------------------------------------------------

    def _first_load(self, arm: _Arm, watch_interval_s: float | None) -> None:
        """Resolves the arm's URI (an unknown model, version or alias is an error here) and
        loads its version; a version that does not load leaves the arm empty, retried."""
        assert arm.uri is not None
        try:
            mv = self._registry.resolve(arm.uri)
        except NotFoundError as exc:
            raise NotFoundError(f"the {arm.name} arm {arm.uri}: {exc}") from exc
        arm.model = str(mv.model)
        version = int(mv.version)
        loaded = False
        try:
            bundle = self._load(f"models:/{mv.model}/{version}")
        except Exception as exc:
            self._load_failed(arm, version, exc)
        else:
            self._check_signature(arm, bundle, version)  # refused at start: a clear error
            try:
                arm.served = self._start(bundle, self.name, str(version))  # and warmed up
            except Exception as exc:
                self._load_failed(arm, version, exc)
            else:
                self._loaded(arm)
                loaded = True
        if watch_interval_s is not None:
            arm.watcher = AliasWatcher(
                self._registry,
                arm.uri,
                version if loaded else 0,
                functools.partial(self._change, arm),
                interval_s=watch_interval_s,
            )
            if not loaded:
                arm.watcher.retry_later(version)

    def _load_failed(self, arm: _Arm, version: int, exc: BaseException) -> None:
        self.loads[(arm.name, "failed")] += 1
        self.load_errors[arm.name] = _load_error(version, exc)
        log.error(
            "traffic of %r: the %s arm %s (version %s) does not load: %s; the primary "
            "serves alone, retrying with back-off",
            self.name,
            arm.name,
            arm.uri,
            version,
            exc,
            exc_info=exc,
        )

    def _loaded(self, arm: _Arm) -> None:
        self.loads[(arm.name, "ok")] += 1
        self.load_errors.pop(arm.name, None)

    def _check_signature(self, arm: _Arm, bundle: Bundle, version: int) -> None:
        primary = self._models[self.name]
        changes = signature_changes(primary.bundle.signature, bundle.signature)
        if changes:
            raise InvalidInputError(
                f"the {arm.name} arm {arm.uri} (version {version}) must take and give what the "
                f"primary {self.name!r} does; its signature differs: {'; '.join(changes)}"
            )

    def _change(self, arm: _Arm, version: int) -> None:
        """The arm's alias moved: load and serve the new version beside the old, then switch."""
        try:
            bundle = self._load(f"models:/{arm.model}/{version}")
            self._check_signature(arm, bundle, version)
            new = self._start(bundle, self.name, str(version))
        except Exception as exc:
            self.loads[(arm.name, "failed")] += 1
            self.load_errors[arm.name] = _load_error(version, exc)
            raise  # the watcher logs it once and retries with back-off
        self._loaded(arm)
        with self._lock:
            old = arm.served
            arm.served = new
            if old is not None:
                old.replaced_by = new  # requests reaching its closed batcher go on to `new`
        if old is not None:
            old.ready = False
            old.batcher.close(drain=arm.name != "shadow")
        log.info(
            "traffic of %r: the %s arm serves version %s now (was %s)",
            self.name,
            arm.name,
            version,
            old.version if old is not None else "none",
        )

    def _check_rollout(self) -> None:
        policy = self.policy
        promotes = bool(
            policy.promote_if
            or policy.promote_after_requests is not None
            or policy.promote_after_s is not None
        )
        if promotes and self._primary.alias is None:
            raise InvalidInputError(
                "a promotion moves the primary's alias: serve a models:/NAME@ALIAS URI"
            )
        if not policy.has_rollout:
            return
        for arm in self._arms.values():
            if arm.name != "primary" and arm.model != self._primary.model:
                raise InvalidInputError(
                    f"rollback and promotion move aliases of one registered model: the "
                    f"{arm.name} arm {arm.uri} is not a version of {self._primary.model!r}"
                )

    def _move_alias(self, alias: str, version: str, reason: str) -> None:
        self._registry.set_alias(self._primary.model, alias, int(version), reason=reason)

    # --- what the rollout reads and does ------------------------------------------------------

    def arm_names(self) -> list[str]:
        return list(self._arms)

    def has_arm(self, arm: str) -> bool:
        return arm in self._arms

    def served(self, arm: str) -> ServedModel | None:
        if arm == "primary":
            return self._models[self.name]
        found = self._arms.get(arm)
        return found.served if found is not None else None

    def version_of(self, arm: str) -> str | None:
        served = self.served(arm)
        return served.version if served is not None else None

    def alias_of(self, arm: str) -> str | None:
        found = self._arms.get(arm)
        return found.alias if found is not None else None

    def active(self, arm: str) -> bool:
        """Whether the arm is loaded and gets traffic now."""
        if self.served(arm) is None:
            return False
        if arm == "canary":
            return self._fraction > 0
        if arm == "shadow":
            return self._shadow_fraction > 0
        return True

    def stop_arm(self, arm: str) -> None:
        """No more traffic to the arm (a rollback, or a promotion that made it the primary)."""
        if arm == "canary":
            self._fraction = 0.0
        elif arm == "shadow":
            self._shadow_fraction = 0.0

    def stats_for(self, arm: str, version: str | None) -> ArmStats:
        key = (arm, version)
        stats = self._stats.get(key)
        if stats is None:
            with self._lock:
                stats = self._stats.setdefault(key, ArmStats(version, _VIEWS))
        return stats

    def take(self, arm: str, view: str = "rollout") -> ArmFigures:
        """The arm's figures (of the version it serves now) since the previous take."""
        return self.stats_for(arm, self.version_of(arm)).take(view)

    def slice_figures(self) -> dict[str, ArmFigures]:
        """Each arm's figures since the previous call, all its versions together (the newest
        version named): what a monitor's window gets."""
        out: dict[str, ArmFigures] = {}
        with self._lock:
            items = list(self._stats.items())
        for (arm, _), stats in items:
            figures = stats.take("monitor")
            if figures.requests or figures.dropped:
                out.setdefault(arm, ArmFigures()).merge(figures)
        for arm, error in list(self.load_errors.items()):  # shown on the dashboard
            out.setdefault(arm, ArmFigures()).load_error = error
        for arm, figures in out.items():
            figures.version = self.version_of(arm) or figures.version
        return out

    # --- control ------------------------------------------------------------------------------

    @property
    def share(self) -> float:
        """The canary's per cent of requests now."""
        return self._fraction * 100

    @property
    def shadow_share(self) -> float:
        return self._shadow_fraction * 100

    def set_share(self, share: float) -> None:
        """Sends `share` per cent of requests to the canary from now on; restarts the rollout's
        evaluation (a rollback or promotion before stopped it)."""
        if "canary" not in self._arms:
            raise InvalidInputError(f"model {self.name!r} has no canary arm to give a share to")
        self._fraction = check_share(share, "the canary's share") / 100
        if self.rollout is not None:
            self.rollout.restart()
        log.info("traffic of %r: the canary gets %g%% of requests now", self.name, self.share)

    def set_shadow_share(self, share: float) -> None:
        """Copies `share` per cent of requests to the shadow from now on."""
        if "shadow" not in self._arms:
            raise InvalidInputError(f"model {self.name!r} has no shadow arm")
        self._shadow_fraction = check_share(share, "the shadow's share") / 100
        if self.rollout is not None:
            self.rollout.restart()

    def describe(self) -> dict[str, Any]:
        """The policy, its state and each arm's figures, as ``GET .../traffic`` answers."""
        arms: dict[str, Any] = {}
        for name, arm in self._arms.items():
            version = self.version_of(name)
            share = {"primary": None, "canary": self.share, "shadow": self.shadow_share}[name]
            arms[name] = {
                "uri": arm.uri,
                "version": version,
                "loaded": self.served(name) is not None,
                "load_error": self.load_errors.get(name),
                "share": share,
                "figures": self.stats_for(name, version).peek().summary(),
            }
        shadow = self._shadow_queue
        rollout = self.rollout
        return {
            "model": self.name,
            "sticky": self.policy.sticky,
            "arms": arms,
            "shadow_queue": None
            if shadow is None
            else {
                "queued": shadow.queued,
                "offered": shadow.offered,
                "dropped": shadow.dropped,
                "errors": shadow.errors,
                "process": None
                if shadow.process is None
                else {
                    "pid": shadow.process.pid,
                    "version": shadow.process.version,
                    "restarts": shadow.process.restarts,
                },
            },
            "rollout": None
            if rollout is None
            else {
                "state": rollout.state,
                "interval_s": rollout.interval_s,
                "rollback_if": [str(r) for r in rollout.rollback_rules],
                "promote_if": [str(r) for r in rollout.promote_rules],
                "evaluations": rollout.evaluations,
                "events": [e.to_dict() for e in rollout.events],
            },
        }

    def close(self) -> None:
        """Stops the rollout, the shadow workers and the watchers, and closes the arms'
        batchers (the canary's finishing what it holds)."""
        if self._closed:
            return
        self._closed = True
        if self.rollout is not None:
            self.rollout.close()
        if self._shadow_queue is not None:
            self._shadow_queue.close()
        for arm in self._arms.values():
            if arm.name == "primary":
                continue  # the server closes its own models
            if arm.watcher is not None:
                arm.watcher.close()
            served = arm.served
            if served is None:
                continue
            served.ready = False
            if arm.name == "shadow":
                # a hung shadow must not hold up the server's shutdown
                t = threading.Thread(target=served.batcher.close, args=(False,), daemon=True)
                t.start()
                t.join(5.0)
            else:
                served.batcher.close(drain=True)

    # --- the request path ---------------------------------------------------------------------

    def _choose(self, key: str | None) -> _Arm:
        fraction = self._fraction
        canary = self._canary
        if fraction <= 0.0 or canary is None or canary.served is None:
            return self._primary
        if key is not None:
            return canary if sticky_unit(key) < fraction else self._primary
        return canary if random.random() < fraction else self._primary

    async def answer(
        self, server: Any, request: Request, endpoint: str, body: bytes, header_length: str | None
    ) -> Response:
        """Answers a request with the arm the policy picks; offers a copy to the shadow."""
        if self._sticky_header is not None:
            arm = self._choose(request.headers.get(self._sticky_header))
        elif self._sticky_input is not None and self._fraction > 0.0:
            arm = self._choose(input_key(endpoint, body, header_length, self._sticky_input))
        else:
            arm = self._choose(None)
        served = self._models[self.name] if arm is self._primary else arm.served
        assert served is not None
        exchange = payload_exchange() if server.payload_log is not None else None
        if exchange is not None:  # the payload record names the arm that answered
            exchange.arm = arm.name
        routed = Routed(arm.name)
        start = time.perf_counter()
        response, answered = await server.answer_with(served, endpoint, body, header_length, routed)
        seconds = time.perf_counter() - start
        code = response.status_code
        self.stats_for(arm.name, answered.version).record(code >= 500, seconds, routed.result)
        shadow = self._shadow_queue
        fraction = self._shadow_fraction
        if (
            shadow is not None
            and fraction > 0.0
            and not 400 <= code < 500  # a request the arm refused is refused by the shadow too
            and (fraction >= 1.0 or random.random() < fraction)
        ):
            shadow.offer(
                endpoint,
                body,
                header_length,
                routed.result if arm is self._primary else None,
                _logged_copy(server.payload_log, exchange),
                decoded=routed.prepared,
                features_key=routed.features_key,
            )
        raw = response.raw_headers  # (Starlette's list of header pairs; cheaper than .headers)
        raw.append((b"seawall-arm", arm.name.encode()))
        if answered.version is not None:
            raw.append((b"seawall-model-version", answered.version.encode()))
        return response

    # --- the admin endpoint -------------------------------------------------------------------

    async def admin(self, request: Request) -> Response:
        """``GET``: :meth:`describe`. ``POST`` ``{"share": 25, "shadow_share": 50}`` (either or
        both): sets them, from a client on loopback only, or with a token whose scopes allow
        ``admin`` on the model when the server checks tokens (``create_app(auth=...)``)."""
        if request.method == "GET":
            return _json(200, self.describe())
        client = request.client.host if request.client is not None else None
        # With auth, the middleware has let only tokens with admin on this model through.
        if not _is_loopback(client) and principal_of(request) is None:
            return _error(
                403,
                "changing the traffic policy is allowed from loopback only, or with a token "
                "(this server does not check tokens: --auth)",
            )
        try:
            change = json.loads(await request.body())
        except ValueError as exc:
            return _error(400, f"the body is not valid JSON: {exc}")
        if not isinstance(change, dict) or not change:
            return _error(400, 'send a JSON object such as {"share": 25, "shadow_share": 100}')
        unknown = sorted(set(change) - {"share", "shadow_share"})
        if unknown:
            return _error(400, f"unknown fields {unknown}: send share and/or shadow_share")
        try:
            for key in ("share", "shadow_share"):
                check_share(change.get(key, 0), f"'{key}'")
            if "share" in change:
                self.set_share(change["share"])
            if "shadow_share" in change:
                self.set_shadow_share(change["shadow_share"])
        except InvalidInputError as exc:
            return _error(400, str(exc))
        return _json(200, self.describe())


def _load_error(version: int, exc: BaseException) -> str:
    return f"version {version} did not load: {type(exc).__name__}: {exc}"[:500]


def _logged_copy(payload_log: Any, exchange: Any) -> LoggedCopy | None:
    """Where the shadow's answer to this request is logged (None: it is not)."""
    prepared = exchange.prepared if exchange is not None else None
    if prepared is None or prepared.id is None or not payload_log.sampled(prepared.id, "shadow"):
        return None
    inputs = prepared.raw
    if inputs is None:  # no feature pipeline: the model's input tensor itself
        inputs = {exchange.served.bundle.signature.inputs[0].name: prepared.x}
    return LoggedCopy(payload_log, prepared.id, inputs, exchange.time)


def _json(status: int, obj: Any) -> Response:
    from starlette.responses import Response

    from .served_model import _dumps

    return Response(_dumps(obj), status, media_type="application/json")


def _error(status: int, message: str) -> Response:
    return _json(status, {"error": message})


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class TrafficCollector:
    """The routers' figures on ``/metrics`` (read when Prometheus scrapes).

    Labels ``model``, ``arm``, ``version``: ``seawall_traffic_requests_total``,
    ``seawall_traffic_errors_total`` (5xx answers), ``seawall_traffic_request_duration_seconds``
    (summary: quantiles 0.5, 0.9, 0.99), ``seawall_traffic_predictions_total`` (per ``class``),
    ``seawall_traffic_score_mean``, ``seawall_traffic_shadow_agreement_ratio`` and
    ``seawall_traffic_shadow_score_mad``. Per model and arm: ``seawall_traffic_share_percent``,
    ``seawall_traffic_arm_loads_total`` (``result`` ok or failed). Per model:
    ``seawall_traffic_shadow_dropped_total``, ``seawall_traffic_shadow_queued``,
    ``seawall_traffic_shadow_process_restarts_total``,
    ``seawall_traffic_rollouts_total`` (``action`` rollback or promotion).
    """

    def __init__(self, routers: Callable[[], Iterable[TrafficRouter]]) -> None:
        self._routers = routers

    def collect(self) -> Iterable[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

        labels = ["model", "arm", "version"]
        requests = CounterMetricFamily(
            "seawall_traffic_requests", "Requests answered by each arm.", labels=labels
        )
        errors = CounterMetricFamily(
            "seawall_traffic_errors", "Answers with a 5xx status, by arm.", labels=labels
        )
        latency = Metric(
            "seawall_traffic_request_duration_seconds",
            "Time each arm took to answer (a shadow: its copies), quantiles within 2%.",
            "summary",
        )
        classes = CounterMetricFamily(
            "seawall_traffic_predictions", "Predicted rows by class.", labels=[*labels, "class"]
        )
        score = GaugeMetricFamily(
            "seawall_traffic_score_mean", "Mean predicted score of each arm.", labels=labels
        )
        agreement = GaugeMetricFamily(
            "seawall_traffic_shadow_agreement_ratio",
            "Share of rows where the shadow gives the primary's class.",
            labels=labels,
        )
        mad = GaugeMetricFamily(
            "seawall_traffic_shadow_score_mad",
            "Mean absolute difference between the shadow's scores and the primary's.",
            labels=labels,
        )
        share = GaugeMetricFamily(
            "seawall_traffic_share_percent",
            "Per cent of requests each arm gets (the shadow: copied).",
            labels=["model", "arm"],
        )
        loads = CounterMetricFamily(
            "seawall_traffic_arm_loads",
            "Loads of an arm's version, by result (a failed one leaves the primary serving).",
            labels=["model", "arm", "result"],
        )
        dropped = CounterMetricFamily(
            "seawall_traffic_shadow_dropped",
            "Shadow copies dropped because the shadow's queue was full.",
            labels=["model"],
        )
        queued = GaugeMetricFamily(
            "seawall_traffic_shadow_queued", "Shadow copies waiting now.", labels=["model"]
        )
        restarts = CounterMetricFamily(
            "seawall_traffic_shadow_process_restarts",
            "Times the shadow's worker process died and was started again.",
            labels=["model"],
        )
        rollouts = CounterMetricFamily(
            "seawall_traffic_rollouts",
            "Automatic rollbacks and promotions.",
            labels=["model", "action"],
        )
        for router in self._routers():
            name = router.name
            with router._lock:
                items = list(router._stats.items())
            for (arm, version), stats in items:
                f = stats.peek()
                key = [name, arm, version or ""]
                requests.add_metric(key, f.requests)
                errors.add_metric(key, f.errors)
                base = dict(zip(labels, key, strict=True))
                for q in (0.5, 0.9, 0.99):
                    value = f.quantile(q)
                    if value is not None:
                        latency.add_sample(latency.name, {**base, "quantile": str(q)}, value)
                latency.add_sample(f"{latency.name}_count", base, float(f.answered))
                latency.add_sample(f"{latency.name}_sum", base, f.latency_sum)
                for label, n in f.classes.items():
                    classes.add_metric([*key, label], n)
                if f.score_n:
                    score.add_metric(key, f.score_sum / f.score_n)
                if f.agreement is not None:
                    agreement.add_metric(key, f.agreement)
                if f.score_mad is not None:
                    mad.add_metric(key, f.score_mad)
            for arm in router.arm_names():
                if arm != "primary":
                    share.add_metric(
                        [name, arm], router.share if arm == "canary" else router.shadow_share
                    )
                    for result in ("ok", "failed"):
                        loads.add_metric([name, arm, result], router.loads[(arm, result)])
            shadow = router._shadow_queue
            if shadow is not None:
                dropped.add_metric([name], shadow.dropped)
                queued.add_metric([name], shadow.queued)
                if shadow.process is not None:
                    restarts.add_metric([name], shadow.process.restarts)
            for action in ("rollback", "promotion"):
                done = router.rollout.counts[action] if router.rollout is not None else 0
                rollouts.add_metric([name, action], done)
        yield from (requests, errors, latency, classes, score, agreement, mad, share, loads)
        yield from (dropped, queued, restarts, rollouts)
