"""The dashboard with tokens (`create_dashboard_app(auth=...)`, `seawall ui --auth registry`): a
browser signs in with a token into a signed, HttpOnly, SameSite=Strict session; pages show only
what the token may read; moving an alias needs the session's CSRF value and the promote scope,
and records the principal; revocation ends a session within a second; a tampered cookie is no
session. Real uvicorn servers on loopback, a real HTTP client with a cookie jar."""

from __future__ import annotations

import html
import re
import ssl
import time
from html.parser import HTMLParser

import httpx
import monitoring_helpers as helpers  # loaded by this folder's conftest
import pytest

from seawall.dashboard import create_dashboard_app


class _Fields(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.inputs: dict[str, str] = {}
        self.links: list[str] = []
        self.forms: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "input" and a.get("name"):
            self.inputs[a["name"]] = a.get("value") or ""
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if tag == "form":
            self.forms.append(a.get("action") or "")


def _fields(html: str) -> _Fields:
    found = _Fields()
    found.feed(html)
    return found


def _sign_in(client: httpx.Client, token: str, next_path: str = "/") -> httpx.Response:
    form = client.get("/signin", params={"next": next_path})
    assert form.status_code == 200
    csrf = _fields(form.text).inputs["csrf"]
    return client.post(
        f"/signin?next={next_path}", data={"csrf": csrf, "token": token}, follow_redirects=False
    )


@pytest.fixture
def tokens(world):
    reg = world.registry
    return {
        "churn": reg.create_token(
            "bo",
            kind="user",
            team="churn",
            scopes=["read:models/churn", "read:experiments/churn"],
        ),
        "fraud": reg.create_token(
            "ana",
            kind="user",
            team="fraud",
            scopes=["read:models/fraud", "promote:models/fraud", "read:experiments/f*"],
        ),
    }


@pytest.fixture
def dashboard(world):
    app = create_dashboard_app(world.registry, [world.monitor], auth=world.registry)
    with helpers.running(app) as url:
        yield url


def test_signing_in_makes_a_strict_httponly_session(dashboard, tokens):
    secret = tokens["churn"].secret
    with httpx.Client(base_url=dashboard, timeout=60) as client:
        first = client.get("/models/churn", follow_redirects=False)
        assert first.status_code == 303
        assert first.headers["location"] == "/signin?next=%2Fmodels%2Fchurn"
        assert client.post("/models/fraud/versions/1/alias", data={}).status_code == 401
        form = client.get("/signin")
        signin_cookie = form.headers["set-cookie"]
        assert "HttpOnly" in signin_cookie and "SameSite=Strict" in signin_cookie
        csrf = _fields(form.text).inputs["csrf"]
        # no CSRF value, another one, a bad token
        for token, spoil, status, words in (
            (secret, None, 403, "expired"),
            (secret, "x", 403, "expired"),
            (secret[:-3] + "AAA", "", 401, "not known"),
            ("hunter2", "", 401, "not a seawall token"),
        ):
            data = {"token": token} if spoil is None else {"token": token, "csrf": csrf + spoil}
            refused = client.post("/signin", data=data, follow_redirects=False)
            assert refused.status_code == status and words in refused.text, refused.text
            assert "seawall_session" not in refused.headers.get("set-cookie", "")
            csrf = _fields(refused.text).inputs["csrf"]  # and its cookie, set again
        signed = _sign_in(client, secret, "/models/churn")
        assert signed.status_code == 303 and signed.headers["location"] == "/models/churn"
        session = [c for c in signed.headers.get_list("set-cookie") if "seawall_session=" in c]
        assert len(session) == 1
        assert "HttpOnly" in session[0] and "SameSite=Strict" in session[0]
        assert "Path=/" in session[0] and "Secure" not in session[0]  # plain HTTP here
        assert secret.split("_", 3)[3] not in session[0]
        assert tokens["churn"].info.id not in session[0].split(";")[0].split(".")[1]
        page = client.get("/models/churn")
        assert page.status_code == 200 and "user:bo" in page.text and "team churn" in page.text
        # an open redirect is not possible
        for target in ("//evil.example", "https://evil.example", "/\\evil.example"):
            assert _sign_in(client, secret, target).headers["location"] == "/"


def test_pages_show_only_what_the_token_may_read(world, dashboard, tokens):
    with httpx.Client(base_url=dashboard, timeout=60) as client:
        assert _sign_in(client, tokens["churn"].secret).status_code == 303
        overview = client.get("/")
        assert overview.status_code == 200
        links = _fields(overview.text).links
        assert "/models/churn" in links and "/models/fraud" not in links
        counts = re.findall(r'<div class="n">([\d,]+)</div><div class="l">([^<]+)', overview.text)
        assert ("1", "models") in counts and ("1", "versions") in counts
        assert ("3", "runs in 1 experiments") in counts and ("0", "open alerts") in counts
        assert "train-v2" not in overview.text and "sweep-0" in overview.text
        assert world.monitor.alerts()
        shown = client.get("/alerts").text
        for alert in world.monitor.alerts():
            assert html.escape(alert.message) not in overview.text + shown
        for path in (
            "/models/fraud",
            "/models/fraud/versions/2",
            "/models/fraud/features/amount",
            f"/runs/{world.run_id}",
            "/runs?experiment=fraud",
        ):
            denied = client.get(path)
            assert denied.status_code == 403, path
            assert "may not read" in denied.text and "user:bo" in denied.text
        runs = client.get("/runs")
        assert runs.status_code == 200
        assert "sweep-0" in runs.text and "train-v2" not in runs.text
        assert '<option value="fraud"' not in runs.text
        assert client.get("/models/churn/versions/1").status_code == 200
    with httpx.Client(base_url=dashboard, timeout=60) as client:
        assert _sign_in(client, tokens["fraud"].secret).status_code == 303
        overview = client.get("/")
        links = _fields(overview.text).links
        assert "/models/fraud" in links and "/models/churn" not in links
        alerts = client.get("/alerts").text
        for alert in world.monitor.alerts():
            assert html.escape(alert.message) in alerts
        assert client.get("/models/churn").status_code == 403
        assert client.get(f"/runs/{world.run_id}").status_code == 200


def test_moving_an_alias_needs_the_csrf_value_and_the_promote_scope(world, dashboard, tokens):
    reg = world.registry
    before = reg.get_model_version("fraud", "champion").version
    with httpx.Client(base_url=dashboard, timeout=60) as client:
        assert _sign_in(client, tokens["fraud"].secret).status_code == 303
        page = client.get("/models/fraud/versions/1")
        fields = _fields(page.text)
        assert "/models/fraud/versions/1/alias" in fields.forms
        csrf = fields.inputs["csrf"]
        action = "/models/fraud/versions/1/alias"
        # a form from another site has no CSRF value (and a browser sends no cookie with it)
        for data in ({"alias": "champion"}, {"alias": "champion", "csrf": csrf[:-1]}):
            forged = client.post(action, data=data, follow_redirects=False)
            assert forged.status_code == 403 and "does not match" in forged.text
        assert reg.get_model_version("fraud", "champion").version == before
        bad = client.post(action, data={"alias": "9lives", "csrf": csrf}, follow_redirects=False)
        assert bad.status_code == 400 and "invalid alias" in bad.text
        moved = client.post(
            action,
            data={"alias": "champion", "reason": "rolled back by hand", "csrf": csrf},
            follow_redirects=False,
        )
        assert moved.status_code == 303 and moved.headers["location"] == "/models/fraud/versions/1"
        assert client.get("/models/churn/versions/1").status_code == 403
    assert reg.get_model_version("fraud", "champion").version == 1
    last = reg.alias_history("fraud", "champion")[-1]
    assert (last.actor, last.reason, last.previous_version) == (
        "user:ana",
        "rolled back by hand",
        before,
    )
    # a reader of churn may not move fraud's aliases, nor churn's (no promote scope)
    with httpx.Client(base_url=dashboard, timeout=60) as client:
        assert _sign_in(client, tokens["churn"].secret).status_code == 303
        page = client.get("/models/churn/versions/1")
        assert "/alias" not in " ".join(_fields(page.text).forms)
        csrf = _fields(page.text).inputs["csrf"]  # the sign-out form's
        for name in ("fraud", "churn"):
            refused = client.post(
                f"/models/{name}/versions/1/alias", data={"alias": "champion", "csrf": csrf}
            )
            assert refused.status_code == 403 and f"promote:models/{name}" in refused.text
    assert len(reg.alias_history("fraud", "champion")) == len(
        [e for e in reg.alias_history("fraud") if e.alias == "champion"]
    )
    assert reg.get_model_version("fraud", "champion").version == 1


def test_acknowledging_an_alert_needs_the_csrf_value_and_the_write_scope(world, dashboard):
    from seawall.monitoring._store import HistoryStore

    reg = world.registry
    store = HistoryStore(reg)
    firing = store.alerts("fraud", open=True)
    assert len(firing) >= 2 and all(a.acknowledged_at is None for a in firing)
    target, scripted = firing[0], firing[1]
    action = f"/alerts/{target.id}/acknowledge"
    scopes = ["read:models/fraud", "read:experiments/f*"]
    reader = reg.create_token("di", kind="user", team="fraud", scopes=scopes)
    on_call = reg.create_token(
        "cy", kind="user", team="fraud", scopes=[*scopes, "write:models/fraud"]
    )
    assert httpx.post(dashboard + action, data={"model": "fraud"}).status_code == 401
    # a reader sees no form, and its post is 403
    with httpx.Client(base_url=dashboard, timeout=60) as client:
        assert _sign_in(client, reader.secret).status_code == 303
        page = _fields(client.get("/alerts").text)
        assert action not in page.forms
        refused = client.post(action, data={"model": "fraud", "csrf": page.inputs["csrf"]})
        assert refused.status_code == 403 and "write:models/fraud" in refused.text
    with httpx.Client(base_url=dashboard, timeout=60) as client:
        assert _sign_in(client, on_call.secret).status_code == 303
        page = _fields(client.get("/alerts").text)
        assert action in page.forms and page.inputs["next"] == "/alerts"
        csrf = page.inputs["csrf"]
        # a form from another site has no CSRF value (and a browser sends no cookie with it)
        for data in ({"model": "fraud"}, {"model": "fraud", "csrf": csrf[:-1]}):
            forged = client.post(action, data=data, follow_redirects=False)
            assert forged.status_code == 403 and "does not match" in forged.text
        assert all(a.acknowledged_at is None for a in store.alerts("fraud"))
        wrong = client.post(action, data={"model": "churn", "csrf": csrf})
        assert wrong.status_code == 403  # churn's write scope, which it lacks, comes first
        done = client.post(
            action, data={"model": "fraud", "csrf": csrf, "next": "/alerts"}, follow_redirects=False
        )
        assert done.status_code == 303 and done.headers["location"] == "/alerts"
        shown = client.get("/alerts").text
        assert action not in _fields(shown).forms and "by user:cy" in shown
        assert f"/alerts/{scripted.id}/acknowledge" in _fields(shown).forms
        # the model's page shows it too
        assert "by user:cy" in client.get("/models/fraud").text
    # a script with a Bearer token needs no CSRF value (no browser sends one on its own)
    scripted_answer = httpx.post(
        dashboard + f"/alerts/{scripted.id}/acknowledge",
        data={"model": "fraud", "next": "//elsewhere.example/"},
        headers={"authorization": f"Bearer {on_call.secret}"},
        follow_redirects=False,
    )
    assert scripted_answer.status_code == 303 and scripted_answer.headers["location"] == "/"
    by_id = {a.id: a for a in store.alerts("fraud")}
    assert by_id[target.id].acknowledged_by == by_id[scripted.id].acknowledged_by == "user:cy"
    assert all(
        a.acknowledged_at is None for i, a in by_id.items() if i not in (target.id, scripted.id)
    )


def test_revoking_the_token_ends_its_sessions_within_a_second(world, dashboard, tokens):
    with httpx.Client(base_url=dashboard, timeout=60) as client:
        assert _sign_in(client, tokens["fraud"].secret).status_code == 303
        assert client.get("/").status_code == 200
        world.registry.revoke_token(tokens["fraud"].info.id)
        time.sleep(1.0)
        ended = client.get("/", follow_redirects=False)
        assert ended.status_code == 303 and ended.headers["location"].startswith("/signin")
        assert "seawall_session=;" in ended.headers["set-cookie"]


def test_a_tampered_or_foreign_cookie_is_no_session(world, tokens):
    app = create_dashboard_app(world.registry, auth=world.registry, session_key=b"k" * 32)
    other = create_dashboard_app(world.registry, auth=world.registry, session_key=b"o" * 32)
    with helpers.running(app) as url, helpers.running(other) as other_url:
        with httpx.Client(base_url=url, timeout=60) as client:
            _sign_in(client, tokens["fraud"].secret)
            cookie = client.cookies["seawall_session"]
            assert client.get("/", follow_redirects=False).status_code == 200
            payload, mac = cookie.split(".")
            for forged in (
                payload + "." + mac[:-2] + "AA",
                payload[:-2] + "AA." + mac,
                "x",
                "",
                cookie + ".x",
            ):
                client.cookies.set("seawall_session", forged)
                assert client.get("/", follow_redirects=False).status_code == 303
        # the same cookie on a server with another key: no session there
        with httpx.Client(base_url=other_url, timeout=60) as client:
            client.cookies.set("seawall_session", cookie)
            assert client.get("/", follow_redirects=False).status_code == 303


def test_signing_out_ends_the_session(dashboard, tokens):
    with httpx.Client(base_url=dashboard, timeout=60) as client:
        _sign_in(client, tokens["churn"].secret)
        page = client.get("/")
        csrf = _fields(page.text).inputs["csrf"]
        assert client.post("/signout", data={}).status_code == 403  # no CSRF value
        out = client.post("/signout", data={"csrf": csrf}, follow_redirects=False)
        assert out.status_code == 303 and out.headers["location"] == "/signin"
        assert client.get("/", follow_redirects=False).status_code == 303


def test_a_bearer_token_reads_without_a_session(world, dashboard, tokens):
    bearer = {"authorization": f"Bearer {tokens['churn'].secret}"}
    assert httpx.get(dashboard + "/models/churn", headers=bearer).status_code == 200
    assert httpx.get(dashboard + "/models/fraud", headers=bearer).status_code == 403
    bad = httpx.get(dashboard + "/", headers={"authorization": "Bearer swt_x"})
    assert bad.status_code == 401


def test_without_auth_the_dashboard_is_open_and_read_only(world):
    app = create_dashboard_app(world.registry, [world.monitor])
    with helpers.running(app) as url:
        assert httpx.get(url + "/models/fraud").status_code == 200
        assert httpx.get(url + "/signin").status_code == 404
        moved = httpx.post(url + "/models/fraud/versions/1/alias", data={"alias": "champion"})
        assert moved.status_code in (404, 405)
        assert "/alias" not in httpx.get(url + "/models/fraud/versions/1").text
        (alert, *_) = world.monitor.alerts()
        acknowledged = httpx.post(url + f"/alerts/{alert.id}/acknowledge", data={"model": "fraud"})
        assert acknowledged.status_code in (404, 405)
        assert "/acknowledge" not in httpx.get(url + "/alerts").text
    assert world.registry.get_model_version("fraud", "champion").version == 2


def test_seawall_ui_signs_in_over_tls(world, tmp_path):
    from local_servers import seawall_command
    from tls_helpers import self_signed

    cert, key = self_signed(tmp_path)
    token = world.registry.create_token("ana", kind="user", team="fraud", scopes=["read:models/*"])
    db = world.registry._db.engine.url.database
    context = ssl.create_default_context(cafile=str(cert))
    args = ["--registry", db, "--auth", "registry", "--ssl-certfile", str(cert)]
    with seawall_command(
        "ui", *args, "--ssl-keyfile", str(key), ready="/signin", context=context
    ) as (
        url,
        output,
    ):
        with httpx.Client(base_url=url, verify=context, timeout=60) as client:
            assert client.get("/", follow_redirects=False).status_code == 303
            signed = _sign_in(client, token.secret)
            assert signed.status_code == 303
            session = [c for c in signed.headers.get_list("set-cookie") if "seawall_session" in c]
            assert "Secure" in session[0] and "HttpOnly" in session[0]
            assert client.get("/").status_code == 200
    assert token.secret.split("_", 3)[3] not in output[0]
