"""Who may do what on ``seawall server --auth registry``: the scopes each request needs.

Tokens are checked by the shared middleware (``seawall._server.auth``: 401 without a valid
token, 429 past its rate); every route but ``/`` and ``/openapi.json`` needs one. What a token
may then do is decided here, per route, from the route table's ``access`` templates and the
call's arguments (so that a run's writes need ``write`` on the run's experiment, which is in no
path), and answered 403 (``AccessDeniedError``) when its scopes fall short:

=========================================  =================================================
routes                                     need
=========================================  =================================================
experiments, runs, their params, metrics,  ``read`` / ``write:experiments/NAME`` (a run's:
artifacts, inputs                          its experiment's); purges ``admin``
models, versions, tags, deployments,       ``read`` / ``write:models/NAME``; purges ``admin``
lineage, monitoring history, alert         (version search of every model: ``models/*``)
acknowledgement, version search
aliases (set, delete, restore)             ``promote:models/NAME``
lists (experiments, models, model search,  a valid token: the answer keeps what it may read
summary, trash, alerts...)
events (``/events``, ``/events/stream``)   ``read`` on the ``resource`` asked for
                                           (``models/NAME...``); without one, every model
objects (``/objects/SHA``, ``/pins``)      reading: any scope; uploading and pinning: a
                                           write or admin scope
tokens, principals, webhooks, gc           ``admin`` on every experiment and model
=========================================  =================================================
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

from sqlalchemy import select

from .._server.auth import Access
from .._server.tokens import Principal
from ..errors import AccessDeniedError, InvalidInputError, NotFoundError
from ..registry._schema import experiments, runs
from ..registry.remote.routes import ADMIN, API_VERSION, Route

__all__ = ["Gate", "classify"]

_PUBLIC = Access("public", public=True)
_API = Access("api")  # a valid token; the scopes are checked per route (Gate)
_TEMPLATE = re.compile(r"^(\w+):(?:(\w+)/)?(?:(\*)|\{([\w.]+)(\|\*)?\})$")
_RUN_PARAMS = ("run_id", "run_ids")
_OBJECTS = f"/api/{API_VERSION}/objects/"
_EVENTS = f"/api/{API_VERSION}/events"
_WRITERS = ("write", "admin")


def classify(method: str, path: str) -> Access:
    """The shared middleware's question: does this request need a token at all?"""
    if path in ("/", "/openapi.json"):
        return _PUBLIC
    return _API


class Gate:
    """Decides what a principal may do on one registry: the scopes a call needs, the part of
    an answer it may read. A run stands for its experiment (kept for the runs asked about
    lately: a run never changes experiment)."""

    def __init__(self, registry: Any, size: int = 10_000) -> None:
        self._registry = registry
        self._experiments: OrderedDict[str, str] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    # --- the registry's calls ----------------------------------------------------------------

    def check(self, principal: Principal, route: Route, values: dict[str, Any]) -> None:
        """AccessDeniedError unless `principal` holds every scope `route` needs for the call's
        `values` (its decoded arguments)."""
        for template in route.access or ():
            for action, resource in self._needed(template, values):
                principal.require(action, resource)

    def readable(self, principal: Principal, route: Route, answer: Any) -> Any:
        """The part of `answer` the principal may read (all of it for most routes)."""
        if route.readable is None:
            return answer

        def may(kind: str, name: str) -> bool:
            if kind == "runs":
                try:
                    kind, name = "experiments", self.experiment_of(name)
                except NotFoundError:
                    return False
            return principal.can("read", f"{kind}/{name}")

        return route.readable(answer, may)

    def _needed(self, template: str, values: dict[str, Any]) -> Iterator[tuple[str, str]]:
        found = _TEMPLATE.match(template)
        if found is None:
            raise AssertionError(f"not an access template: {template!r}")
        action, kind, star, param, or_every = found.groups()
        if star:
            yield action, f"{kind}/*"
            return
        value = _value(values, param)
        if value is None:
            if or_every:
                yield action, f"{kind}/*"
            return
        names = value if isinstance(value, (list, tuple)) else [value]
        for name in names:
            if kind is None:  # an event or a resource: models/NAME/..., experiments/NAME/...
                yield from _of_resource(action, getattr(name, "resource", name))
            elif param.split(".")[0] in _RUN_PARAMS:
                yield action, f"experiments/{self.experiment_of(name)}"
            else:
                yield action, f"{kind}/{name}"

    def experiment_of(self, run_id: Any) -> str:
        """The name of the experiment of a run (deleted or not); NotFoundError if none."""
        if not isinstance(run_id, str):
            raise InvalidInputError(f"a run id is a string, got {type(run_id).__name__}")
        with self._lock:
            found = self._experiments.get(run_id)
        if found is not None:
            return found
        with self._registry._db.read() as conn:
            found = conn.execute(
                select(experiments.c.name)
                .join(runs, runs.c.experiment_id == experiments.c.id)
                .where(runs.c.uuid == run_id)
            ).scalar()
        if found is None:
            raise NotFoundError(f"no run with id {run_id!r}")
        with self._lock:
            self._experiments[run_id] = found
            while len(self._experiments) > self._size:
                self._experiments.popitem(last=False)
        return str(found)

    # --- the routes outside the table: objects and events -------------------------------------

    @staticmethod
    def check_request(principal: Principal, method: str, path: str, query: bytes) -> None:
        """The scopes the object and event routes need (the others are checked per call)."""
        if path.startswith(_OBJECTS):
            if method in ("PUT", "POST"):  # uploading, or pinning for a write
                if not any(s.action in _WRITERS for s in principal.scopes):
                    raise AccessDeniedError(
                        f"{principal.actor} may not store objects: its token has no write scope",
                        "write:experiments/...",
                    )
            elif not principal.scopes:
                raise AccessDeniedError(f"{principal.actor}'s token has no scope", "read:...")
        elif method == "GET" and path in (_EVENTS, _EVENTS + "/stream"):
            asked = parse_qs(query.decode("latin-1")).get("resource", [""])[0]
            needed = list(_of_resource("read", asked)) if asked else [("read", "models/*")]
            for action, resource in needed:
                principal.require(action, resource)


def _value(values: dict[str, Any], dotted: str) -> Any:
    head, *rest = dotted.split(".")
    value = values.get(head)
    for attr in rest:
        value = getattr(value, attr, None)
    return value


def _of_resource(action: str, resource: Any) -> Iterator[tuple[str, str]]:
    """The scope over an event's resource (``models/fraud/aliases/champion``: the model
    fraud); one outside the experiments and models needs it on every one of both."""
    kind, _, rest = str(resource).partition("/")
    name = rest.split("/", 1)[0]
    if kind in ("experiments", "models") and name:
        yield action, f"{kind}/{name}"
        return
    for scope in ADMIN:
        yield action, scope.partition(":")[2]
