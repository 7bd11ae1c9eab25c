"""The events' HTTP routes, mounted in a Starlette app served by a real uvicorn on loopback, over
SQLite and PostgreSQL: reading, a long poll that wakes on a commit, a server-sent-events stream
(parsed here, line by line, as the SSE format says) that resumes from Last-Event-ID, bounds on
waiters, and bad parameters."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette

from seawall._server.run import serve_in_thread
from seawall.errors import InvalidInputError
from seawall.registry.events import http as events_http


@pytest.fixture
def served(reg) -> Iterator[tuple[object, str]]:
    app = Starlette(routes=events_http.routes(reg, prefix="/api/events", max_waiters=2))
    with serve_in_thread(app, http="h11") as url:
        yield reg, url


def _sse_events(lines: Iterator[str], count: int) -> list[dict]:
    """The first `count` events of a text/event-stream, by the format's rules: fields until a
    blank line, comments (':') skipped."""
    out: list[dict] = []
    fields: dict[str, str] = {}
    for line in lines:
        if line == "":
            if "data" in fields:
                out.append(fields)
                if len(out) == count:
                    return out
            fields = {}
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        fields[name] = value[1:] if value.startswith(" ") else value
    raise AssertionError(f"the stream ended after {len(out)} events")


def test_reading_events(served):
    reg, url = served
    first = reg.record_event("test.one", "tests/a", {"n": 1})
    reg.record_event("other.two", "tests/b", {"n": 2})
    answer = httpx.get(f"{url}/api/events", timeout=30)
    assert answer.status_code == 200
    body = answer.json()
    assert body["events"] == [e.to_dict() for e in reg.events()]
    assert body["last_id"] == reg.last_event_id()
    only = httpx.get(f"{url}/api/events", params={"type": "test.*"}, timeout=30).json()
    assert only == {"events": [first.to_dict()], "last_id": first.id}
    # Nothing matched after the first: the next read starts past the event that did not match.
    past = httpx.get(f"{url}/api/events", params={"after": first.id, "type": "test.*"}, timeout=30)
    assert past.json() == {"events": [], "last_id": reg.last_event_id()}
    after = httpx.get(f"{url}/api/events", params={"after": body["last_id"]}, timeout=30).json()
    assert after == {"events": [], "last_id": body["last_id"]}
    some = httpx.get(f"{url}/api/events", params={"resource": "tests/b", "limit": 1}, timeout=30)
    assert [e["type"] for e in some.json()["events"]] == ["other.two"]


def test_a_long_poll_wakes_on_a_commit(served):
    reg, url = served
    start = reg.last_event_id()
    answers: list[httpx.Response] = []
    poller = threading.Thread(
        target=lambda: answers.append(
            httpx.get(f"{url}/api/events", params={"after": start, "wait": 30}, timeout=60)
        )
    )
    poller.start()
    event = reg.record_event("test.ping", "tests/ping")
    poller.join(60)
    assert not poller.is_alive()
    assert answers[0].json() == {"events": [event.to_dict()], "last_id": event.id}
    # With nothing new, a short wait answers empty.
    empty = httpx.get(f"{url}/api/events", params={"after": event.id, "wait": 0.1}, timeout=30)
    assert empty.json() == {"events": [], "last_id": event.id}


def test_the_stream_sends_events_as_they_commit_and_resumes(served):
    reg, url = served
    before = reg.record_event("test.before", "tests/s", {"i": 0})
    with httpx.stream(
        "GET", f"{url}/api/events/stream", params={"after": 0, "type": "test.*"}, timeout=60
    ) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        (old,) = _sse_events(lines, 1)
        reg.record_event("skipped.type", "tests/s")
        later = [reg.record_event("test.later", "tests/s", {"i": i}) for i in (1, 2)]
        got = _sse_events(lines, 2)
    sent = [old, *got]
    assert [int(e["id"]) for e in sent] == [before.id, *(e.id for e in later)]
    assert [e["event"] for e in sent] == ["test.before", "test.later", "test.later"]
    assert [json.loads(e["data"]) for e in sent] == [
        before.to_dict(),
        *(e.to_dict() for e in later),
    ]
    # A client that reconnects with Last-Event-ID gets what came after, nothing twice.
    newest = reg.record_event("test.newest", "tests/s")
    with httpx.stream(
        "GET",
        f"{url}/api/events/stream",
        headers={"Last-Event-ID": str(later[0].id)},
        timeout=60,
    ) as stream:
        resumed = _sse_events(stream.iter_lines(), 2)
    assert [json.loads(e["data"]) for e in resumed] == [
        later[1].to_dict(),
        newest.to_dict(),
    ]


def test_waiters_are_bounded(served):
    reg, url = served
    start = reg.last_event_id()
    with httpx.stream("GET", f"{url}/api/events/stream", params={"after": start}, timeout=60):
        with httpx.stream("GET", f"{url}/api/events/stream", params={"after": start}, timeout=60):
            busy = httpx.get(f"{url}/api/events", params={"after": start, "wait": 5}, timeout=60)
            assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
            assert "too many" in busy.json()["error"]
            # Reading without waiting is not bounded by the waiters.
            assert httpx.get(f"{url}/api/events", timeout=30).status_code == 200
    # Both streams closed: there is room again.
    again = httpx.get(f"{url}/api/events", params={"after": start, "wait": 0.1}, timeout=60)
    assert again.status_code == 200


@pytest.mark.parametrize(
    "params",
    [
        {"after": "-1"},
        {"after": "x"},
        {"limit": "0"},
        {"limit": "100000"},
        {"type": "Bad Type"},
        {"wait": "31"},
        {"wait": "nan"},
    ],
)
def test_bad_parameters_are_400(served, params):
    _, url = served
    answer = httpx.get(f"{url}/api/events", params=params, timeout=30)
    assert answer.status_code == 400 and answer.json()["error"]
    if "wait" not in params:
        stream = httpx.get(f"{url}/api/events/stream", params=params, timeout=30)
        assert stream.status_code == 400 and stream.json()["error"]


def test_bad_last_event_id_is_400(served):
    _, url = served
    answer = httpx.get(f"{url}/api/events/stream", headers={"Last-Event-ID": "x1"}, timeout=30)
    assert answer.status_code == 400 and "Last-Event-ID" in answer.json()["error"]


def test_route_options_are_checked(reg):
    for bad in ({"prefix": "events"}, {"prefix": "/events/"}, {"max_waiters": 0},
                {"max_wait_s": 0}, {"heartbeat_s": float("nan")}):  # fmt: skip
        with pytest.raises(InvalidInputError):
            events_http.routes(reg, **bad)
