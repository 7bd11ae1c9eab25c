"""`seawall server --auth registry`: every request but the server's description needs a token of
the registry (401 without a valid one, 429 past its rate), each call the scopes its route
declares (403 otherwise, judged here against an independent reading of the scopes: fnmatch on
the names), the token's principal is the actor recorded for what it writes (not what the client
claims), a revoked token is refused within a second, and the command refuses a non-loopback
address without tokens and serves TLS."""

from __future__ import annotations

import fnmatch
import json
import ssl
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest
from regserver_helpers import make_bundle

from local_servers import registry_server, seawall_command
from seawall import errors
from seawall.registry import Registry
from seawall.registry.remote import transport
from seawall.registry.remote.routes import API_VERSION

API = {"Seawall-API": str(API_VERSION)}
ADMIN = ["admin:experiments/*", "admin:models/*"]


@pytest.fixture
def secured(tmp_path):
    """A registry server checking tokens against its registry, with experiments fraud-a,
    fraud-b and other (a run each) and models fraud and other (two versions each): its URL,
    the registry behind it, and a function making a client with a token of given scopes."""
    with registry_server(tmp_path / "server", auth=True) as (url, backing):
        for experiment in ("fraud-a", "fraud-b", "other"):
            with backing.start_run(experiment=experiment) as run:
                run.log_metric("auc", 0.5)
        for model in ("fraud", "other"):
            for seed in (1, 2):
                backing.register_model(model, make_bundle(tmp_path / f"{model}{seed}", seed))
        clients: list[Registry] = []

        def client(*scopes: str, name: str = "ci-pipeline") -> Registry:
            token = backing.create_token(name, team="fraud", scopes=list(scopes))
            reg = Registry(url, token=token.secret)
            clients.append(reg)
            return reg

        yield url, backing, client
        for reg in clients:
            reg.close()


def _may(scopes: list[str], action: str, resource: str) -> bool:
    """The oracle: a scope allows its action (admin: every one; write and promote: read too)
    on the names its pattern matches (fnmatch); a resource of every name ("*") only to "*"."""
    implied = {"admin": {"read", "write", "promote", "admin"}, "write": {"read", "write"}}
    implied["promote"] = {"read", "promote"}
    implied["read"] = {"read"}
    kind, _, name = resource.partition("/")
    for scope in scopes:
        act, _, rest = scope.partition(":")
        skind, _, pattern = rest.partition("/")
        if skind != kind or action not in implied[act]:
            continue
        if (pattern == "*") if name == "*" else fnmatch.fnmatchcase(name, pattern):
            return True
    return False


def test_every_request_but_the_description_needs_a_valid_token(secured):
    url, _, client = secured
    assert httpx.get(url + "/").status_code == 200
    assert httpx.get(url + "/openapi.json").json()["components"]["securitySchemes"]["bearer"]
    api = f"{url}/api/{API_VERSION}"
    for method, path in (("GET", "/models"), ("GET", "/events"), ("HEAD", "/objects/" + "a" * 64)):
        answer = httpx.request(method, api + path, headers=API)
        assert answer.status_code == 401, (path, answer.text)
        assert answer.headers["www-authenticate"].startswith('Bearer realm="seawall"')
    answer = httpx.get(api + "/models", headers={**API, "authorization": "Bearer swt_nothing"})
    assert answer.status_code == 401 and answer.json()["type"] == "TokenMalformedError"
    # The client: no token, a malformed one, one of another registry, a revoked one.
    with Registry(url) as anonymous, pytest.raises(errors.AuthenticationError):
        anonymous.list_models()
    with Registry(url, token="swt_0011aabb_0123456789ab_" + "A" * 43) as foreign:
        with pytest.raises(errors.TokenForeignError):
            foreign.list_models()
    with pytest.raises(errors.InvalidInputError, match="token"):
        Registry(url, token="  ")
    assert client("read:models/*").list_models()


def test_each_call_needs_the_scopes_of_its_route(secured, tmp_path):
    url, backing, client = secured
    cases = {
        "writer": ["write:experiments/fraud*"],
        "reader": ["read:models/fraud"],
        "promoter": ["promote:models/fraud"],
        "registrar": ["write:models/fraud", "read:experiments/fraud*"],
        "admin": ADMIN,
    }
    run_of = {r.experiment: r.id for r in backing.search_runs(None)}
    bundle = make_bundle(tmp_path / "new", 3)
    # (what, the scopes it needs, the call)
    calls = [
        ("start a run in fraud-a", [("write", "experiments/fraud-a")], lambda r: r.start_run(experiment="fraud-a").end()),
        ("start a run in other", [("write", "experiments/other")], lambda r: r.start_run(experiment="other").end()),
        ("read a fraud-b run", [("read", "experiments/fraud-b")], lambda r: r.get_run(run_of["fraud-b"])),
        ("search every run", [("read", "experiments/*")], lambda r: r.search_runs(None)),
        ("search fraud-a", [("read", "experiments/fraud-a")], lambda r: r.search_runs("fraud-a")),
        ("delete a fraud-a run", [("write", "experiments/fraud-a")], lambda r: r.delete_run(run_of["fraud-a"])),
        ("read fraud v1", [("read", "models/fraud")], lambda r: r.get_model_version("fraud", 1)),
        ("load fraud v1", [("read", "models/fraud")], lambda r: r.bundle_path("models:/fraud/1")),
        ("read other v1", [("read", "models/other")], lambda r: r.get_model_version("other", 1)),
        ("search fraud's versions", [("read", "models/fraud")], lambda r: r.search_model_versions("fraud")),
        ("search every version", [("read", "models/*")], lambda r: r.search_model_versions()),
        ("promote fraud", [("promote", "models/fraud")], lambda r: r.set_alias("fraud", "champion", 2)),
        ("promote other", [("promote", "models/other")], lambda r: r.set_alias("other", "champion", 2)),
        (
            "register fraud from a run",
            [("write", "models/fraud"), ("read", "experiments/fraud-b")],
            lambda r: r.register_model("fraud", bundle, run=run_of["fraud-b"]),
        ),
        ("purge fraud v1", [("admin", "models/fraud")], lambda r: r.purge_model_version("fraud", 1)),
        ("make a token", [("admin", "experiments/*"), ("admin", "models/*")], lambda r: r.create_token("x", team="t", scopes=["read:models/x"])),
        ("list tokens", [("admin", "experiments/*"), ("admin", "models/*")], lambda r: r.tokens()),
        ("gc", [("admin", "experiments/*"), ("admin", "models/*")], lambda r: r.gc(dry_run=True)),
        ("events of fraud", [("read", "models/fraud")], lambda r: r.events(resource="models/fraud")),
        ("every event", [("read", "models/*")], lambda r: r.events()),
        ("an event of fraud", [("write", "models/fraud")], lambda r: r.record_event("deploy.done", "models/fraud/x")),
        ("an event of no model", [("write", "experiments/*"), ("write", "models/*")], lambda r: r.record_event("deploy.done", "elsewhere")),
    ]  # fmt: skip
    for who, scopes in cases.items():
        reg = client(*scopes, name=who)
        for what, needs, call in calls:
            allowed = all(_may(scopes, action, resource) for action, resource in needs)
            if allowed:
                try:
                    call(reg)
                except errors.AccessDeniedError as exc:
                    raise AssertionError(f"{who} may {what}, yet: {exc}") from None
                except errors.SeawallError:
                    pass  # allowed, and refused for another reason (a purge of a live version)
            else:
                with pytest.raises(errors.AccessDeniedError) as denied:
                    call(reg)
                assert isinstance(denied.value, PermissionError), (who, what)
        # Lists keep what the token may read, by the same oracle.
        experiments = [e.name for e in backing.list_experiments()]
        readable = [e for e in experiments if _may(scopes, "read", f"experiments/{e}")]
        assert sorted(e.name for e in reg.list_experiments()) == sorted(readable), who
        models = [m.name for m in backing.list_models()]
        readable = [m for m in models if _may(scopes, "read", f"models/{m}")]
        assert sorted(m.name for m in reg.list_models()) == sorted(readable), who
        assert [m.name for m in reg.search_models()] == sorted(readable), who
        assert [m.name for m in reg.summary().models] == sorted(readable), who
    # A 403 says which scope was missing, in WWW-Authenticate too.
    token = backing.create_token("probe", team="t", scopes=["read:models/fraud"])
    answer = httpx.put(
        f"{url}/api/{API_VERSION}/models/fraud/aliases/x",
        json={"version": 1},
        headers={**API, "authorization": f"Bearer {token.secret}"},
    )
    assert answer.status_code == 403 and answer.json()["type"] == "AccessDeniedError"
    assert "promote:models/fraud" in answer.json()["error"]


def test_the_actor_is_the_tokens_principal(secured, tmp_path):
    """A run, a version, an alias move and a delete made through the server record the
    token's principal, whatever the client claims (Seawall-Actor) or its OS login."""
    url, backing, client = secured
    ci = client(
        "write:experiments/fraud*", "write:models/fraud", "promote:models/fraud", name="ci-bot"
    )
    with ci.acting_as("mallory"), ci.start_run(experiment="fraud-a") as run:
        run.log_metric("auc", 0.9)
    assert run.actor == backing.get_run(run.id).actor == "service:ci-bot"
    version = ci.register_model("fraud", make_bundle(tmp_path / "b", 4), run=run)
    assert version.actor == backing.get_model_version("fraud", version.version).actor
    assert version.actor == "service:ci-bot"
    ci.set_alias("fraud", "champion", version.version, reason="tests passed")
    token = backing.create_token("ci-bot", team="fraud", scopes=["promote:models/fraud"])
    answer = httpx.put(
        f"{url}/api/{API_VERSION}/models/fraud/aliases/challenger",
        json={"version": 1},
        headers={**API, "authorization": f"Bearer {token.secret}", "Seawall-Actor": "mallory"},
    )
    assert answer.status_code == 200, answer.text
    ci.delete_run(run.id, reason="scratch")
    moves = backing.alias_history("fraud")
    assert [(m.alias, m.actor) for m in moves] == [
        ("champion", "service:ci-bot"),
        ("challenger", "service:ci-bot"),
    ]
    assert backing.deletion_history(f"run:{run.id}")[0].actor == "service:ci-bot"
    (event,) = backing.events(types="alias.set", resource="models/fraud/aliases/champion")
    assert event.payload["actor"] == "service:ci-bot"


def test_acknowledging_an_alert_needs_write_and_records_the_token(secured):
    """Through the server, acknowledging a model's alert needs write on the model (a reader
    gets 403, and nothing changes); the acknowledgement names the token's principal, not the
    actor the client claims."""
    from seawall.monitoring._store import HistoryStore
    from seawall.monitoring.rules import Alert

    _, backing, client = secured
    here = HistoryStore(backing)
    ids = {
        model: here.save_alert(
            Alert(model, "r", "drift_share", None, "critical", "firing", 0.7, 0.5, "moved", 1.0)
        )
        for model in ("fraud", "other")
    }
    reader = HistoryStore(client("read:models/*", name="reader"))
    with pytest.raises(errors.AccessDeniedError, match="write:models/fraud"):
        reader.acknowledge_alert("fraud", ids["fraud"])
    writer_registry = client("write:models/fraud", name="on-call")
    writer = HistoryStore(writer_registry)
    with pytest.raises(errors.AccessDeniedError, match="write:models/other"):
        writer.acknowledge_alert("other", ids["other"])
    # An alert of another model, named as fraud's: refused as not found, not acknowledged.
    with pytest.raises(errors.NotFoundError):
        writer.acknowledge_alert("fraud", ids["other"])
    assert all(a.acknowledged_at is None for a in here.alerts())
    with writer_registry.acting_as("mallory"):
        done = writer.acknowledge_alert("fraud", ids["fraud"])
    assert done.acknowledged_by == "service:on-call"
    assert {a.id: a.acknowledged_by for a in here.alerts()} == {
        ids["fraud"]: "service:on-call",
        ids["other"]: None,
    }


def test_a_revoked_token_is_refused_within_a_second(secured):
    url, _, client = secured
    admin = client(*ADMIN, name="admin")
    token = admin.create_token("ci", team="fraud", scopes=["read:models/*"])
    with Registry(url, token=token.secret) as ci:
        assert [m.name for m in ci.list_models()] == ["fraud", "other"]
        admin.revoke_token(token.info.id)  # through the server too
        time.sleep(1.0)  # the bound the server promises
        with pytest.raises(errors.TokenRevokedError):
            ci.list_models()
        assert admin.list_models()  # the others go on


def test_a_token_over_its_rate_gets_429_and_the_client_waits(tmp_path, monkeypatch):
    from seawall._server.auth import Authenticator

    with registry_server(tmp_path / "s", auth=lambda reg: Authenticator(reg, rate_limit=1000)) as (
        url,
        backing,
    ):
        slow = backing.create_token("slow", team="t", scopes=["read:models/*"], rate_limit=1.0)
        other = backing.create_token("other", team="t", scopes=["read:models/*"])
        path = f"{url}/api/{API_VERSION}/models"
        first = httpx.get(path, headers={**API, "authorization": f"Bearer {slow.secret}"})
        second = httpx.get(path, headers={**API, "authorization": f"Bearer {slow.secret}"})
        for _ in range(20):  # the server's 1000/s leaves the other token alone
            assert httpx.get(path, headers={**API, "authorization": f"Bearer {other.secret}"})
        assert first.status_code == 200
        assert second.status_code == 429 and second.headers["retry-after"] == "1"
        assert slow.info.id in second.json()["error"]
        assert second.headers["seawall-api"] == str(API_VERSION)
        with Registry(url, token=slow.secret) as reg:
            assert reg.list_models() == []  # waited for Retry-After, then answered
            monkeypatch.setattr(transport, "RETRY_S", 0.2)
            with pytest.raises(errors.RegistryUnavailableError, match="rate limit"):
                for _ in range(3):
                    reg.list_models()


NOT_LISTENING = (
    "import sys, uvicorn; uvicorn.Server.run = lambda self, sockets=None: None; "
    "from seawall.cli import main; sys.argv[0] = 'seawall'; main()"
)


def test_beyond_loopback_needs_auth_or_insecure(tmp_path):
    def command(*args: str) -> subprocess.CompletedProcess[str]:
        database = ["--registry", str(tmp_path / "r.db"), "--artifacts", str(tmp_path / "a")]
        return subprocess.run(
            [sys.executable, "-c", NOT_LISTENING, "server", *database, "--port", "0", *args],
            capture_output=True,
            text=True,
            timeout=300,
        )

    refused = command("--host", "0.0.0.0")
    assert refused.returncode == 2
    (line,) = [x for x in refused.stderr.splitlines() if x.startswith("Error:")]
    assert "without checking tokens" in line and "--insecure" in line and "--auth" in line
    assert not (tmp_path / "r.db").exists()  # refused before opening anything
    insecure = command("--host", "0.0.0.0", "--insecure")
    assert insecure.returncode == 0, insecure.stderr
    assert "no authentication (--insecure)" in insecure.stderr
    checked = command("--host", "0.0.0.0", "--auth", "registry")
    assert checked.returncode == 0, checked.stderr
    assert "tokens checked" in checked.stdout and "clear text" in checked.stderr
    assert command("--rate-limit", "5").returncode == 2


def test_seawall_server_checks_tokens_over_tls(tmp_path, monkeypatch):
    from tls_helpers import self_signed

    cert, key = self_signed(tmp_path)
    setup = Registry(tmp_path / "r.db", artifacts=tmp_path / "a")
    token = setup.create_token("ci", team="fraud", scopes=["write:experiments/*"])
    setup.close()
    context = ssl.create_default_context(cafile=str(cert))
    args = ["--registry", str(tmp_path / "r.db"), "--artifacts", str(tmp_path / "a")]
    tls = ["--ssl-certfile", str(cert), "--ssl-keyfile", str(key)]
    with seawall_command("server", *args, "--auth", "registry", *tls, context=context) as (
        url,
        output,
    ):
        assert url.startswith("https://")
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the client trusts the test's CA
        monkeypatch.setenv("SEAWALL_TOKEN", token.secret)
        with Registry(url) as reg:
            data = np.random.default_rng(0).bytes(3000)
            with reg.start_run(experiment="tls") as run:
                run.log_bytes(data, "d.bin")
            assert reg.read_artifact(run.id, "d.bin") == data
            assert reg.get_run(run.id).actor == "service:ci"
        monkeypatch.delenv("SEAWALL_TOKEN")
        with Registry(url) as anonymous, pytest.raises(errors.AuthenticationError):
            anonymous.search_runs("tls")
    assert token.secret.split("_", 3)[3] not in output[0]
    assert "https://" in output[0] and "tokens checked" in output[0]


def test_the_openapi_document_names_each_operations_scopes(secured):
    url, _, _ = secured
    document = httpx.get(url + "/openapi.json").json()
    operations = [op for item in document["paths"].values() for op in item.values()]
    assert all("x-seawall-access" in op or op.get("security") == [] for op in operations)
    alias = document["paths"][f"/api/{API_VERSION}/models/{{model}}/aliases/{{alias}}"]["put"]
    assert alias["x-seawall-access"] == ["promote:models/{model}"]
    assert json.dumps(document["security"]) == '[{"bearer": []}]'
