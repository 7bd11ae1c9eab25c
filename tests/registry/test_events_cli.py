"""`seawall events list | deliver` and `seawall webhooks add | list | remove`, against a real
registry and a real endpoint on loopback; `seawall events deliver` as a real process that a
SIGTERM stops cleanly."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys

import pytest
from click.testing import CliRunner
from registry_helpers import make_bundle

from local_servers import WebhookReceiver
from seawall.cli import main
from seawall.registry import Registry


@pytest.fixture
def filled(tmp_path):
    uri = f"sqlite:///{tmp_path / 'cli.db'}"
    with Registry(uri, artifacts=tmp_path / "artifacts") as reg:
        reg.register_model("churn", make_bundle(tmp_path / "b1", 1))
        reg.set_alias("churn", "champion", 1, reason="first")
    return {"SEAWALL_REGISTRY_URI": uri, "SEAWALL_ARTIFACTS_URI": str(tmp_path / "artifacts")}


@pytest.fixture
def receiver():
    r = WebhookReceiver()
    yield r
    r.close()


def _invoke(env, *args, extra_env=None):
    return CliRunner().invoke(main, list(args), env={**env, **(extra_env or {})})


def test_events_list(filled):
    out = _invoke(filled, "events", "list", "--json", "--type", "alias.*")
    assert out.exit_code == 0, out.output
    rows = [json.loads(line) for line in out.output.splitlines()]
    with Registry(
        filled["SEAWALL_REGISTRY_URI"], filled["SEAWALL_ARTIFACTS_URI"], create=False
    ) as reg:
        assert rows == [e.to_dict() for e in reg.events(types="alias.*")]
    table = _invoke(filled, "events", "list")
    assert table.exit_code == 0 and "2 events" in table.output
    assert (
        "model_version.created" in table.output and "models/churn/aliases/champion" in table.output
    )
    bad = _invoke(filled, "events", "list", "--type", "Not A Type")
    assert bad.exit_code == 1 and "invalid event type" in bad.output
    kept = _invoke(filled, "events", "prune", "--days", "1")
    assert kept.exit_code == 0 and "removed 0 event(s)" in kept.output
    pruned = _invoke(filled, "events", "prune", "--days", "0")
    assert pruned.exit_code == 0 and "removed 2 event(s)" in pruned.output
    assert "0 events" in _invoke(filled, "events", "list").output


def test_webhooks_add_list_deliver_remove(filled, receiver):
    secret = "a-secret-from-the-environment"
    added = _invoke(filled, "webhooks", "add", receiver.url, "-t", "alias.*", "--secret-env",
                    "HOOK_SECRET", "-d", "ops channel", extra_env={"HOOK_SECRET": secret})  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "webhook 1:" in added.output and secret not in added.output
    with Registry(
        filled["SEAWALL_REGISTRY_URI"], filled["SEAWALL_ARTIFACTS_URI"], create=False
    ) as reg:
        reg.set_alias("churn", "champion", 1, reason="again")
    listed = _invoke(filled, "webhooks", "list", "--json")
    (hook,) = json.loads(listed.output)
    assert (hook["id"], hook["types"], hook["pending"]) == (1, ["alias.*"], 1)
    assert "secret" not in hook and secret not in listed.output
    delivered = _invoke(filled, "events", "deliver", "--once")
    assert delivered.exit_code == 0 and "delivered 1 event(s)" in delivered.output
    ((headers, body),) = receiver.requests
    assert headers["X-Seawall-Signature"] == (
        "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    )
    assert json.loads(body)["payload"]["reason"] == "again"
    table = _invoke(filled, "webhooks", "list")
    assert table.exit_code == 0 and receiver.url in table.output
    removed = _invoke(filled, "webhooks", "remove", "1")
    assert removed.exit_code == 0 and "webhook 1 removed" in removed.output
    again = _invoke(filled, "webhooks", "remove", "1")
    assert again.exit_code == 1 and "no webhook with id 1" in again.output


def test_a_generated_secret_is_printed_once(filled):
    added = _invoke(filled, "webhooks", "add", "http://127.0.0.1:9/hook")
    assert added.exit_code == 0
    (line,) = [x for x in added.output.splitlines() if x.startswith("signing secret")]
    secret = line.split(": ", 1)[1]
    assert len(secret) >= 32
    listed = _invoke(filled, "webhooks", "list", "--json")
    assert secret not in listed.output
    missing = _invoke(filled, "webhooks", "add", "http://127.0.0.1:9/hook", "--secret-env", "NOPE")
    assert missing.exit_code == 2 and "NOPE is not set" in missing.output
    bad = _invoke(filled, "webhooks", "add", "ftp://host/hook")
    assert bad.exit_code == 1 and "http://" in bad.output


def test_the_delivery_command_runs_until_sigterm(filled, receiver, tmp_path):
    with Registry(
        filled["SEAWALL_REGISTRY_URI"], filled["SEAWALL_ARTIFACTS_URI"], create=False
    ) as reg:
        reg.add_webhook(receiver.url, types="model_version.created", secret="s" * 20)
    process = subprocess.Popen(
        [sys.executable, "-c", "from seawall.cli import main; main()", "events", "deliver"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **filled, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        with Registry(
            filled["SEAWALL_REGISTRY_URI"], filled["SEAWALL_ARTIFACTS_URI"], create=False
        ) as reg:
            reg.register_model("churn", make_bundle(tmp_path / "b2", 2))
        assert receiver.wait_for(1)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert "stopped; delivered 1 event(s)" in output
    assert receiver.events[0]["payload"]["version"] == 2
