"""Webhook delivery against real HTTP endpoints on loopback, on SQLite and PostgreSQL (through a
registry server, its subscriptions and events are made through it, and the delivery worker runs
beside the server's database, as ``seawall events deliver`` does): signatures
that an independent HMAC computation verifies, retries after 500s and refused connections with
the same idempotency key, nothing lost across a restart of the worker while the endpoint is
down, type filters, leases, and a hanging endpoint that never holds up a write."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time

import pytest
from registry_helpers import make_bundle

from local_servers import WebhookReceiver, closed_port_url, local_of
from seawall.errors import InvalidInputError, NotFoundError
from seawall.registry import Registry
from seawall.registry.events import DeliveryWorker, verify_signature


def _changes(reg, tmp_path, versions=2):
    for i in range(versions):
        reg.register_model("fraud", make_bundle(tmp_path / f"b{i}", i))
    reg.set_alias("fraud", "champion", versions)


def _deliver_all(worker, reg, webhook_id, rounds=200):
    """Runs passes (waiting for each retry to come due) until the webhook has nothing pending."""
    for _ in range(rounds):
        worker.run_once()
        (hook,) = [h for h in reg.list_webhooks() if h.id == webhook_id]
        if hook.pending == 0:
            return hook
        time.sleep(max(0.0, min(1.0, hook.next_attempt_at - time.time())))
    raise AssertionError(f"webhook {webhook_id} still has events pending: {hook}")


@pytest.fixture
def receiver():
    r = WebhookReceiver()
    yield r
    r.close()


def test_bodies_are_signed_and_say_what_the_events_say(reg, tmp_path, receiver):
    secret = "s3cret-" + "x" * 20
    hook = reg.add_webhook(receiver.url, secret=secret, description="ops")
    assert hook.secret == secret and hook.cursor == reg.last_event_id()
    _changes(reg, tmp_path)
    worker = DeliveryWorker(local_of(reg))
    assert worker.run_once() == 3
    events = reg.events()
    assert len(receiver.requests) == 3
    for (headers, body), event in zip(receiver.requests, events, strict=True):
        # An independent HMAC-SHA256 of the raw body, as a receiver computes it.
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        assert headers["X-Seawall-Signature"] == f"sha256={expected}"
        assert json.loads(body) == event.to_dict()
        assert headers["Idempotency-Key"] == event.key
        assert headers["X-Seawall-Event"] == event.type
        assert headers["X-Seawall-Event-Id"] == str(event.id)
        assert headers["X-Seawall-Webhook-Id"] == str(hook.id)
        assert headers["X-Seawall-Delivery-Attempt"] == "1"
        assert headers["Content-Type"] == "application/json"
        assert verify_signature(secret, body, headers["X-Seawall-Signature"])
        assert not verify_signature("another secret!!", body, headers["X-Seawall-Signature"])
    (listed,) = reg.list_webhooks()
    assert (listed.delivered, listed.pending, listed.attempts) == (3, 0, 0)
    assert listed.cursor == events[-1].id
    assert listed.secret is None and secret not in repr(listed)
    assert worker.run_once() == 0  # nothing twice


def test_a_generated_secret_is_shown_once(reg):
    hook = reg.add_webhook("http://127.0.0.1:9/hook")
    assert hook.secret is not None and len(hook.secret) >= 32
    assert reg.list_webhooks()[0].secret is None
    with pytest.raises(InvalidInputError, match="secret"):
        reg.add_webhook("http://127.0.0.1:9/hook", secret="short")
    for url in ("ftp://host/hook", "http:///nohost", "", None):
        with pytest.raises(InvalidInputError, match="URL"):
            reg.add_webhook(url)
    with pytest.raises(InvalidInputError, match="event type"):
        reg.add_webhook("http://127.0.0.1:9/hook", types=["Alias"])


def test_retries_after_500s_with_the_same_idempotency_key(reg, tmp_path, rng):
    fails = int(rng.integers(1, 4))
    receiver = WebhookReceiver(fail_first=fails)
    try:
        hook = reg.add_webhook(receiver.url, types="alias.*", secret="k" * 24)
        _changes(reg, tmp_path)
        worker = DeliveryWorker(local_of(reg), backoff_s=0.01, max_backoff_s=0.05)
        assert worker.run_once() == 0  # the first try fails...
        (failed,) = reg.list_webhooks()
        assert (failed.attempts, failed.pending, failed.last_error) == (1, 1, "HTTP 500")
        done = _deliver_all(worker, reg, hook.id)
        assert len(receiver.requests) == fails + 1
        bodies = {body for _, body in receiver.requests}
        keys = {headers["Idempotency-Key"] for headers, _ in receiver.requests}
        (alias_event,) = reg.events(types="alias.*")
        assert bodies == {alias_event.to_json()} and keys == {alias_event.key}
        attempts = [h["X-Seawall-Delivery-Attempt"] for h, _ in receiver.requests]
        assert attempts == [str(i) for i in range(1, fails + 2)]
        assert receiver.events == [alias_event.to_dict()]
        assert (done.delivered, done.attempts, done.last_error) == (1, 0, None)
        assert done.cursor == reg.last_event_id()  # past the versions it does not want
        assert worker.failed == fails
    finally:
        receiver.close()


@pytest.mark.local_registry("the delivery worker's process restarts on the database itself")
def test_nothing_is_lost_while_the_endpoint_is_down_across_worker_restarts(registry_uri, tmp_path):
    url = closed_port_url()  # nothing listens there yet
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    reg = Registry(registry_uri, artifacts=tmp_path / "a")
    hook = reg.add_webhook(url, secret="z" * 32)
    _changes(reg, tmp_path, versions=3)
    worker = DeliveryWorker(local_of(reg), backoff_s=0.01, max_backoff_s=0.05, timeout_s=5)
    for _ in range(3):
        worker.run_once()
        time.sleep(0.06)
    (down,) = reg.list_webhooks()
    assert down.delivered == 0 and down.pending == 4 and down.attempts >= 1
    assert down.last_error  # connection refused, in the driver's words
    worker.close()
    reg.close()  # the worker's process goes away

    receiver = WebhookReceiver(port=port)  # the endpoint comes back
    try:
        reg = Registry(registry_uri, artifacts=tmp_path / "a")
        reg.set_alias("fraud", "champion", 1)  # and more happens meanwhile
        worker = DeliveryWorker(local_of(reg), backoff_s=0.01, max_backoff_s=0.05)
        _deliver_all(worker, reg, hook.id)
        assert receiver.events == [e.to_dict() for e in reg.events()]  # all, once, in order
        reg.close()
    finally:
        receiver.close()


def test_a_worker_thread_delivers_new_events(reg, tmp_path, receiver):
    reg.add_webhook(receiver.url, types=["model_version.created"], secret="q" * 20)
    with DeliveryWorker(local_of(reg), idle_s=0.2):
        _changes(reg, tmp_path, versions=2)
        assert receiver.wait_for(2)
    assert [e["payload"]["version"] for e in receiver.events] == [1, 2]


def test_a_hanging_endpoint_never_holds_up_a_write(reg, tmp_path):
    hold = threading.Event()
    receiver = WebhookReceiver(hold=hold)
    try:
        reg.add_webhook(receiver.url, secret="h" * 20)
        worker = DeliveryWorker(local_of(reg), timeout_s=60, lease_s=120).start()
        reg.register_model("fraud", make_bundle(tmp_path / "b", 1))
        assert receiver.wait_for_arrivals(1), "the POST never arrived"
        # The POST is held by the endpoint; writes go on.
        writer = threading.Thread(
            target=lambda: (
                reg.set_alias("fraud", "champion", 1),
                reg.record_event("test.more", "tests/more"),
            )
        )
        writer.start()
        writer.join(30)
        assert not writer.is_alive() and not hold.is_set()
        hold.set()
        assert receiver.wait_for(3)
        worker.close()
    finally:
        receiver.close()


def test_one_worker_at_a_time_per_webhook(reg, receiver):
    hook = reg.add_webhook(receiver.url, secret="l" * 20)
    reg.record_event("test.one", "tests/one")
    first, second = DeliveryWorker(local_of(reg)), DeliveryWorker(local_of(reg))
    assert first._claim(hook.id)
    assert not second._claim(hook.id)
    assert second.run_once() == 0 and receiver.requests == []
    first._release(hook.id)
    assert second.run_once() == 1


def test_removed_webhooks_get_nothing(reg, receiver):
    hook = reg.add_webhook(receiver.url, secret="r" * 20)
    reg.record_event("test.one", "tests/one")
    reg.remove_webhook(hook.id)
    assert DeliveryWorker(local_of(reg)).run_once() == 0 and receiver.requests == []
    with pytest.raises(NotFoundError):
        reg.remove_webhook(hook.id)


def test_a_webhook_from_an_earlier_event(reg, receiver):
    early = reg.record_event("test.early", "tests/e")
    reg.record_event("test.late", "tests/l")
    reg.add_webhook(receiver.url, secret="e" * 20, after=early.id - 1)
    assert DeliveryWorker(local_of(reg)).run_once() == 2
    assert [e["type"] for e in receiver.events] == ["test.early", "test.late"]


def test_worker_options_are_checked(reg):
    for bad in (
        {"timeout_s": 0},
        {"backoff_s": -1},
        {"batch": 0},
        {"timeout_s": 60, "lease_s": 60},
    ):
        with pytest.raises(InvalidInputError):
            DeliveryWorker(local_of(reg), **bad)


def test_pruning_keeps_what_a_webhook_has_not_delivered(reg, receiver):
    old = [reg.record_event("test.old", "tests/o", {"i": i}) for i in range(3)]
    hook = reg.add_webhook(receiver.url, secret="p" * 20, after=old[0].id)  # owes old[1:]
    newest = reg.record_event("test.new", "tests/n")
    assert reg.prune_events(older_than_s=3600) == 0  # nothing is that old
    assert reg.prune_events(older_than_s=0) == 1  # only what the webhook handled: old[0]
    assert reg.events() == [*old[1:], newest]
    assert DeliveryWorker(local_of(reg)).run_once() == 3
    assert [e["id"] for e in receiver.events] == [old[1].id, old[2].id, newest.id]
    assert reg.prune_events(older_than_s=0) == 3
    assert reg.events() == []
    reg.remove_webhook(hook.id)
    after = reg.record_event("test.after", "tests/a")
    assert after.id > newest.id  # ids are never handed out again
    with pytest.raises(InvalidInputError):
        reg.prune_events(-1)
