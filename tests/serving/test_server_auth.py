"""The model server under `create_app(auth=...)` and `seawall serve --auth ...`: each route group
needs its scope (the answers a token is allowed are the open server's own answers), 401 without
a token or with a bad one, 403 with the wrong scope, 429 past a token's rate, revocation within
a second through the cache, nothing secret in the logs; binding beyond loopback without auth is
refused, and TLS serves. Real registries, real uvicorn servers on loopback, real HTTP clients."""

from __future__ import annotations

import logging
import ssl
import subprocess
import sys
import time

import httpx
import pytest
from serving_helpers import records, running, transactions

from seawall.registry import Registry
from seawall.serving import create_app

NAME = "fraud"
# (method, path, JSON body or None) of every route group; the bodies are valid or not, as it
# happens: an allowed request gets whatever the open server answers.
ROUTES = {
    "health": [("GET", "/v2/health/live", None), ("GET", "/v2/health/ready", None)],
    "server": [("GET", "/v2", None)],
    "metadata": [
        ("GET", f"/v2/models/{NAME}", None),
        ("GET", f"/v2/models/{NAME}/versions/3", None),
        ("GET", f"/v2/models/{NAME}/ready", None),
        ("GET", f"/v2/models/{NAME}/config", None),
        ("GET", f"/v2/models/{NAME}/versions/3/stats", None),
        ("GET", f"/v2/models/{NAME}/traffic", None),
    ],
    "inference": [
        ("POST", f"/v2/models/{NAME}/infer", {}),
        ("POST", f"/v1/models/{NAME}/predict", "records"),
        ("POST", f"/v1/models/{NAME}/versions/3/predict", "records"),
    ],
    "every model": [
        ("GET", "/metrics", None),
        ("GET", "/v2/models/stats", None),
        ("POST", "/v2/repository/index", {}),
    ],
    "admin": [
        ("POST", f"/v2/repository/models/{NAME}/load", {}),
        ("POST", f"/v2/repository/models/{NAME}/unload", {}),
    ],
    "other model": [("GET", "/v2/models/other", None), ("POST", "/v1/models/other/predict", {})],
}
# Which groups each token's scopes open (besides health, open to all).
TOKENS = {
    "reader": (["read:models/fraud"], {"server", "metadata", "inference"}),
    "pattern": (["read:models/fr*"], {"server", "metadata", "inference"}),
    "other": (["read:models/other", "admin:experiments/*"], {"server", "other model"}),
    "admin": (["admin:models/fraud"], {"server", "metadata", "inference", "admin"}),
    "everything": (
        ["read:models/*"],
        {"server", "metadata", "inference", "every model", "other model"},
    ),
    "writer": (["write:models/fraud"], {"server", "metadata", "inference"}),
}


@pytest.fixture
def reg(tmp_path):
    registry = Registry(tmp_path / "registry.db", artifacts=tmp_path / "artifacts")
    yield registry
    registry.close()


def _send(client: httpx.Client, method: str, path: str, body, token: str | None, rows):
    headers = {"authorization": f"Bearer {token}"} if token is not None else {}
    if body == "records":
        body = {"records": rows}
    return client.request(method, path, json=body, headers=headers)


def test_each_route_group_needs_its_scope(onnx_bundle, reg, rng, caplog):
    caplog.set_level(logging.DEBUG)
    secrets = {
        label: reg.create_token(label, team="fraud", scopes=scopes).secret
        for label, (scopes, _) in TOKENS.items()
    }
    rows = records(transactions(rng, 5))
    open_answers = {}
    with running(create_app(onnx_bundle)) as url, httpx.Client(base_url=url, timeout=30) as c:
        for routes in ROUTES.values():
            for method, path, body in routes:
                open_answers[path, method] = _send(c, method, path, body, None, rows).status_code
    app = create_app(onnx_bundle, auth=reg)
    with running(app) as url, httpx.Client(base_url=url, timeout=30) as c:
        for group, routes in ROUTES.items():
            for method, path, body in routes:
                expected_open = open_answers[path, method]
                anonymous = _send(c, method, path, body, None, rows)
                if group == "health":
                    assert anonymous.status_code == expected_open == 200
                    continue
                assert anonymous.status_code == 401, (path, anonymous.text)
                assert anonymous.headers["www-authenticate"] == 'Bearer realm="seawall"'
                assert "Authorization: Bearer" in anonymous.json()["error"]
                for label, (_, groups) in TOKENS.items():
                    answer = _send(c, method, path, body, secrets[label], rows)
                    if group in groups:
                        assert answer.status_code == expected_open, (label, path, answer.text)
                    else:
                        assert answer.status_code == 403, (label, path, answer.text)
                        challenge = answer.headers["www-authenticate"]
                        assert 'error="insufficient_scope"' in challenge
                        assert "may not" in answer.json()["error"]
        # a predict with the reader token is the model's real answer
        predicted = _send(
            c, "POST", f"/v1/models/{NAME}/predict", "records", secrets["reader"], rows
        )
        assert predicted.status_code == 200 and len(predicted.json()["outputs"]["label"]) == 5
    for secret in secrets.values():
        assert secret.split("_", 3)[3] not in caplog.text


def test_a_model_warmed_up_through_the_app_starts_under_auth(fitted, reg, rng, tmp_path):
    """Before it is ready, the server sends a model's warm-up requests through its own app (in
    the process, never over the network): they need no token, and a client still does."""
    from seawall.serving import save_bundle

    rows = records(transactions(rng, 5))
    path = tmp_path / NAME
    save_bundle(path, onnx_model=fitted.onnx, pipeline=fitted.pipeline, example=rows, version=3)
    secret = reg.create_token("reader", team="fraud", scopes=["read:models/fraud"]).secret
    with running(create_app(path, auth=reg)) as url, httpx.Client(base_url=url) as c:
        assert c.post(f"/v1/models/{NAME}/predict", json={"records": rows}).status_code == 401
        answer = c.post(
            f"/v1/models/{NAME}/predict",
            json={"records": rows},
            headers={"authorization": f"Bearer {secret}"},
        )
        assert answer.status_code == 200 and len(answer.json()["outputs"]["label"]) == 5
        stats = c.get(
            f"/v2/models/{NAME}/versions/3/stats", headers={"authorization": f"Bearer {secret}"}
        ).json()
    # The warm-up requests are counted nowhere: the one predict above is.
    assert stats["model_stats"][0]["inference_count"] == 5, stats


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer swt_",
        "Basic dXNlcjpwYXNz",
        "Bearer swt_nothing",
        "Bearer swt_0011aabb_0123456789ab_" + "A" * 43,  # another issuer
        "Token abc",
    ],
)
def test_bad_authorization_headers_get_401(onnx_bundle, reg, header):
    reg.create_token("ci", team="fraud", scopes=["read:models/*"])
    app = create_app(onnx_bundle, auth=reg)
    with running(app) as url:
        answer = httpx.get(url + f"/v2/models/{NAME}", headers={"authorization": header})
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith('Bearer realm="seawall"')
    if header.startswith("Bearer swt_0"):
        assert 'error="invalid_token"' in answer.headers["www-authenticate"]
        assert header[7:] not in answer.text


def test_revocation_and_expiry_take_effect_within_a_second(onnx_bundle, reg, monkeypatch):
    new = reg.create_token("ci", team="fraud", scopes=["read:models/fraud"], expires_in=3600)
    keep = reg.create_token("other", team="fraud", scopes=["read:models/fraud"])
    headers = {"authorization": f"Bearer {new.secret}"}
    app = create_app(onnx_bundle, auth=reg)
    with running(app) as url:
        assert httpx.get(url + f"/v2/models/{NAME}", headers=headers).status_code == 200
        reg.revoke_token(new.info.id)
        time.sleep(1.0)  # the bound the server promises
        refused = httpx.get(url + f"/v2/models/{NAME}", headers=headers)
        assert refused.status_code == 401 and "revoked" in refused.json()["error"]
        other = {"authorization": f"Bearer {keep.secret}"}
        assert httpx.get(url + f"/v2/models/{NAME}", headers=other).status_code == 200
        # the other one expires: refused at once, even from the cache
        import seawall._server.auth as auth_module

        later = time.time() + 100 * 86400
        monkeypatch.setattr(auth_module.time, "time", lambda: later)
        expired = httpx.get(url + f"/v2/models/{NAME}", headers=other)
    assert expired.status_code == 401 and "expired" in expired.json()["error"]


def test_a_token_over_its_rate_gets_429_with_retry_after(onnx_bundle, reg):
    from seawall._server.auth import Authenticator

    slow = reg.create_token("slow", team="fraud", scopes=["read:models/*"], rate_limit=0.1)
    other = reg.create_token("other", team="fraud", scopes=["read:models/*"])
    app = create_app(onnx_bundle, auth=Authenticator(reg, rate_limit=1000))
    with running(app) as url:
        path = url + f"/v2/models/{NAME}"
        first = httpx.get(path, headers={"authorization": f"Bearer {slow.secret}"})
        second = httpx.get(path, headers={"authorization": f"Bearer {slow.secret}"})
        for _ in range(20):  # the server's 1000/s leaves the other token alone
            assert httpx.get(path, headers={"authorization": f"Bearer {other.secret}"}).is_success
    assert first.status_code == 200
    assert second.status_code == 429
    assert 1 <= int(second.headers["retry-after"]) <= 10
    assert slow.info.id in second.json()["error"]


def test_the_throttle_is_a_token_bucket(reg, monkeypatch):
    """Deterministic, on a fake clock: `burst` requests at once, then one per 1/rate seconds."""
    import seawall._server.auth as auth_module
    from seawall._server.auth import Authenticator

    now = [1000.0]
    monkeypatch.setattr(auth_module.time, "monotonic", lambda: now[0])
    p = reg.authenticate(reg.create_token("ci", team="t", scopes=["read:models/*"]).secret)
    throttle = Authenticator(reg, rate_limit=4, burst=3)
    assert [throttle.throttle(p) for _ in range(3)] == [0, 0, 0]
    assert throttle.throttle(p) == pytest.approx(0.25)
    now[0] += 0.25
    assert throttle.throttle(p) == 0
    assert throttle.throttle(p) == pytest.approx(0.25)
    now[0] += 10
    assert [throttle.throttle(p) for _ in range(3)] == [0, 0, 0]  # never above the burst
    assert throttle.throttle(p) > 0


def test_the_cache_answers_for_half_a_second_at_most(reg, monkeypatch):
    """On a fake clock: a revocation reaches the Authenticator once its answer is 0.5 s old."""
    import seawall._server.auth as auth_module
    from seawall._server.auth import Authenticator
    from seawall.errors import TokenRevokedError, TokenUnknownError

    now = [50.0]
    monkeypatch.setattr(auth_module.time, "monotonic", lambda: now[0])
    calls = []
    real = reg.authenticate

    class Counting:
        def authenticate(self, token):
            calls.append(token)
            return real(token)

        def principal_for(self, token_id):
            return reg.principal_for(token_id)

    new = reg.create_token("ci", team="t", scopes=["read:models/*"])
    auth = Authenticator(Counting())
    assert auth.authenticate(new.secret).name == "ci"
    reg.revoke_token(new.info.id)
    now[0] += 0.49
    assert auth.authenticate(new.secret).name == "ci"  # still the cached answer
    assert len(calls) == 1
    now[0] += 0.02
    with pytest.raises(TokenRevokedError):
        auth.authenticate(new.secret)
    with pytest.raises(TokenRevokedError):  # the refusal is kept too
        auth.authenticate(new.secret)
    assert len(calls) == 2
    forged = new.secret[:-1] + ("x" if new.secret[-1] != "x" else "y")
    for _ in range(3):
        with pytest.raises(TokenUnknownError):
            auth.authenticate(forged)
    assert len(calls) == 3
    for bad in ({"cache_s": 2}, {"cache_s": -1}, {"burst": 0}, {"rate_limit": 0}):
        with pytest.raises(ValueError):
            Authenticator(reg, **bad)
    with pytest.raises(ValueError, match="registry or a TokenFile"):
        Authenticator(object())


def test_a_token_file_protects_a_server_without_a_registry(onnx_bundle, tmp_path):
    from click.testing import CliRunner

    from seawall.cli import main

    path = tmp_path / "tokens.json"
    made = CliRunner().invoke(
        main,
        [
            *("tokens", "create", "--file", str(path), "--service", "edge", "--team", "fraud"),
            *("--scope", "read:models/fraud"),
        ],
    )
    assert made.exit_code == 0, made.output
    secret = made.stdout.strip()
    app = create_app(onnx_bundle, auth=str(path))
    with running(app) as url:
        headers = {"authorization": f"Bearer {secret}"}
        assert httpx.get(url + f"/v2/models/{NAME}", headers=headers).status_code == 200
        assert httpx.get(url + "/metrics", headers=headers).status_code == 403
        token_id = secret.split("_")[2]
        revoked = CliRunner().invoke(main, ["tokens", "revoke", token_id, "--file", str(path)])
        assert revoked.exit_code == 0, revoked.output
        time.sleep(1.0)
        assert httpx.get(url + f"/v2/models/{NAME}", headers=headers).status_code == 401


def test_the_dashboard_in_the_model_server_takes_the_same_tokens(onnx_bundle, reg):
    reg.register_model(NAME, onnx_bundle.path)
    reader = reg.create_token("ana", kind="user", team="fraud", scopes=["read:models/fraud"])
    app = create_app(onnx_bundle, auth=reg, registry=reg, dashboard=True)
    with running(app) as url:
        bearer = {"authorization": f"Bearer {reader.secret}"}
        page = httpx.get(url + "/ui/", headers=bearer)
        assert page.status_code == 200 and "user:ana" in page.text
        anonymous = httpx.get(url + "/ui/models/fraud", follow_redirects=False)
        assert anonymous.status_code == 303
        assert anonymous.headers["location"] == "/ui/signin?next=%2Fmodels%2Ffraud"
        assert httpx.get(url + "/ui/signin").status_code == 200


# --- the command ------------------------------------------------------------------------------

NOT_LISTENING = (
    "import sys, uvicorn; uvicorn.Server.run = lambda self, sockets=None: None; "
    "from seawall.cli import main; sys.argv[0] = 'seawall'; main()"
)


def _not_listening(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", NOT_LISTENING, *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_beyond_loopback_needs_auth_or_insecure(onnx_bundle, tmp_path):
    bundle = str(onnx_bundle.path)
    refused = _not_listening("serve", bundle, "--host", "0.0.0.0", "--port", "0")
    assert refused.returncode == 2
    (line,) = [x for x in refused.stderr.splitlines() if x.startswith("Error:")]
    assert "without checking tokens" in line and "--insecure" in line and "--auth" in line
    assert "serving" not in refused.stdout  # nothing was loaded
    insecure = _not_listening("serve", bundle, "--host", "0.0.0.0", "--port", "0", "--insecure")
    assert insecure.returncode == 0, insecure.stderr
    assert "no authentication (--insecure)" in insecure.stderr
    Registry(tmp_path / "r.db", artifacts=tmp_path / "a").create_token(
        "ci", team="t", scopes=["read:models/*"]
    )
    args = ["--registry", str(tmp_path / "r.db"), "--artifacts", str(tmp_path / "a")]
    checked = _not_listening(
        "serve", bundle, "--host", "0.0.0.0", "--port", "0", "--auth", "registry", *args
    )
    assert checked.returncode == 0, checked.stderr
    assert "checking tokens against the registry" in checked.stdout
    assert "clear text" in checked.stderr  # plain HTTP beyond loopback is still warned about
    some_file = tmp_path / "some.json"
    some_file.write_text("{}")
    for bad, message in (
        (["--auth", "registry", "--auth-tokens", str(some_file)], "not both"),
        (["--rate-limit", "5"], "needs --auth"),
        (["--ssl-keyfile", str(some_file)], "needs --ssl-certfile"),
        (["--auth-tokens", str(tmp_path / "none.json")], "does not exist"),
    ):
        result = _not_listening("serve", bundle, "--port", "0", *bad)
        assert result.returncode == 2, (bad, result.stderr)
        assert message in result.stderr, (bad, result.stderr)
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    result = _not_listening("serve", bundle, "--port", "0", "--auth-tokens", str(broken))
    assert result.returncode == 1 and "not JSON" in result.stderr


def test_seawall_serve_checks_tokens_over_tls(onnx_bundle, tmp_path):
    from local_servers import seawall_command
    from tls_helpers import self_signed

    cert, key = self_signed(tmp_path)
    tokens = tmp_path / "tokens.json"
    from seawall._server.tokens import TokenFile

    secret = (
        TokenFile(tokens, create=True)
        .create_token("probe", team="ops", scopes=["read:models/*"])
        .secret
    )
    context = ssl.create_default_context(cafile=str(cert))
    with seawall_command(
        "serve",
        str(onnx_bundle.path),
        "--auth-tokens",
        str(tokens),
        "--ssl-certfile",
        str(cert),
        "--ssl-keyfile",
        str(key),
        ready="/v2/health/ready",
        context=context,
    ) as (url, output):
        assert url.startswith("https://")
        with httpx.Client(base_url=url, verify=context) as client:
            assert client.get("/metrics").status_code == 401
            answer = client.get("/metrics", headers={"authorization": f"Bearer {secret}"})
            assert answer.status_code == 200 and "seawall_" in answer.text
    assert secret.split("_", 3)[3] not in output[0]


def test_requests_of_one_token_share_one_query_when_its_answer_runs_out(reg):
    """20 requests at once of a token not cached: the source is asked once, not 20 times."""
    import asyncio
    import threading

    from seawall._server.auth import Access, Authenticator, AuthMiddleware

    new = reg.create_token("ci", team="t", scopes=["read:models/fraud"])
    calls = []
    release = threading.Event()

    class Slow:
        def authenticate(self, token):
            calls.append(token)
            release.wait(30)  # every request arrives while the first query is under way
            return reg.authenticate(token)

        def principal_for(self, token_id):
            return reg.principal_for(token_id)

    served = []

    async def app(scope, receive, send):
        served.append(scope["seawall.principal"].name)

    checked = AuthMiddleware(
        app, Authenticator(Slow()), lambda m, p: Access("inference", "read", "models/fraud")
    )
    headers = [(b"authorization", f"Bearer {new.secret}".encode())]

    async def main():
        scope = {"type": "http", "method": "GET", "path": "/x", "headers": headers}
        pending = [asyncio.ensure_future(checked(dict(scope), None, None)) for _ in range(20)]
        while not calls:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)
        release.set()
        await asyncio.gather(*pending)

    asyncio.run(main())
    assert len(calls) == 1 and served == ["ci"] * 20
