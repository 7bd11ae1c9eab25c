"""The registry's HTTP API as one table: each route's method and path, and the registry call it
serves. Everything else is derived from it: the server's handlers, the client's methods and the
OpenAPI document take each parameter's name, type and default, and the type of the answer, from
the signature of the call itself, so the three cannot drift apart.

A parameter named in the path is a path parameter; the others go in the JSON body (POST, PUT,
PATCH) or the query string (GET, DELETE). Two kinds of parameter cross in a form of their own:

* a run handle (``run: Run``, the first parameter of the calls a :class:`Run` makes) is its id,
  in the path as ``{run_id}``; the server makes a handle for it;
* a model reference (``model, version``: a name and a number, alias or "latest", or a
  ``models:/`` URI alone) is resolved by the client into ``{model}`` and ``{version}``.

A call that references stored objects takes the writer's pins (``pins: Pins``, which hold the
objects against garbage collection until the references commit; see ``_gc.py``). The pins do
not cross: the client has uploaded the objects, and the server makes the call's pins, which
hold what the call references and fail it cleanly (NotFoundError) if gc took an object in
between; the client then uploads what is missing again and sends the call once more.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from .._entities import Deletion, Model, ModelVersion
from .._pages import ModelPage, Page, VersionPage
from .._registry import Registry
from .._run import Run
from .._search import RunPage
from .._summary import Summary
from .codec import CODECS, Codec, decode, encode, schema

__all__ = [
    "ADMIN",
    "ANY_TOKEN",
    "API_VERSION",
    "REGISTRY_ROUTES",
    "Readable",
    "Route",
    "RouteTable",
]

API_VERSION = 1
"""The version of the wire API: in every path (``/api/1/...``) and in the ``Seawall-API``
header of every request and answer. A client and a server of different versions refuse each
other with an error that names both."""

_PATH_PARAM = re.compile(r"{(\w+)(?::\w+)?}")

# may(kind, name): whether the request's principal may read that experiment, model or run.
Readable = Callable[[str, str], bool]


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # under /api/<version>, in Starlette's syntax ({key:path} may hold '/')
    call: str  # the method of the target object it serves
    summary: str
    run: bool = False  # the call's first parameter is a run handle, sent as {run_id}
    model_ref: bool = False  # (model, version) sent as {model} and {version}
    # Turns the decoded arguments into the call's (the server side of a wire form).
    server_args: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    # What the server answers instead of the call's result, given the result and the handle.
    server_answer: Callable[[Any, Any], Any] | None = None
    answer_type: Any = None  # the answer's type, where server_answer changes it
    pinned: bool = False  # the call takes the writer's `pins`, which the server makes
    # The scopes a token needs (all of them), as ACTION:KIND/NAME templates whose NAME is a
    # literal, "*" (every one), or {param}: the call's argument (a list: each; None: nothing
    # needed, or every one with {param|*}). {run_id} and {run_ids} name runs, which stand
    # for their experiments; ACTION:{param} takes the kind and name from an event or a
    # resource ("models/fraud/..."). () asks for a valid token only. Checked with --auth.
    access: tuple[str, ...] | None = None
    # Keeps the part of the answer the principal may read: (answer, may(kind, name)).
    readable: Callable[[Any, Readable], Any] | None = None

    @property
    def idempotent(self) -> bool:
        return self.method in ("GET", "HEAD")

    @property
    def path_params(self) -> list[str]:
        return _PATH_PARAM.findall(self.path)

    @property
    def openapi_path(self) -> str:
        return _PATH_PARAM.sub(r"{\1}", self.path)


class RouteTable:
    """Routes over the methods of one class (``target``): the signatures and hints of each."""

    def __init__(self, name: str, target: type, routes: list[Route], tag: str) -> None:
        self.name = name
        self.target = target
        self.routes = routes
        self.tag = tag
        self.by_call = {r.call: r for r in routes}
        if len(self.by_call) != len(routes):
            raise AssertionError(f"{name}: two routes serve the same call")
        undeclared = [r.call for r in routes if r.access is None]
        if undeclared:
            raise AssertionError(f"{name}: routes without access: {', '.join(undeclared)}")

    def function(self, route: Route) -> Callable[..., Any]:
        return typing.cast("Callable[..., Any]", getattr(self.target, route.call))

    def signature(self, route: Route) -> inspect.Signature:
        return self._signatures[route.call]

    @cached_property
    def _signatures(self) -> dict[str, inspect.Signature]:
        return {r.call: inspect.signature(self.function(r)) for r in self.routes}

    @cached_property
    def _hints(self) -> dict[str, dict[str, Any]]:
        out = {}
        for route in self.routes:
            fn = self.function(route)
            namespace = {"Registry": Registry, "Run": Run, "Any": Any}
            out[route.call] = typing.get_type_hints(fn, localns=namespace)
        return out

    def hints(self, route: Route) -> dict[str, Any]:
        return self._hints[route.call]

    def wire_params(self, route: Route) -> list[inspect.Parameter]:
        """The call's parameters as they cross (without self, the run handle, the model ref)."""
        params = list(self.signature(route).parameters.values())[1:]
        if route.run:
            params = params[1:]
        if route.model_ref:
            params = [p for p in params if p.name not in ("model", "version")]
        if route.pinned:
            params = [p for p in params if p.name != "pins"]
        return [p for p in params if p.name not in route.path_params]

    def answer_type(self, route: Route) -> Any:
        if route.server_answer is not None:
            return route.answer_type
        return self.hints(route).get("return", Any)


# --- wire forms of the run handle and its pages -----------------------------------------------


def _encode_run(run: Run) -> dict[str, Any]:
    return {
        "id": run.id,
        "experiment": run.experiment,
        "name": run.name,
        "status": run.status,
        "start_time": run.start_time,
        "end_time": run.end_time,
        "params": run.params,
        "metrics": run.metrics,
        "tags": run.tags,
        "actor": run.actor,
    }


def _decode_run(data: dict[str, Any], client: Any) -> Run:
    return Run(
        client,
        0,  # the server's own key; a remote handle is named by its id
        data["id"],
        data["experiment"],
        data["name"],
        data["status"],
        data["start_time"],
        data["end_time"],
        dict(data["params"]),
        {k: float(v) for k, v in data["metrics"].items()},
        dict(data["tags"]),
        actor=data.get("actor"),
    )


def _run_schema(components: dict[str, Any]) -> dict[str, Any]:
    components.setdefault(
        "Run",
        {
            "type": "object",
            "description": "A run of an experiment, with its params, newest metrics and tags.",
            "properties": {
                "id": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
                "experiment": {"type": "string"},
                "name": {"type": "string", "nullable": True},
                "status": {"type": "string", "enum": ["RUNNING", "FINISHED", "FAILED", "KILLED"]},
                "start_time": {"type": "number"},
                "end_time": {"type": "number", "nullable": True},
                "params": {"type": "object", "additionalProperties": {"type": "string"}},
                "metrics": {"type": "object", "additionalProperties": {"type": "number"}},
                "tags": {"type": "object", "additionalProperties": {"type": "string"}},
                "actor": {
                    "type": "string",
                    "nullable": True,
                    "description": "Who started it: a token's principal or an OS login",
                },
            },
            "required": ["id", "experiment", "status", "start_time", "params", "metrics", "tags"],
        },
    )
    return {"$ref": "#/components/schemas/Run"}


CODECS[Run] = Codec(_encode_run, _decode_run, _run_schema)


def _page_codec(page: type[Page[Any]], item: type, field: str, what: str) -> Codec:
    """A page of a search: its items under `field`, and the token of the next page."""

    def page_schema(components: dict[str, Any]) -> dict[str, Any]:
        components.setdefault(
            page.__name__,
            {
                "type": "object",
                "description": f"One page of {what}; `token`, passed back as page_token with "
                "the same search, gives the next page (null on the last page).",
                "properties": {
                    field: {"type": "array", "items": schema(item, components)},
                    "token": {"type": "string", "nullable": True},
                },
                "required": [field, "token"],
            },
        )
        return {"$ref": f"#/components/schemas/{page.__name__}"}

    return Codec(
        lambda found: {field: [encode(i) for i in found], "token": found.token},
        lambda data, client: page([decode(i, item, client) for i in data[field]], data["token"]),
        page_schema,
    )


CODECS[RunPage] = _page_codec(RunPage, Run, "runs", "runs")
CODECS[ModelPage] = _page_codec(ModelPage, Model, "models", "models")
CODECS[VersionPage] = _page_codec(VersionPage, ModelVersion, "versions", "model versions")


# --- server sides of the calls a run handle makes ---------------------------------------------


def _batch_args(args: dict[str, Any]) -> dict[str, Any]:
    # Metrics cross as [key, value, step, timestamp] lists; the registry takes tuples.
    items = args.get("metric_items") or []
    if not isinstance(items, list):
        return args
    return {**args, "metric_items": [tuple(m) if isinstance(m, list) else m for m in items]}


def _run_state(result: Any, run: Run) -> dict[str, Any]:
    return {"status": run.status, "end_time": run.end_time}


# Scopes a token needs on the registry's routes (see ``Route.access``).
ADMIN = ("admin:experiments/*", "admin:models/*")  # every resource: the registry's admins
ANY_TOKEN: tuple[str, ...] = ()  # a valid token, whatever its scopes


def _named(kind: str) -> Callable[[Any, Readable], Any]:
    """Keeps the records (with a ``name``) of `kind` the principal may read."""
    return lambda found, may: [r for r in found if may(kind, r.name)]


def _named_page(kind: str) -> Callable[[Any, Readable], Any]:
    """Keeps the records of a page the principal may read, and the page's token."""
    return lambda found, may: type(found)([r for r in found if may(kind, r.name)], found.token)


def _readable_summary(found: Summary, may: Readable) -> Summary:
    return Summary(
        {e: n for e, n in found.runs_per_experiment.items() if may("experiments", e)},
        [m for m in found.models if may("models", m.name)],
    )


_DELETION_KINDS = {"experiment": "experiments", "model": "models", "run": "runs"}


def _readable_deletions(found: list[Deletion], may: Readable) -> list[Deletion]:
    def readable(d: Deletion) -> bool:
        if d.target.startswith("models:/"):  # a version: models:/NAME/VERSION
            return may("models", d.target[len("models:/") :].rsplit("/", 1)[0])
        kind, _, name = d.target.partition(":")
        return kind in _DELETION_KINDS and may(_DELETION_KINDS[kind], name)

    return [d for d in found if readable(d)]


READ_EXPERIMENT = ("read:experiments/{name}",)
WRITE_EXPERIMENT = ("write:experiments/{name}",)
READ_RUN = ("read:experiments/{run_id}",)  # the experiment of the run
WRITE_RUN = ("write:experiments/{run_id}",)
READ_MODEL = ("read:models/{name}",)
WRITE_MODEL = ("write:models/{name}",)
READ_VERSION = ("read:models/{model}",)
WRITE_VERSION = ("write:models/{model}",)
PROMOTE = ("promote:models/{model}",)


def _deletes(
    kind: str, path: str, key: str, write: tuple[str, ...], purge: tuple[str, ...], **extra: Any
) -> list[Route]:
    """Delete, restore and purge of one kind of thing."""
    return [
        Route(
            "POST",
            f"{path}/{action}",
            f"{action}_{kind}",
            summary,
            access=purge if action == "purge" else write,
            **extra,
        )
        for action, summary in (
            ("delete", f"Delete a {key} softly (hidden, restorable), recorded"),
            ("restore", f"Restore a deleted {key}, recorded"),
            ("purge", f"Delete a deleted {key} permanently (a tombstone stays), recorded"),
        )
    ]


REGISTRY_ROUTES = RouteTable(
    "registry",
    Registry,
    [
        # experiments
        Route(
            "POST",
            "/experiments",
            "create_experiment",
            "Create an experiment",
            access=WRITE_EXPERIMENT,
        ),
        Route(
            "GET",
            "/experiments",
            "list_experiments",
            "List the experiments",
            access=ANY_TOKEN,
            readable=_named("experiments"),
        ),
        Route(
            "GET",
            "/experiments/{name}",
            "get_experiment",
            "Get an experiment by name",
            access=READ_EXPERIMENT,
        ),
        # runs
        Route(
            "POST",
            "/runs",
            "_start_run",
            "Start a run (its experiment is created if new), owned by the client's process "
            "([host, pid, start]), which keeps its heartbeat",
            access=("write:experiments/{experiment}",),
        ),
        Route(
            "POST",
            "/runs/heartbeat",
            "_beat",
            "Mark runs alive: their process's heartbeat",
            access=("write:experiments/{run_ids}",),
        ),
        Route(
            "POST",
            "/runs/search",
            "search_runs",
            "Search runs, a page at a time",
            access=("read:experiments/{experiment|*}",),
        ),
        Route(
            "GET",
            "/runs/{run_id}",
            "get_run",
            "Get a run with its params, metrics and tags",
            access=READ_RUN,
        ),
        Route(
            "POST",
            "/runs/{run_id}/end",
            "_end_run",
            "End (terminate) a run: FINISHED, FAILED or KILLED",
            run=True,
            server_answer=_run_state,
            answer_type=dict[str, Any],
            access=WRITE_RUN,
        ),
        Route(
            "POST",
            "/runs/{run_id}/batch",
            "_log_batch",
            "Log metrics ([key, value, step, timestamp]), params and tags in one transaction",
            run=True,
            server_args=_batch_args,
            access=WRITE_RUN,
        ),
        Route(
            "GET",
            "/runs/{run_id}/metric-history",
            "metric_history",
            "Every logged point of one metric",
            access=READ_RUN,
        ),
        Route(
            "GET",
            "/runs/{run_id}/artifacts",
            "list_artifacts",
            "List a run's artifacts",
            access=READ_RUN,
        ),
        Route(
            "POST",
            "/runs/{run_id}/artifacts",
            "_record_artifacts",
            "Record stored objects as a run's artifacts ([name, sha256, size]), with an event "
            "in the same transaction; names are write-once",
            run=True,
            pinned=True,
            access=(*WRITE_RUN, "write:{event}"),
        ),
        Route(
            "GET",
            "/runs/{run_id}/artifact-sha256",
            "_artifact_sha",
            "The SHA-256 of a run's artifact (its bytes: GET /objects/{sha256})",
            access=READ_RUN,
        ),
        Route(
            "POST",
            "/runs/{run_id}/inputs",
            "_record_input",
            "Record a dataset a run read, by fingerprint",
            run=True,
            pinned=True,
            access=WRITE_RUN,
        ),
        Route(
            "GET",
            "/runs/{run_id}/inputs",
            "run_inputs",
            "List the datasets a run read",
            access=READ_RUN,
        ),
        # models and versions
        Route(
            "GET",
            "/models",
            "list_models",
            "List the models",
            access=ANY_TOKEN,
            readable=_named("models"),
        ),
        Route(
            "POST",
            "/models/search",
            "search_models",
            "Search models by name and tags, a page at a time",
            access=ANY_TOKEN,
            readable=_named_page("models"),
        ),
        Route(
            "POST",
            "/model-versions/search",
            "search_model_versions",
            "Search model versions by model, run and tags, a page at a time",
            access=("read:models/{model|*}",),
        ),
        Route(
            "GET",
            "/models/{name}",
            "get_model",
            "Get a model with its aliases and tags",
            access=READ_MODEL,
        ),
        Route(
            "PATCH",
            "/models/{name}",
            "set_model_description",
            "Set a model's description",
            access=WRITE_MODEL,
        ),
        Route(
            "PUT",
            "/models/{name}/tags/{key:path}",
            "set_model_tag",
            "Set a model's tag",
            access=WRITE_MODEL,
        ),
        Route(
            "POST",
            "/models/{name}/versions",
            "_register_stored",
            "Register the next version of a model from a stored bundle manifest",
            pinned=True,
            access=(*WRITE_MODEL, "read:experiments/{run_id}"),
        ),
        Route(
            "GET",
            "/models/{model}/versions",
            "list_versions",
            "List a model's versions",
            access=READ_VERSION,
        ),
        Route(
            "GET",
            "/models/{model}/versions/{version}",
            "get_model_version",
            "Get a version by number, alias or 'latest'",
            model_ref=True,
            access=READ_VERSION,
        ),
        Route(
            "PATCH",
            "/models/{model}/versions/{version}",
            "set_version_description",
            "Set a version's description",
            model_ref=True,
            access=WRITE_VERSION,
        ),
        Route(
            "PUT",
            "/models/{model}/versions/{version}/tags/{key:path}",
            "set_version_tag",
            "Set a version's tag",
            model_ref=True,
            access=WRITE_VERSION,
        ),
        Route(
            "POST",
            "/models/{model}/versions/{version}/deployments",
            "record_deployment",
            "Record that a version went to a target",
            model_ref=True,
            access=WRITE_VERSION,
        ),
        Route(
            "GET",
            "/models/{model}/versions/{version}/lineage",
            "lineage",
            "The lineage graph of a version: datasets, run, aliases, deployments",
            model_ref=True,
            access=READ_VERSION,
        ),
        # aliases and their audit
        Route(
            "PUT",
            "/models/{model}/aliases/{alias}",
            "set_alias",
            "Point an alias at a version, with its audit record",
            access=PROMOTE,
        ),
        Route(
            "DELETE",
            "/models/{model}/aliases/{alias}",
            "delete_alias",
            "Delete an alias, with its audit record",
            access=PROMOTE,
        ),
        Route(
            "POST",
            "/models/{model}/aliases/{alias}/restore",
            "restore_alias",
            "Point a deleted alias back at its version, with its audit record",
            access=PROMOTE,
        ),
        Route(
            "GET",
            "/models/{model}/alias-history",
            "alias_history",
            "Every move of a model's aliases (or of one), oldest first",
            access=READ_VERSION,
        ),
        Route(
            "GET",
            "/summary",
            "summary",
            "Runs per experiment and a summary of every model",
            access=ANY_TOKEN,
            readable=_readable_summary,
        ),
        # deleting, and garbage collection
        *_deletes(
            "experiment",
            "/experiments/{name}",
            "experiment",
            WRITE_EXPERIMENT,
            ("admin:experiments/{name}",),
        ),
        *_deletes(
            "run",
            "/runs/{run_id}",
            "run",
            ("write:experiments/{run_id}",),
            ("admin:experiments/{run_id}",),
        ),
        *_deletes("model", "/models/{name}", "model", WRITE_MODEL, ("admin:models/{name}",)),
        *_deletes(
            "model_version",
            "/models/{model}/versions/{version}",
            "version",
            WRITE_VERSION,
            ("admin:models/{model}",),
            model_ref=True,
        ),
        Route(
            "GET",
            "/trash",
            "trash",
            "What is deleted and can be restored: the delete record of each, newest first",
            access=ANY_TOKEN,
            readable=_readable_deletions,
        ),
        Route(
            "GET",
            "/deletions",
            "deletion_history",
            "Every delete, restore and purge (of one target), oldest first",
            access=ANY_TOKEN,
            readable=_readable_deletions,
        ),
        Route(
            "POST",
            "/gc",
            "gc",
            "Garbage-collect the artifact store (mark and sweep; dry_run removes nothing)",
            access=ADMIN,
        ),
        # events (read and waited for at GET /events and /events/stream) and webhooks
        Route(
            "GET",
            "/events/last-id",
            "last_event_id",
            "The id of the newest event (0: none): where to start following",
            access=ANY_TOKEN,
        ),
        Route(
            "POST",
            "/events",
            "record_event",
            "Write an event of your own (a key already used returns the first event)",
            access=("write:{resource}",),
        ),
        Route(
            "POST",
            "/events/prune",
            "prune_events",
            "Remove old events that every webhook has handled",
            access=ADMIN,
        ),
        Route(
            "POST",
            "/webhooks",
            "add_webhook",
            "Subscribe a URL to events (its signing secret is in this answer only)",
            access=ADMIN,
        ),
        Route("GET", "/webhooks", "list_webhooks", "List the subscriptions", access=ADMIN),
        Route(
            "DELETE",
            "/webhooks/{webhook_id:int}",
            "remove_webhook",
            "Remove a subscription",
            access=ADMIN,
        ),
        # identity: principals and tokens (the registry's admins), and checking a token
        Route(
            "POST",
            "/principals",
            "create_principal",
            "Create a user or service account of a team",
            access=ADMIN,
        ),
        Route("GET", "/principals", "principals", "List the principals", access=ADMIN),
        Route(
            "POST",
            "/tokens",
            "create_token",
            "Make a token for a principal (its secret is in this answer only)",
            access=ADMIN,
        ),
        Route("GET", "/tokens", "tokens", "List the tokens (never their secrets)", access=ADMIN),
        Route(
            "POST",
            "/tokens/{token_id}/revoke",
            "revoke_token",
            "Revoke a token: servers refuse it within a second",
            access=ADMIN,
        ),
        Route(
            "POST",
            "/tokens/authenticate",
            "authenticate",
            "The principal and scopes a token speaks for (401 when it speaks for none)",
            access=ANY_TOKEN,
        ),
        Route(
            "GET",
            "/tokens/{token_id}/principal",
            "principal_for",
            "The principal of a token already verified, by its id (a dashboard session)",
            access=ANY_TOKEN,
        ),
    ],
    tag="registry",
)
