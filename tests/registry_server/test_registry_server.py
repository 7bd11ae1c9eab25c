"""`seawall server` and its client, beyond the registry's own tests (which run over HTTP too,
tests/registry/conftest.py): the OpenAPI document, errors that cross as their own class,
artifacts streamed past the JSON body limit and checked against their hash, API versions, a
server restarted in the middle of an upload, the actor of a write, bad requests, and the users
of a registry (the dashboard, `seawall serve`, the command line) through a real server."""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import httpx
import numpy as np
import pytest
from regserver_helpers import build_dashboard_world, make_bundle

from local_servers import free_port, registry_server, seawall_command
from seawall import errors
from seawall.registry import Registry
from seawall.registry.remote import client as remote_client
from seawall.registry.remote import transport as remote_transport
from seawall.registry.remote.routes import API_VERSION, REGISTRY_ROUTES

API = {"Seawall-API": str(API_VERSION)}


def _objects_root(store) -> Path:
    return store.local_path("0" * 64).parents[3]


# --- the API document -------------------------------------------------------------------------


def test_the_openapi_document_lists_every_route_and_validates(served):
    """Validated by openapi-spec-validator (an independent implementation of the OpenAPI 3
    rules); every route the app answers is in it with its method, and every call's parameters
    are described where they travel."""
    from openapi_spec_validator import validate
    from starlette.routing import Mount

    from seawall.monitoring._remote import HISTORY_ROUTES
    from seawall.registry_server.app import create_registry_app

    url, backing = served
    answer = httpx.get(url + "/openapi.json")
    assert answer.status_code == 200 and answer.headers["seawall-api"] == str(API_VERSION)
    document = answer.json()
    validate(document)
    described = {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method != "head"
    }
    app = create_registry_app(backing).app.app  # inside the version and identity layers
    answered = set()
    for route in app.routes:
        inner = route.routes if isinstance(route, Mount) else [route]
        for r in inner:
            path = (route.path if isinstance(route, Mount) else "") + r.path_format
            answered |= {(m, path) for m in r.methods if m != "HEAD"}
    assert answered == described
    assert "head" in document["paths"][f"/api/{API_VERSION}/objects/{{sha256}}"]
    for table in (REGISTRY_ROUTES, HISTORY_ROUTES):
        for route in table.routes:
            operation = document["paths"][f"/api/{API_VERSION}{route.openapi_path}"][
                route.method.lower()
            ]
            wire = {p.name for p in table.wire_params(route)} | (
                {"pins"} if route.pinned else set()
            )
            if route.method in ("GET", "DELETE"):
                named = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
            else:
                body = operation.get("requestBody", {}).get("content", {})
                named = set(
                    body.get("application/json", {}).get("schema", {}).get("properties", {})
                )
            assert named == wire, route
            in_path = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert in_path == set(route.path_params), route


# Registry methods that are not routes, each with why: they run on the client as they are
# (over the routes below them and the remote artifact store), or are refused there.
ON_THE_CLIENT = {
    "bundle_manifest": "resolve, then the manifest object",
    "bundle_path": "a verified local copy: the manifest, then the objects",
    "load_model": "bundle_path, then loads here",
    "reference_profile": "the version, then the profile object",
    "register_model": "checks and stores the bundle's files, then _register_stored",
    "resolve": "get_model_version",
    "read_artifact": "_artifact_sha, then the object",
    "download_artifacts": "list_artifacts, then the objects",
    "start_run": "_start_run, then _log_batch",
    "close": "closes the client's connections",
    "_log_artifact": "the object, then _record_artifacts",
    "_log_artifacts": "the objects, then _record_artifacts",
    "_log_bytes": "the object, then _record_artifacts",
    "_log_input": "fingerprints and profiles here, then _record_input",
    "_keep_alive": "the client's heartbeat thread, over _beat",
    "_materialize": "writes the verified local copy",
    "_manifest": "reads the manifest object",
    "acting_as": "names the actor the client sends (a server without tokens records it)",
    "events": "the server's GET /events",
    "wait_for_events": "its long poll",
    "watch_events": "a thread of long polls",
    "export_tokens": "refused: the digests stay on the server",
    "attach_evaluation": "start_run and log_artifact, then set_version_tag",
    "list_evaluations": "get_model_version's tags",
    "get_evaluation": "get_model_version, then read_artifact",
    "_log_evaluation": "log_artifact of the evaluation's JSON",
    "schema": "the version's manifest, then the schema object",
}
_OVER_EVENTS = {"events", "wait_for_events", "watch_events", "export_tokens"}


def test_every_registry_method_is_served_or_runs_on_the_client():
    """Each public method of Registry (and each private one a run handle calls) has a route,
    so that RemoteRegistry sends it, or is listed above with the reason it runs on the client;
    a method added to Registry without either fails here, by name. Likewise every method of
    the monitoring history has a route."""
    from seawall.monitoring._remote import HISTORY_ROUTES, RemoteHistoryStore
    from seawall.monitoring._store import HistoryStore

    assert all(isinstance(why, str) and why for why in ON_THE_CLIENT.values())
    remote = remote_client.RemoteRegistry
    for name, member in inspect.getmembers(Registry, callable):
        if name.startswith("__"):
            continue
        used_by_runs = name in {"_log_batch", "_end_run", "_log_input"}
        if name.startswith("_") and not used_by_runs and name not in REGISTRY_ROUTES.by_call:
            continue  # the database's own helpers
        served = name in REGISTRY_ROUTES.by_call or name == "promote"
        assert served != (name in ON_THE_CLIENT), f"Registry.{name}: served, or listed, not both"
        if served or name in _OVER_EVENTS:
            assert getattr(remote, name) is not member, f"RemoteRegistry.{name} is the local one"
    stale = [n for n in ON_THE_CLIENT if not callable(getattr(Registry, n, None))]
    assert stale == [], "listed as on the client, but not a Registry method"
    assert {"search_models", "search_model_versions", "search_runs"} <= set(REGISTRY_ROUTES.by_call)
    for name, member in inspect.getmembers(HistoryStore, callable):
        if name.startswith("_"):
            continue
        assert name in HISTORY_ROUTES.by_call, f"HistoryStore.{name} is not served"
        assert getattr(RemoteHistoryStore, name) is not member


# --- errors -----------------------------------------------------------------------------------


def _ended_run_write(reg):
    run = reg.start_run()
    run.end()
    run.log_metric("m", 1.0)


def _not_a_manifest(reg):
    with reg._pins() as pins:
        sha = pins.put_bytes(b"not a manifest")[0]
        reg._register_stored("m", sha, None, None, None, None, pins)


def _unstored_artifact(reg):
    with reg.start_run() as run, reg._pins() as pins:
        reg._record_artifacts(run, [("x.bin", "ab" * 32, 3)], pins)


ERRORS = {
    "not found": (lambda r: r.get_experiment("nope"), errors.NotFoundError),
    "no such run": (lambda r: r.get_run("0" * 32), errors.NotFoundError),
    "exists": (
        lambda r: (r.create_experiment("x"), r.create_experiment("x")),
        errors.AlreadyExistsError,
    ),
    "bad filter": (lambda r: r.search_runs(filter="metrics.auc >"), errors.InvalidInputError),
    "bad tag type": (lambda r: r.start_run(tags={"t": [1, 2]}), errors.DTypeError),
    "ended run": (_ended_run_write, errors.RunClosedError),
    "bad manifest": (_not_a_manifest, errors.IntegrityError),
    "bad alias": (lambda r: r.delete_alias("m", "champion"), errors.NotFoundError),
    "unstored artifact": (_unstored_artifact, errors.NotFoundError),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_errors_cross_as_their_own_class_and_message(remote, tmp_path, case):
    """The oracle: the same call on a local registry raises the same class with the same
    message."""
    call, expected = ERRORS[case]
    local = Registry(tmp_path / "local.db", artifacts=tmp_path / "local-artifacts")
    with pytest.raises(expected) as here:
        call(local)
    with pytest.raises(expected) as there:
        call(remote)
    assert type(there.value) is type(here.value)
    run_id = re.compile(r"[0-9a-f]{32}")  # the runs differ; the words do not
    assert run_id.sub("<run>", str(there.value)) == run_id.sub("<run>", str(here.value))


def test_a_failure_of_the_server_is_answered_and_keeps_the_connection(served, monkeypatch):
    """An unexpected error in a call is a 500 (StorageError) on a connection that stays open:
    the next request on it is answered (a server closing it would reset a client's next write
    on it, which could not then tell whether it was done)."""
    import http.client

    from seawall.registry import _checks

    url, _ = served

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    connection = http.client.HTTPConnection(url.removeprefix("http://"), timeout=30)
    try:
        with monkeypatch.context() as patch:
            patch.setattr(_checks, "check_name", boom)  # inside the server's create_experiment
            connection.request(
                "POST",
                f"/api/{API_VERSION}/experiments",
                body=json.dumps({"name": "e"}),
                headers={**API, "content-type": "application/json"},
            )
            failed = connection.getresponse()
            answer = json.loads(failed.read())
        assert failed.status == 500 and answer["type"] == "StorageError"
        assert failed.getheader("connection") != "close"
        connection.request("GET", f"/api/{API_VERSION}/experiments", headers=API)
        assert connection.getresponse().status == 200  # on the same connection
    finally:
        connection.close()


def test_bad_requests_answer_400_with_the_error_class(served):
    url, _ = served
    api = f"{url}/api/{API_VERSION}"
    cases = [
        ("POST", "/experiments", b"{not json"),
        ("POST", "/experiments", b"[1, 2]"),
        ("POST", "/experiments", json.dumps({"name": "a", "color": "red"}).encode()),
        ("POST", "/experiments", json.dumps({}).encode()),
        ("POST", "/experiments", json.dumps({"name": 3}).encode()),
        ("POST", f"/runs/{'a' * 32}/inputs", json.dumps({"fp": "x", "context": "t"}).encode()),
        ("GET", "/monitoring/windows?model=m&limit=ten", None),
        ("GET", "/runs/not-a-run", None),
    ]
    for method, path, body in cases:
        answer = httpx.request(method, api + path, content=body, headers=API)
        assert answer.status_code == 400, (path, answer.text)
        assert answer.json()["type"] in ("InvalidInputError", "DTypeError"), answer.text
    answer = httpx.get(api + "/nothing/here", headers=API)
    assert answer.status_code == 404 and answer.json()["type"] == "NotFoundError"
    answer = httpx.delete(api + "/experiments", headers=API)
    assert answer.status_code == 405 and answer.json()["type"] == "InvalidInputError"


# --- artifacts --------------------------------------------------------------------------------


def test_an_artifact_larger_than_the_json_body_limit_streams_both_ways(tmp_path, rng):
    """Uploads and downloads stream: with a JSON body limit of 256 KiB a 64 MiB artifact goes
    up and comes back byte for byte, and no more than a few MiB are ever held (traced here for
    the client and the server, one process)."""
    data = rng.bytes(64 << 20)
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    limits = {"max_body_bytes": 256 << 10, "max_bytes_in_flight": 256 << 10}
    with registry_server(tmp_path / "server", **limits) as (url, backing), Registry(url) as reg:
        with pytest.raises(errors.InvalidInputError, match="limit"):  # JSON: over the limit
            reg.search_runs(filter="params.x = '" + "y" * (300 << 10) + "'")
        tracemalloc.start()
        try:
            with reg.start_run() as run:
                logged = run.log_artifact(source)
            up = tracemalloc.get_traced_memory()[1]
            tracemalloc.reset_peak()
            out = reg.download_artifacts(run.id, tmp_path / "out")
            down = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert logged.sha256 == hashlib.sha256(data).hexdigest() and logged.size == len(data)
        assert (out / "big.bin").read_bytes() == data
        assert backing.artifacts.local_path(logged.sha256).read_bytes() == data
        assert up < 16 << 20 and down < 16 << 20, (up, down)


def test_a_corrupted_upload_is_refused_and_nothing_is_stored(served, rng, monkeypatch):
    url, backing = served
    good = rng.bytes(int(rng.integers(1000, 300_000)))
    bad = bytearray(good)
    bad[int(rng.integers(len(bad)))] ^= 1 << int(rng.integers(8))
    sha = hashlib.sha256(good).hexdigest()
    answer = httpx.put(f"{url}/api/{API_VERSION}/objects/{sha}", content=bytes(bad), headers=API)
    assert answer.status_code == 422 and answer.json()["type"] == "IntegrityError"
    assert not backing.artifacts.exists(sha)
    root = _objects_root(backing.artifacts)
    assert list((root / "tmp").iterdir()) == []

    # Through the client, bytes changed on the way: IntegrityError, and the run records nothing.
    upload = remote_transport.Transport.upload

    def corrupting(self, sha, size, chunks):
        def changed():
            for i, chunk in enumerate(chunks()):
                yield bytes([chunk[0] ^ 1]) + chunk[1:] if i == 0 else chunk

        return upload(self, sha, size, changed)

    monkeypatch.setattr(remote_transport.Transport, "upload", corrupting)
    with Registry(url) as reg, reg.start_run() as run:
        with pytest.raises(errors.IntegrityError, match="nothing was stored"):
            run.log_bytes(good, "data.bin")
        assert reg.list_artifacts(run.id) == []
    monkeypatch.undo()

    # A body cut short (the client goes away): nothing stored, no temporary left.
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as conn:
        conn.sendall(
            f"PUT /api/{API_VERSION}/objects/{sha} HTTP/1.1\r\nHost: x\r\n"
            f"Content-Length: {len(good)}\r\n\r\n".encode()
            + good[: len(good) // 2]
        )
        time.sleep(0.2)
    deadline = time.monotonic() + 10
    while list((root / "tmp").iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list((root / "tmp").iterdir()) == []
    assert not backing.artifacts.exists(sha)


def test_uploads_are_bounded_in_size_and_pace(tmp_path, rng):
    limits = {"max_upload_bytes": 100_000, "body_timeout_s": 0.5, "min_upload_rate": 10_000}
    with registry_server(tmp_path / "server", **limits) as (url, backing):
        data = rng.bytes(150_000)
        sha = hashlib.sha256(data).hexdigest()
        answer = httpx.put(f"{url}/api/{API_VERSION}/objects/{sha}", content=data, headers=API)
        assert answer.status_code == 413
        # A trickle: 10 bytes now and then, far below 10,000 bytes/s; answered 408.
        host, port = url.removeprefix("http://").split(":")
        small = data[:50_000]
        with socket.create_connection((host, int(port))) as conn:
            conn.sendall(
                f"PUT /api/{API_VERSION}/objects/{hashlib.sha256(small).hexdigest()} HTTP/1.1\r\n"
                f"Host: x\r\nContent-Length: {len(small)}\r\n\r\n".encode()
            )
            conn.settimeout(10)
            answer_bytes = b""
            start = time.monotonic()
            for i in range(0, len(small), 10):
                try:
                    conn.sendall(small[i : i + 10])
                    conn.setblocking(False)
                    answer_bytes += conn.recv(65536)
                except (BlockingIOError, ConnectionError):
                    pass
                finally:
                    conn.setblocking(True)
                if answer_bytes or time.monotonic() - start > 5:
                    break
                time.sleep(0.2)
        assert answer_bytes.startswith(b"HTTP/1.1 408"), answer_bytes[:200]
        assert list((_objects_root(backing.artifacts) / "tmp").iterdir()) == []


def test_the_server_restarted_mid_upload(tmp_path, rng, monkeypatch):
    """A `seawall server` killed while an artifact is streaming in, and started again on the
    same port: the client sends the artifact again, it is stored once and verified, and the
    run (its process alive) is still running on the new server."""
    folder = tmp_path / "server"
    folder.mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [
        sys.executable,
        "-c",
        "from seawall.cli import main; main()",
        "server",
        "--registry",
        str(folder / "registry.db"),
        "--artifacts",
        str(folder / "artifacts"),
        "--port",
        str(port),
    ]

    def start() -> subprocess.Popen:
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/").status_code == 200:
                    return process
            except httpx.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "no server"
            time.sleep(0.1)

    data = rng.bytes(32 << 20)
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    sent = threading.Event()
    opened = remote_client._open_regular

    class Slow:  # the first upload goes slowly, so that the server dies in the middle of it
        def __init__(self, fh):
            self.fh, self.reads = fh, 0

        def read(self, n):
            self.reads += 1
            if self.reads == 4:
                sent.set()
            if not killed.is_set():
                time.sleep(0.05)
            return self.fh.read(n)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

    killed = threading.Event()
    monkeypatch.setattr(remote_client, "_open_regular", lambda path: Slow(opened(path)))
    first = start()
    outcome: list[object] = []
    try:
        reg = Registry(url)
        run = reg.start_run(experiment="restart")

        def log() -> None:
            try:
                outcome.append(run.log_artifact(source))
            except BaseException as exc:
                outcome.append(exc)

        thread = threading.Thread(target=log)
        thread.start()
        assert sent.wait(60)
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        killed.set()
        second = start()
        thread.join(120)
        assert len(outcome) == 1 and not isinstance(outcome[0], BaseException), outcome
        logged = outcome[0]
        assert logged.sha256 == hashlib.sha256(data).hexdigest()
        assert [a.path for a in reg.list_artifacts(run.id)] == ["big.bin"]
        assert reg.read_artifact(run.id, "big.bin") == data
        assert reg.get_run(run.id).status == "RUNNING"
        run.end()
        stored = list((folder / "artifacts" / "objects").rglob("*"))
        assert [p.name for p in stored if p.is_file()] == [logged.sha256]
        reg.close()
    finally:
        for process in (first, locals().get("second")):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(30)


# --- versions and identity --------------------------------------------------------------------


@pytest.mark.parametrize("offset", [1, -1], ids=["newer client", "older client"])
def test_a_client_of_another_api_version_gets_an_error_naming_both(served, monkeypatch, offset):
    url, _ = served
    other = API_VERSION + offset
    monkeypatch.setattr(remote_transport, "API_VERSION", other)
    with pytest.raises(errors.UnsupportedVersionError) as raised, Registry(url) as reg:
        reg.list_models()
    message = str(raised.value)
    assert f"version {API_VERSION}" in message and f"version {other}" in message
    # The server refuses such a request itself, naming both (the version in the path or the
    # header).
    for path_version, header in ((other, other), (API_VERSION, other), (other, None)):
        answer = httpx.get(
            f"{url}/api/{path_version}/models",
            headers={"Seawall-API": str(header)} if header is not None else {},
        )
        assert answer.status_code == 400 and answer.json()["type"] == "UnsupportedVersionError"
        assert answer.headers["seawall-api"] == str(API_VERSION)
        assert f"version {API_VERSION}" in answer.json()["error"]
        assert f"version {other}" in answer.json()["error"]


def test_a_server_of_another_api_version_or_none_is_refused_by_name(monkeypatch):
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from seawall._server.run import serve_in_thread

    def answering(headers):
        async def endpoint(request):
            return JSONResponse([], headers=headers)

        return Starlette(routes=[Route("/{path:path}", endpoint)])

    with serve_in_thread(answering({"Seawall-API": "7"})) as url, Registry(url) as reg:
        with pytest.raises(errors.UnsupportedVersionError, match=r"version 1.*version 7"):
            reg.list_models()
    with serve_in_thread(answering({})) as url, Registry(url) as reg:
        with pytest.raises(errors.RegistryUnavailableError, match="not a seawall registry"):
            reg.list_models()


def test_an_unreachable_server_is_unavailable_after_the_retries(monkeypatch):
    monkeypatch.setattr(remote_transport, "RETRY_S", 0.3)
    with (
        Registry(f"http://127.0.0.1:{free_port()}") as reg,
        pytest.raises(errors.RegistryUnavailableError, match="cannot reach the registry server"),
    ):
        reg.list_models()
    with pytest.raises(errors.InvalidInputError, match="artifacts"):
        Registry("http://127.0.0.1:1", artifacts="/tmp/elsewhere")
    with pytest.raises(errors.InvalidInputError, match="credentials"):
        Registry("http://user:secret@127.0.0.1:1")


def test_the_actor_of_an_alias_move_is_who_asked(remote, tmp_path):
    """The server records the principal of the request (today the client's login, sent in
    Seawall-Actor), not the server's own login."""
    from seawall.registry._actor import os_login

    remote.register_model("m", make_bundle(tmp_path / "b", 1.0))
    remote.set_alias("m", "champion", 1)
    answer = httpx.put(
        f"{remote.uri}/api/{API_VERSION}/models/m/aliases/challenger",
        json={"version": 1, "reason": "ci"},
        headers={**API, "Seawall-Actor": "ci-pipeline"},
    )
    assert answer.status_code == 200, answer.text
    actors = {e.alias: e.actor for e in remote.alias_history("m")}
    assert actors == {"champion": os_login(), "challenger": "ci-pipeline"}


def test_identity_is_read_in_one_place_that_may_refuse(tmp_path):
    """The seam authentication plugs into: a custom `identify` names every request's actor, and
    its error is the answer, before any handler runs (nothing is written)."""
    from seawall._server.run import serve_in_thread
    from seawall.registry_server import create_registry_app

    def identify(request):
        if request.headers.get("x-team") is None:
            raise errors.InvalidInputError("no team given")
        return "team-" + request.headers["x-team"]

    backing = Registry(tmp_path / "r.db", artifacts=tmp_path / "a")
    backing.register_model("m", make_bundle(tmp_path / "b", 1.0))
    with serve_in_thread(create_registry_app(backing, identify=identify)) as url:
        api = f"{url}/api/{API_VERSION}/models/m/aliases/champion"
        refused = httpx.put(api, json={"version": 1}, headers=API)
        assert refused.status_code == 400 and refused.json()["error"] == "no team given"
        assert backing.alias_history("m") == []
        done = httpx.put(api, json={"version": 1}, headers={**API, "x-team": "fraud"})
        assert done.status_code == 200, done.text
    assert [e.actor for e in backing.alias_history("m")] == ["team-fraud"]
    backing.close()


def test_the_client_keeps_its_runs_alive_through_the_server(remote, monkeypatch):
    from sqlalchemy import select

    from seawall.registry import _stale
    from seawall.registry._schema import runs

    monkeypatch.setattr(_stale, "HEARTBEAT_S", 0.05)
    remote._heartbeat = _stale.Heartbeat(remote._api, remote_client._beat_through)
    run = remote.start_run()

    def beat() -> float:
        with remote.backing._db.read() as conn:
            return conn.execute(select(runs.c.heartbeat_at).where(runs.c.uuid == run.id)).scalar()

    first = beat()
    deadline = time.monotonic() + 10
    while beat() == first and time.monotonic() < deadline:
        time.sleep(0.05)
    assert beat() > first
    with remote.backing._db.read() as conn:
        owner = conn.execute(select(runs.c.host, runs.c.pid).where(runs.c.uuid == run.id)).one()
    assert tuple(owner) == _stale.this_process()[:2]  # this process, not the server's
    run.end()


# --- what uses a registry ---------------------------------------------------------------------


def test_the_monitoring_history_reads_back_the_same_through_the_server(remote, rng):
    """Windows and alerts saved through the server read back as the registry itself reads them,
    a window without a drift share (NaN in the summary, which JSON cannot write) included."""
    import math

    from seawall.monitoring import WindowReport
    from seawall.monitoring._store import HistoryStore
    from seawall.monitoring.rules import Alert

    there, here = HistoryStore(remote), HistoryStore(remote.backing)
    assert type(there).__name__ == "RemoteHistoryStore"
    ends = np.sort(rng.random(3)) * 1000 + 1000
    for i, end in enumerate(ends):
        share = None if i == 1 else float(rng.random())
        report = WindowReport("m", "1", end - 60, float(end), 10, 1, {}, share, None)
        there.save_window(report)
    alert = Alert("m", "r", "drift_share", None, "critical", "firing", 0.7, 0.5, "moved", 1.0)
    alert_id = there.save_alert(alert)
    there.resolve_alerts([alert_id], "back")
    assert there.windows("m") == here.windows("m")
    assert there.alerts("m") == here.alerts("m") and there.alerts("m")[0].state == "resolved"
    assert there.models() == ["m"]
    summary = there.latest_by_model()
    assert [(i, end) for i, end, _ in summary["m"]] == [
        (i, e) for i, e, _ in here.latest_by_model()["m"]
    ]
    assert math.isnan(summary["m"][1][2]) and not math.isnan(summary["m"][0][2])


def test_the_dashboard_shows_the_same_pages_through_the_server(tmp_path, rng):
    """Every page of a dashboard over the registry server, crawled from the overview, is the
    page the same dashboard shows over the registry itself (history from the registry)."""
    from seawall._server.run import serve_in_thread
    from seawall.dashboard import create_dashboard_app
    from seawall.registry_server import create_registry_app

    world = build_dashboard_world(rng, tmp_path)
    world.monitor.close()
    with (
        serve_in_thread(create_registry_app(world.registry)) as registry_url,
        Registry(registry_url) as remote,
        serve_in_thread(create_dashboard_app(world.registry)) as direct,
        serve_in_thread(create_dashboard_app(remote)) as through,
    ):
        seen: set[str] = set()
        todo = ["/"]
        while todo and len(seen) < 60:
            path = todo.pop()
            if path in seen:
                continue
            seen.add(path)
            here, there = httpx.get(direct + path), httpx.get(through + path)
            assert (here.status_code, there.status_code) == (200, 200), path
            assert there.text == here.text, path
            todo += [link for link in re.findall(r'href="(/[^"]*)"', here.text) if link not in seen]
        assert {"/models/fraud", "/alerts", f"/runs/{world.run_id}"} <= seen
    world.registry.close()


def test_seawall_server_serves_the_command_line_and_seawall_serve(tmp_path, rng, cli_app):
    """`seawall server` in its own process; `seawall models`, `seawall runs` and `seawall serve
    models:/...@champion` given its URL."""
    from click.testing import CliRunner

    from seawall._server.run import serve_in_thread
    from seawall.cli import main

    folder = tmp_path / "server"
    with seawall_command(
        "server", "--registry", str(tmp_path / "r.db"), "--artifacts", str(folder)
    ) as (url, output):
        reg = Registry(url)
        with reg.start_run(experiment="cli") as run:
            run.log_metric("auc", 0.9)
        reg.register_model("m", make_bundle(tmp_path / "b", 2.0), run=run)
        reg.set_alias("m", "champion", 1)
        env = {"SEAWALL_REGISTRY_URI": url}
        listed = CliRunner().invoke(main, ["models", "list"], env=env)
        assert listed.exit_code == 0, listed.output
        assert "champion" in listed.output
        runs = CliRunner().invoke(main, ["runs", "list", "--json"], env=env)
        assert [r["run_id"] for r in json.loads(runs.output)] == [run.id]
        app, _ = cli_app(["serve", "models:/m@champion", "--registry", url, "--trust-code"])
        with serve_in_thread(app) as served:
            answer = httpx.post(served + "/v2/models/m/infer", json=_one_row())
            assert answer.status_code == 200, answer.text
            assert answer.json()["outputs"][0]["data"] == [2.0]
            assert answer.json()["model_version"] == "1"
        reg.close()
    assert "registry server on" in "".join(output)
    bad = CliRunner().invoke(main, ["server", "--registry", "http://127.0.0.1:1"])
    assert bad.exit_code == 2 and "not another server" in bad.output


def _one_row() -> dict:
    return {"inputs": [{"name": "input", "datatype": "FP64", "shape": [1, 3], "data": [0, 0, 0]}]}


def test_token_digests_are_not_exported_through_the_server(remote, tmp_path):
    """The digests stay where the database is: a client is told where to export them."""
    remote.backing.create_token("ci", team="t", scopes=["read:models/*"])
    with pytest.raises(errors.InvalidInputError, match="seawall tokens export --registry"):
        remote.export_tokens(tmp_path / "t.json")
    assert not (tmp_path / "t.json").exists()
