"""Principals and tokens in the registry, on SQLite and PostgreSQL: a token is shown once and stored
as a digest only; it authenticates to its principal and scopes until it expires or is revoked;
malformed, unknown and foreign tokens are told apart by type; no secret reaches a log or a
listing; and the registry records the principal it acts for on runs, versions and alias moves."""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import json
import logging
import string
import threading
import time

import numpy as np
import pytest
from click.testing import CliRunner
from sqlalchemy import MetaData, select

from local_servers import local_of, open_registry
from seawall._server import tokens as tk
from seawall.errors import (
    AccessDeniedError,
    AuthenticationError,
    InvalidInputError,
    NotFoundError,
    TokenExpiredError,
    TokenForeignError,
    TokenMalformedError,
    TokenRevokedError,
    TokenUnknownError,
)
from seawall.registry import Registry
from seawall.registry._schema import tokens as tokens_table

SCOPES = ["write:experiments/fraud*", "promote:models/fraud"]


def _oracle_digest(token: str) -> str:
    return hmac.new(b"seawall token v1", token.encode(), hashlib.sha256).hexdigest()


def _all_stored_text(reg) -> str:
    """Every value of every table, as text."""
    meta = MetaData()
    meta.reflect(reg._db.engine)
    parts = []
    with reg._db.engine.connect() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(select(table)):
                parts.append(repr(tuple(row)))
    return "\n".join(parts)


def test_a_token_is_shown_once_and_stored_as_its_digest_only(reg):
    new = reg.create_token("ci-pipeline", team="fraud", scopes=SCOPES, expires_in=90 * 86400)
    secret = new.secret
    local = local_of(reg)  # (through a server: its database)
    issuer, token_id, random_part = secret[4:].split("_", 2)
    assert (issuer, token_id) == (local.token_issuer, new.info.id)
    assert len(random_part) == 43  # 256 bits, base64
    assert secret not in repr(new) and secret not in str(new)
    with local._db.engine.connect() as conn:
        rows = conn.execute(select(tokens_table)).all()
    assert len(rows) == 1
    assert rows[0].digest == _oracle_digest(secret)
    assert rows[0].token_id == token_id
    stored = _all_stored_text(local)
    assert random_part not in stored and secret not in stored
    assert reg.principals()[0].name == "ci-pipeline"
    assert (reg.principals()[0].kind, reg.principals()[0].team) == ("service", "fraud")
    # listed, never with the secret
    (listed,) = reg.tokens()
    assert listed == new.info and random_part not in repr(listed)
    assert listed.scopes == tuple(SCOPES) and listed.state() == "active"


def test_a_token_authenticates_to_its_principal_and_scopes(reg):
    new = reg.create_token("ana", kind="user", team="fraud", scopes=["read:models/*", *SCOPES])
    p = reg.authenticate(new.secret)
    assert (p.name, p.kind, p.team, p.token_id) == ("ana", "user", "fraud", new.info.id)
    assert p.actor == "user:ana"
    assert [str(s) for s in p.scopes] == ["read:models/*", *SCOPES]
    assert p.can("write", "experiments/fraud-2026") and p.can("read", "experiments/fraud")
    assert not p.can("write", "experiments/churn") and not p.can("admin", "experiments/fraud")
    assert p.can("promote", "models/fraud") and not p.can("promote", "models/fraud2")
    assert p.can("read", "models/*") and not p.can("write", "models/fraud")
    with pytest.raises(AccessDeniedError, match="write:models/fraud") as denied:
        p.require("write", "models/fraud")
    assert denied.value.needed == "write:models/fraud"
    assert isinstance(denied.value, PermissionError)
    # the token with whitespace around it, as pasted, still works
    assert reg.authenticate(f"  {new.secret}\n").token_id == new.info.id


def test_a_principal_belongs_to_one_team(reg):
    reg.create_token("ci", team="fraud", scopes=["read:models/fraud"])
    with pytest.raises(InvalidInputError, match="team 'fraud'"):
        reg.create_token("ci", team="churn", scopes=["read:models/churn"])
    with pytest.raises(InvalidInputError, match="already a service"):
        reg.create_token("ci", kind="user", team="fraud", scopes=["read:models/fraud"])
    assert len(reg.tokens()) == 1
    assert reg.create_principal("ci", team="fraud").name == "ci"
    reg.create_principal("bo", kind="user", team="churn")
    assert [p.name for p in reg.principals(team="churn")] == ["bo"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"scopes": []}, "at least one scope"),
        ({"scopes": ["read:models"]}, "invalid scope"),
        ({"scopes": ["delete:models/x"]}, "invalid scope"),
        ({"scopes": ["read:datasets/x"]}, "invalid scope"),
        ({"scopes": ["read:models/a b"]}, "invalid scope"),
        ({"scopes": [3]}, "must be a string"),
        ({"team": "a/b"}, "invalid team name"),
        ({"kind": "robot"}, "user or a service"),
        ({"expires_in": 0}, "expires_in"),
        ({"expires_in": float("nan")}, "expires_in"),
        ({"expires_in": float("inf")}, "expires_in"),
        ({"rate_limit": -1}, "rate_limit"),
        ({"rate_limit": float("nan")}, "rate_limit"),
        ({"description": 5}, "description"),
    ],
)
def test_bad_token_requests_are_typed_errors_and_store_nothing(reg, arguments, message):
    kwargs = {"team": "fraud", "scopes": ["read:models/fraud"], **arguments}
    with pytest.raises(InvalidInputError, match=message):
        reg.create_token("ci", **kwargs)
    assert reg.tokens() == [] and reg.principals() == []


def test_expired_revoked_unknown_malformed_and_foreign_tokens_are_told_apart(
    reg, tmp_path, monkeypatch, seed
):
    live = reg.create_token("ci", team="fraud", scopes=SCOPES, expires_in=60)
    revoked = reg.create_token("ci", team="fraud", scopes=SCOPES)
    first = reg.revoke_token(revoked.info.id)
    assert first.revoked_at is not None and first.state() == "revoked"
    assert reg.revoke_token(revoked.info.id).revoked_at == first.revoked_at  # kept
    with pytest.raises(TokenRevokedError, match=revoked.info.id):
        reg.authenticate(revoked.secret)
    # expired: the same token a minute and a second later
    now = time.time()
    monkeypatch.setattr(tk.time, "time", lambda: now + 61)
    with pytest.raises(TokenExpiredError, match=live.info.id):
        reg.authenticate(live.secret)
    assert reg.tokens()[0].state() == "expired"
    monkeypatch.undo()
    assert reg.authenticate(live.secret).name == "ci"
    # unknown: this issuer, another id or another secret
    rng = np.random.default_rng(seed)
    other_id = "".join(rng.choice(list("0123456789abcdef"), 12))
    forged = live.secret[:13] + other_id + live.secret[25:]
    with pytest.raises(TokenUnknownError):
        reg.authenticate(forged)
    flip = live.secret[-1]
    tampered = live.secret[:-1] + ("A" if flip != "A" else "B")
    with pytest.raises(TokenUnknownError) as unknown:
        reg.authenticate(tampered)
    assert type(unknown.value) is TokenUnknownError  # not "revoked" nor "expired": no oracle
    # foreign: another registry's, and a token file's
    other = Registry(tmp_path / "other.db", artifacts=tmp_path / "other-artifacts")
    theirs = other.create_token("ci", team="fraud", scopes=SCOPES)
    with pytest.raises(TokenForeignError, match="another registry"):
        reg.authenticate(theirs.secret)
    with pytest.raises(TokenForeignError):
        other.authenticate(live.secret)
    other.close()
    from_file = tk.TokenFile(tmp_path / "tokens.json", create=True).create_token(
        "ci", team="fraud", scopes=SCOPES
    )
    with pytest.raises(TokenForeignError):
        reg.authenticate(from_file.secret)
    # malformed, whatever comes
    for text in _malformed(live.secret, rng):
        with pytest.raises(TokenMalformedError) as bad:
            reg.authenticate(text)
        assert isinstance(bad.value, AuthenticationError) and isinstance(bad.value, PermissionError)
        if isinstance(text, str) and len(text) > 8:
            assert text not in str(bad.value)
    # no id to revoke
    with pytest.raises(NotFoundError):
        reg.revoke_token(other_id)
    with pytest.raises(InvalidInputError):
        reg.revoke_token("not-an-id")


def _malformed(secret: str, rng: np.random.Generator) -> list:
    alphabet = list(string.printable + "é€\x00")
    return [
        "",
        " ",
        None,
        42,
        b"swt_" + secret[4:].encode(),
        secret[:-1],  # cut short
        secret + "x",
        secret.replace("swt_", "sk_"),
        "Bearer " + secret,
        secret.upper(),
        secret[:20] + "é" + secret[21:],
        *("".join(rng.choice(alphabet, int(rng.integers(1, 90)))) for _ in range(20)),
    ]


def test_secrets_never_reach_the_logs(reg, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    new = reg.create_token("ci", team="fraud", scopes=SCOPES)
    reg.authenticate(new.secret)
    for attempt in (new.secret[:-2] + "zz", new.secret + "!", new.secret):
        try:
            reg.authenticate(attempt)
        except AuthenticationError as exc:
            logging.getLogger("seawall.test").warning("refused: %s", exc)
    reg.revoke_token(new.info.id)
    with pytest.raises(TokenRevokedError) as revoked:
        reg.authenticate(new.secret)
    logging.getLogger("seawall.test").warning("refused: %s", revoked.value)
    local_of(reg).export_tokens(tmp_path / "export.json")  # (where the database is)
    secret_part = new.secret.split("_", 3)[3]
    assert caplog.records  # something was logged
    assert secret_part not in caplog.text
    assert secret_part not in (tmp_path / "export.json").read_text()


def test_scopes_allow_what_fnmatch_and_the_action_order_say(seed):
    """can() against an independent reading of the rules: fnmatch on the name, and admin >
    write, promote > read."""
    rng = np.random.default_rng(seed)
    names = ["fraud", "fraud-2", "fraudx", "churn", "a.b", "x_1", "F", "fr"]
    patterns = ["fraud", "fraud*", "*", "fr?ud", "[fc]*", "*-2", "churn", "[!f]*", "F"]
    implied = {
        "read": {"read"},
        "write": {"write", "read"},
        "promote": {"promote", "read"},
        "admin": {"read", "write", "promote", "admin"},
    }
    for _ in range(200):
        scopes = [
            f"{rng.choice(tk.ACTIONS)}:{rng.choice(tk.KINDS)}/{rng.choice(patterns)}"
            for _ in range(int(rng.integers(1, 4)))
        ]
        p = tk.Principal("p", "service", "t", tuple(tk.Scope.parse(s) for s in scopes))
        for _ in range(10):
            action, kind = str(rng.choice(tk.ACTIONS)), str(rng.choice(tk.KINDS))
            name = str(rng.choice([*names, "*"]))
            expected = False
            for s in scopes:
                s_action, rest = s.split(":")
                s_kind, pattern = rest.split("/")
                matched = pattern == "*" if name == "*" else fnmatch.fnmatchcase(name, pattern)
                expected |= s_kind == kind and action in implied[s_action] and matched
            assert p.can(action, f"{kind}/{name}") == expected, (scopes, action, kind, name)
    with pytest.raises(InvalidInputError):
        p.can("delete", "models/x")
    with pytest.raises(InvalidInputError):
        p.can("read", "datasets/x")
    assert not tk.can(None, "read", "models/x")


def test_the_actor_is_the_principal_the_registry_acts_for(reg, tmp_path):
    from seawall.registry._actor import os_login

    bundle = _bundle(tmp_path)
    ci = reg.authenticate(reg.create_token("ci", team="fraud", scopes=SCOPES).secret)
    login = os_login()
    assert reg.actor == login
    with reg.start_run(experiment="fraud") as mine:
        pass
    reg.register_model("fraud", bundle)
    reg.set_alias("fraud", "champion", 1)
    with reg.acting_as(ci):
        assert reg.actor == "service:ci"
        with reg.start_run(experiment="fraud") as theirs:
            pass
        v2 = reg.register_model("fraud", bundle, run=theirs)
        reg.set_alias("fraud", "champion", 2, reason="better")
        reg.delete_alias("fraud", "champion")
    with reg.acting_as("nightly-job"):
        reg.set_alias("fraud", "champion", 1)
    assert reg.actor == login
    assert reg.get_run(mine.id).actor == login and mine.actor == login
    assert reg.get_run(theirs.id).actor == "service:ci" and theirs.actor == "service:ci"
    assert v2.actor == "service:ci"
    assert reg.get_model_version("fraud", 2).actor == "service:ci"
    assert reg.get_model_version("fraud", 1).actor == login
    assert [e.actor for e in reg.alias_history("fraud")] == [
        login,
        "service:ci",
        "service:ci",
        "nightly-job",
    ]
    assert [r.actor for r in reg.search_runs("fraud", order_by=["attributes.start_time"])] == [
        login,
        "service:ci",
    ]
    for bad in ("", "x" * 129, 3, "tab\there"):
        with pytest.raises(InvalidInputError):
            with reg.acting_as(bad):
                pass


def test_each_thread_and_each_registry_records_its_own_actor(reg, tmp_path):
    other = Registry(tmp_path / "other.db", artifacts=tmp_path / "other-artifacts")
    barrier = threading.Barrier(4)
    found: dict[str, list[str | None]] = {}

    def work(name: str) -> None:
        with reg.acting_as(name):
            barrier.wait()  # every thread is inside its block at once
            runs = [reg.start_run(experiment="e") for _ in range(3)]
            other_run = other.start_run(experiment="e")  # not told: the OS login
            for r in runs:
                r.end()
            other_run.end()
            found[name] = [reg.get_run(r.id).actor for r in runs] + [
                other.get_run(other_run.id).actor
            ]

    threads = [threading.Thread(target=work, args=(f"user:{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    from seawall.registry._actor import os_login

    assert found == {f"user:{i}": [f"user:{i}"] * 3 + [os_login()] for i in range(4)}
    other.close()


def _bundle(tmp_path):
    from sklearn.linear_model import LogisticRegression

    from seawall.serving import save_bundle

    x = np.arange(20, dtype=np.float32).reshape(10, 2)
    model = LogisticRegression().fit(x, np.arange(10) % 2)
    return save_bundle(tmp_path / "bundle", python_model=model, example=x[:2], name="fraud")


def test_the_tokens_command_prints_the_secret_once_and_lists_none(registry_uri, tmp_path):
    from seawall.cli import main

    open_registry(registry_uri, tmp_path / "a").close()
    base = ["--registry", registry_uri]
    if not registry_uri.startswith("http"):  # (a server keeps its own artifacts)
        base += ["--artifacts", str(tmp_path / "a")]
    runner = CliRunner()
    made = runner.invoke(
        main,
        [
            "tokens",
            "create",
            "--service",
            "ci-pipeline",
            "--team",
            "fraud",
            "--scope",
            "write:experiments/fraud*",
            "--scope",
            "promote:models/fraud",
            "--expires",
            "90d",
            *base,
        ],
    )
    assert made.exit_code == 0, made.output
    secret = made.stdout.strip()
    assert secret.startswith("swt_") and "Store it now" in made.stderr
    reg = open_registry(registry_uri, tmp_path / "a")
    (info,) = reg.tokens()
    assert info.expires_at == pytest.approx(info.created_at + 90 * 86400)
    assert reg.authenticate(secret).name == "ci-pipeline"
    for args in (["list"], ["list", "--json"], ["list", "--all"]):
        listed = runner.invoke(main, ["tokens", *args, *base])
        assert listed.exit_code == 0, listed.output
        assert info.id in listed.output and "ci-pipeline" in listed.output
        assert secret.split("_", 3)[3] not in listed.output
    rows = json.loads(runner.invoke(main, ["tokens", "list", "--json", *base]).stdout)
    assert rows[0]["scopes"] == ["write:experiments/fraud*", "promote:models/fraud"]
    assert rows[0]["state"] == "active"
    user = runner.invoke(
        main,
        [
            *("tokens", "create", "--user", "ana", "--team", "fraud"),
            *("--scope", "read:models/*", "--expires", "never", *base),
        ],
    )
    assert user.exit_code == 0, user.output
    assert reg.authenticate(user.stdout.strip()).actor == "user:ana"
    revoked = runner.invoke(main, ["tokens", "revoke", info.id, *base])
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    with pytest.raises(TokenRevokedError):
        reg.authenticate(secret)
    assert "ci-pipeline" not in runner.invoke(main, ["tokens", "list", *base]).output
    assert "revoked" in runner.invoke(main, ["tokens", "list", "--all", *base]).output
    for bad, message in (
        (["create", "--team", "t", "--scope", "read:models/x"], "--service NAME or --user"),
        (
            ["create", "--service", "s", "--user", "u", "--team", "t", "--scope", "read:models/x"],
            "--service NAME or --user",
        ),
        (["create", "--service", "s", "--team", "t", "--scope", "rd:models/x"], "invalid scope"),
        (
            [
                "create",
                "--service",
                "s",
                "--team",
                "t",
                "--scope",
                "read:models/x",
                "--expires",
                "soon",
            ],
            "invalid duration",
        ),
        (["revoke", "0123456789ab"], "no token"),
    ):
        result = runner.invoke(main, ["tokens", *bad, *base])
        assert result.exit_code != 0 and message in result.output, (bad, result.output)
        assert "Traceback" not in result.output
    reg.close()


def test_a_token_file_works_like_the_registry(tmp_path, monkeypatch):
    from seawall.cli import main

    path = tmp_path / "tokens.json"
    runner = CliRunner()
    made = runner.invoke(
        main,
        [
            *("tokens", "create", "--file", str(path), "--service", "edge", "--team", "fraud"),
            *("--scope", "read:models/fraud", "--rate-limit", "5"),
        ],
    )
    assert made.exit_code == 0, made.output
    secret = made.stdout.strip()
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert secret.split("_", 3)[3] not in path.read_text()
    assert _oracle_digest(secret) in path.read_text()
    tokens = tk.TokenFile(path, reload_s=0)
    p = tokens.authenticate(secret)
    assert (p.actor, p.rate_limit) == ("service:edge", 5.0)
    assert tokens.principal_for(p.token_id or "") == p
    info = tokens.tokens()[0]
    assert runner.invoke(main, ["tokens", "revoke", info.id, "--file", str(path)]).exit_code == 0
    with pytest.raises(TokenRevokedError):
        tokens.authenticate(secret)  # the file changed under it: read again
    for text, error in (
        ("{", "not JSON"),
        ('{"format": "other"}', "not a seawall token file"),
        ('{"format": "seawall-tokens", "version": 9}', "version 9"),
        ('{"format": "seawall-tokens", "version": 1, "issuer": "zz", "tokens": []}', "issuer"),
        (
            '{"format": "seawall-tokens", "version": 1, "issuer": "0011aabb", "tokens": [{}]}',
            "not valid",
        ),
    ):
        bad = tmp_path / "bad.json"
        bad.write_text(text)
        with pytest.raises(Exception, match=error) as raised:
            tk.TokenFile(bad)
        assert isinstance(raised.value, ValueError)
    with pytest.raises(NotFoundError):
        tk.TokenFile(tmp_path / "missing.json")


@pytest.mark.local_registry("the digests are exported where the database is")
def test_export_writes_the_registry_tokens_hashed(reg, tmp_path):
    new = reg.create_token("ci", team="fraud", scopes=SCOPES)
    gone = reg.create_token("old", team="fraud", scopes=["read:models/fraud"])
    reg.revoke_token(gone.info.id)
    assert reg.export_tokens(tmp_path / "t.json") == 2
    exported = tk.TokenFile(tmp_path / "t.json")
    assert exported.issuer == reg.token_issuer
    assert exported.authenticate(new.secret) == reg.authenticate(new.secret)
    with pytest.raises(TokenRevokedError):
        exported.authenticate(gone.secret)
    assert new.secret.split("_", 3)[3] not in (tmp_path / "t.json").read_text()


@pytest.mark.local_registry("the digests are exported where the database is")
def test_an_empty_registry_exports_nothing(reg, tmp_path):
    with pytest.raises(NotFoundError, match="no token"):
        reg.export_tokens(tmp_path / "t.json")
    assert not (tmp_path / "t.json").exists()
    with pytest.raises(TokenForeignError):
        reg.authenticate("swt_0011aabb_0123456789ab_" + "A" * 43)
