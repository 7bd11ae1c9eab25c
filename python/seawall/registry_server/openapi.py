"""The OpenAPI 3 document of the registry server (``GET /openapi.json``), made from the same
route tables and signatures as its handlers and the client: every route with its parameters,
body and answer, and a schema for every record that crosses."""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any

from .._core import __version__
from ..registry.remote.codec import schema
from ..registry.remote.routes import API_VERSION, Route, RouteTable
from ..registry.remote.transport import API_HEADER

__all__ = ["openapi_document"]

_DESCRIPTION = f"""The registry of seawall (experiments, runs, artifacts, datasets, models,
versions, aliases and their audit, lineage, deployments, monitoring history and alerts) over
HTTP. `seawall.Registry("http://host:port")` is its Python client, with the same API as a local
registry.

Every request and answer carries the header `{API_HEADER}: {API_VERSION}`; a request of another
version is refused (400, `UnsupportedVersionError`, naming both). Errors answer
`{{"error": message, "type": class}}`, `class` a `seawall.errors` class. Artifacts are objects
named by their SHA-256: `PUT /api/{API_VERSION}/objects/{{sha256}}` streams one in (refused,
422, unless its bytes hash to the name), `GET` streams it out, `HEAD` tells whether it is there
(`?verify=true`: and intact); `POST /api/{API_VERSION}/objects/uploads` streams one in followed
by its SHA-256 (32 bytes), for a client that hashes a large file as it sends it.

Events: `GET /api/{API_VERSION}/events` reads them (a long poll with `wait`), `GET
/api/{API_VERSION}/events/stream` streams them (server-sent events).

A server started with `--auth registry` needs `Authorization: Bearer <token>` on every request
but `/` and this document (401 without a valid one, 429 past its rate, with Retry-After); each
operation's `x-seawall-access` lists the scopes the token needs (`{{param}}`: the name the
call's argument gives; a run stands for its experiment; none: any valid token), 403 when it
lacks one. Lists answer only what the token may read."""

_SHA = {"type": "string", "pattern": "^[0-9a-f]{64}$"}


def _parameter(name: str, where: str, spec: dict[str, Any], required: bool) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required, "schema": spec}


def _operation(table: RouteTable, route: Route, components: dict[str, Any]) -> dict[str, Any]:
    hints = table.hints(route)
    parameters = []
    for name in route.path_params:
        if route.run and name == "run_id":
            spec: dict[str, Any] = {"type": "string", "pattern": "^[0-9a-f]{32}$"}
        elif route.model_ref and name == "version":
            spec = {"type": "string", "description": "a version number, an alias or 'latest'"}
        else:
            spec = schema(hints.get(name, str), components)
        parameters.append(_parameter(name, "path", spec, True))
    wire = table.wire_params(route)
    operation: dict[str, Any] = {
        "operationId": f"{table.name}_{route.call.lstrip('_')}",
        "summary": route.summary,
        "tags": [table.tag],
    }
    doc = inspect.getdoc(table.function(route))
    if doc:
        operation["description"] = doc
    operation["x-seawall-access"] = list(route.access or ())
    if route.method in ("GET", "DELETE"):
        for p in wire:
            parameters.append(
                _parameter(p.name, "query", schema(hints[p.name], components), p.default is p.empty)
            )
    elif wire:
        body: dict[str, Any] = {
            "type": "object",
            "properties": {p.name: schema(hints[p.name], components) for p in wire},
            "additionalProperties": False,
        }
        if route.pinned:
            body["properties"]["pins"] = {
                "type": "array",
                "items": {"type": "integer"},
                "description": "the pins POST /objects/pins took for the objects this write "
                "references (uploaded after), which it records",
            }
        required = [p.name for p in wire if p.default is p.empty]
        if required:
            body["required"] = required
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": body}},
        }
    if parameters:
        operation["parameters"] = parameters
    operation["responses"] = {
        "200": {
            "description": "the call's answer",
            "content": {
                "application/json": {"schema": schema(table.answer_type(route), components)}
            },
        },
        "default": {"$ref": "#/components/responses/Error"},
    }
    return operation


def _objects() -> dict[str, Any]:
    sha = [_parameter("sha256", "path", _SHA, True)]
    error = {"$ref": "#/components/responses/Error"}
    return {
        "head": {
            "operationId": "objects_exists",
            "x-seawall-access": ["any scope"],
            "summary": "Whether an object is stored (and intact, with verify=true)",
            "tags": ["artifacts"],
            "parameters": [
                *sha,
                _parameter("verify", "query", {"type": "string", "enum": ["true", "false"]}, False),
            ],
            "responses": {
                "200": {"description": "stored"},
                "404": {"description": "not stored (or not intact)"},
            },
        },
        "get": {
            "operationId": "objects_download",
            "x-seawall-access": ["any scope"],
            "summary": "An object's bytes, streamed (check them against the SHA-256)",
            "tags": ["artifacts"],
            "parameters": sha,
            "responses": {
                "200": {
                    "description": "the bytes",
                    "content": {
                        "application/octet-stream": {
                            "schema": {"type": "string", "format": "binary"}
                        }
                    },
                },
                "default": error,
            },
        },
        "put": _upload(
            "objects_upload",
            "Store an object, streamed; kept only if its bytes hash to the name",
            sha,
            {"sha256": _SHA, "size": {"type": "integer"}},
            "stored",
        ),
    }


def _events() -> dict[str, dict[str, Any]]:
    after = _parameter("after", "query", {"type": "integer", "minimum": 0}, False)
    filters = [
        _parameter(
            "type",
            "query",
            {"type": "string", "description": "event types, comma-separated (alias.* too)"},
            False,
        ),
        _parameter(
            "resource",
            "query",
            {"type": "string", "description": "a resource (models/NAME) and what is under it"},
            False,
        ),
    ]
    event = {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "at": {"type": "number"},
            "type": {"type": "string"},
            "resource": {"type": "string"},
            "payload": {"type": "object"},
            "key": {"type": "string"},
        },
        "required": ["id", "at", "type", "resource", "payload", "key"],
    }
    error = {"$ref": "#/components/responses/Error"}
    access = ["read:{resource}", "read:models/* without a resource"]
    return {
        "": {
            "get": {
                "operationId": "events_read",
                "summary": "The events after an id; with wait, a long poll for the next ones",
                "tags": ["events"],
                "x-seawall-access": access,
                "parameters": [
                    after,
                    *filters,
                    _parameter("limit", "query", {"type": "integer", "minimum": 1}, False),
                    _parameter(
                        "wait",
                        "query",
                        {"type": "number", "minimum": 0, "description": "seconds, at most 30"},
                        False,
                    ),
                ],
                "responses": {
                    "200": {
                        "description": "the events, and where to read next (last_id)",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "events": {"type": "array", "items": event},
                                        "last_id": {"type": "integer"},
                                    },
                                    "required": ["events", "last_id"],
                                }
                            }
                        },
                    },
                    "default": error,
                },
            }
        },
        "/stream": {
            "get": {
                "operationId": "events_stream",
                "summary": "The events after an id (or Last-Event-ID), then each as it commits",
                "tags": ["events"],
                "x-seawall-access": access,
                "parameters": [after, *filters],
                "responses": {
                    "200": {
                        "description": "server-sent events: id, event (the type), data (JSON)",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}},
                    },
                    "default": error,
                },
            }
        },
    }


def _pins() -> dict[str, Any]:
    return {
        "post": {
            "operationId": "objects_pin",
            "x-seawall-access": ["a write or admin scope"],
            "summary": "Pin objects for a write (gc keeps them until the write records the "
            "pins); answers the pins' ids and the objects to upload now",
            "tags": ["artifacts"],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {"sha256": {"type": "array", "items": _SHA}},
                            "required": ["sha256"],
                        }
                    }
                },
            },
            "responses": {
                "200": {
                    "description": "the pins, and what is not stored intact",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "pins": {"type": "array", "items": {"type": "integer"}},
                                    "missing": {"type": "array", "items": _SHA},
                                },
                                "required": ["pins", "missing"],
                            }
                        }
                    },
                },
                "default": {"$ref": "#/components/responses/Error"},
            },
        }
    }


def _upload(
    operation: str,
    summary: str,
    parameters: list[dict[str, Any]],
    answer: dict[str, Any],
    stored: str,
) -> dict[str, Any]:
    """An operation that streams an object in (application/octet-stream) and answers `answer`."""
    return {
        "operationId": operation,
        "x-seawall-access": ["a write or admin scope"],
        "summary": summary,
        "tags": ["artifacts"],
        "parameters": parameters,
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        },
        "responses": {
            "200": {
                "description": stored,
                "content": {
                    "application/json": {
                        "schema": {"type": "object", "properties": answer, "required": list(answer)}
                    }
                },
            },
            "default": {"$ref": "#/components/responses/Error"},
        },
    }


def _uploads() -> dict[str, Any]:
    return {
        "post": _upload(
            "objects_upload_hashed",
            "Store an object, streamed, its SHA-256 (32 bytes) after its bytes: kept only if the "
            "bytes hash to it, and pinned for the write that references it",
            [],
            {"sha256": _SHA, "size": {"type": "integer"}, "pin": {"type": "integer"}},
            "stored, and pinned",
        )
    }


def openapi_document(tables: Iterable[RouteTable]) -> dict[str, Any]:
    """The OpenAPI 3.0 document of every route of `tables`, and of the objects."""
    components: dict[str, Any] = {}
    paths: dict[str, dict[str, Any]] = {}
    prefix = f"/api/{API_VERSION}"
    tags = []
    for table in tables:
        tags.append({"name": table.tag})
        for route in table.routes:
            item = paths.setdefault(prefix + route.openapi_path, {})
            item[route.method.lower()] = _operation(table, route, components)
    paths[f"{prefix}/objects/{{sha256}}"] = _objects()
    paths[f"{prefix}/objects/pins"] = _pins()
    paths[f"{prefix}/objects/uploads"] = _uploads()
    for tail, item in _events().items():
        paths.setdefault(f"{prefix}/events{tail}", {}).update(item)
    paths["/"] = {
        "get": {
            "operationId": "server_info",
            "summary": "What this server is, and its API version",
            "security": [],
            "responses": {"200": {"description": "the server's name and API version"}},
        }
    }
    paths["/openapi.json"] = {
        "get": {
            "operationId": "openapi",
            "summary": "This document",
            "security": [],
            "responses": {"200": {"description": "the OpenAPI document"}},
        }
    }
    components["Error"] = {
        "type": "object",
        "properties": {
            "error": {"type": "string", "description": "what went wrong"},
            "type": {"type": "string", "description": "the seawall.errors class"},
        },
        "required": ["error"],
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "seawall registry server",
            "version": f"{API_VERSION} (seawall {__version__})",
            "description": _DESCRIPTION,
        },
        "tags": [*tags, {"name": "artifacts"}, {"name": "events"}],
        "paths": dict(sorted(paths.items())),
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "a seawall token (seawall tokens create), with --auth",
                }
            },
            "schemas": dict(sorted(components.items())),
            "responses": {
                "Error": {
                    "description": "an error: its seawall.errors class and message",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                    },
                }
            },
        },
    }
