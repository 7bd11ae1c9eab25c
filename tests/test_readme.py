"""README.md is part of the test suite: every code block in it runs here, in the order a reader
meets them, so that the README cannot drift away from the code.

Python blocks share one namespace, as in one interpreter session; shell blocks run in bash. All
of them run in one scratch folder with a private ``SEAWALL_HOME``, so a later block sees what an
earlier one wrote (a bundle, a registry). In shell blocks:

- the set-up steps of the two fresh-machine commands (make a virtualenv, activate it,
  ``pip install``) are left to CI, which runs both commands exactly as written (``.ci/run``);
  the rest of each command runs here, except ``python -m pytest``, which is this very suite;
- a ``seawall serve``, ``seawall ui`` or ``seawall server`` line starts the server in the
  background and waits until it answers; the README's port 8000 (the model server's) and 5000
  (the registry server's) are replaced by free ports everywhere, in Python blocks too;
- ``curl`` fails on an HTTP error status, so an example that answers 4xx or 5xx fails here.
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
README_PORT = "8000"
REGISTRY_PORT = "5000"  # `seawall server`'s, beside a model server's
# Blocks in other languages would be prose to this test: refuse them, so none is left untested.
RUNNABLE = {"python", "bash"}
# Set-up steps of the fresh-machine commands: CI runs them as written (see .ci/run).
SETUP_STEP = re.compile(r"^(python3? -m venv |\. \S+/bin/activate$|pip install )")
SERVER_LINE = re.compile(r"^seawall (serve|ui|server)\b")
# Shell blocks run in another folder: a relative PYTHONPATH (a developer's checkout) must still
# point where it pointed when the suite started.
PYTHONPATH = os.pathsep.join(
    str(Path(p).absolute()) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p
)


@dataclass(frozen=True)
class Block:
    lang: str
    line: int  # the line of the opening fence, 1-based
    code: str
    marker: str | None  # an HTML comment right above the block, e.g. "demo-command"

    @property
    def id(self) -> str:
        return f"{self.lang}-line-{self.line}"


def read_blocks(text: str) -> list[Block]:
    """The fenced code blocks of a Markdown text, with the marker comment above each."""
    blocks: list[Block] = []
    lines = text.splitlines()
    number = 0
    while number < len(lines):
        line = lines[number]
        if line.startswith("```"):
            lang = line[3:].strip()
            start = number + 1
            end = next((i for i in range(start, len(lines)) if lines[i].strip() == "```"), None)
            if end is None:
                raise AssertionError(f"README.md:{start}: the code block is never closed")
            above = lines[number - 1].strip() if number else ""
            marker = above[4:-3].strip() if above.startswith("<!--") else None
            blocks.append(Block(lang, start, "\n".join(lines[start:end]) + "\n", marker))
            number = end
        number += 1
    return blocks


BLOCKS = read_blocks(README.read_text(encoding="utf-8"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Session:
    """What the blocks share: the folder, the Python namespace, the servers started."""

    folder: Path
    home: Path
    port: int
    registry_port: int = field(default_factory=lambda: free_port())
    namespace: dict[str, Any] = field(default_factory=lambda: {"__name__": "__readme__"})
    servers: list[int] = field(default_factory=list)  # process ids

    def env(self) -> dict[str, str]:
        env = dict(os.environ, SEAWALL_HOME=str(self.home))
        for name in ("SEAWALL_REGISTRY_URI", "SEAWALL_ARTIFACTS_URI"):
            env.pop(name, None)
        if PYTHONPATH:
            env["PYTHONPATH"] = PYTHONPATH
        # The `seawall` and `python` of this test's interpreter come first.
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        return env

    def stop_servers(self) -> None:
        for pid in self.servers:
            _stop(pid)


def _stop(pid: int) -> None:
    """SIGTERM (uvicorn shuts down cleanly), then SIGKILL after 20 s."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    s = Session(
        tmp_path_factory.mktemp("readme"), tmp_path_factory.mktemp("readme-home"), free_port()
    )
    yield s
    s.stop_servers()


@pytest.fixture(autouse=True)
def seawall_home(session: Session, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Overrides the suite's per-test home: the README's blocks share one."""
    for name, value in session.env().items():
        if os.environ.get(name) != value:
            monkeypatch.setenv(name, value)
    for name in ("SEAWALL_REGISTRY_URI", "SEAWALL_ARTIFACTS_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(session.folder)
    return session.home


def with_ports(code: str, port: int, registry_port: int) -> str:
    return code.replace(README_PORT, str(port)).replace(REGISTRY_PORT, str(registry_port))


def shell_script(block: Block, port: int, registry_port: int = 0) -> str:
    """The bash a shell block runs here (see the module docstring)."""
    lines = []
    for line in with_ports(block.code, port, registry_port).splitlines():
        stripped = line.strip()
        if block.marker in ("demo-command", "test-command"):
            steps = [s.strip() for s in stripped.split("&&")]
            steps = [s for s in steps if not SETUP_STEP.match(s) and s != "python -m pytest"]
            stripped = line = " && ".join(steps)
        if SERVER_LINE.match(stripped):
            command = stripped.split(" #", 1)[0].rstrip()
            lines.append(f"{command} >>server.log 2>&1 &")
            lines.append("echo $! >>server.pids")
            waited = registry_port if stripped.startswith("seawall server") else port
            lines.append(f"wait_until_up {waited}")
        else:
            lines.append(line)
    preamble = """
set -euo pipefail
curl() { command curl --fail-with-body --silent --show-error --max-time 60 "$@"; }
wait_until_up() {
  for _ in $(seq 600); do
    command curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0
    kill -0 "$(tail -n 1 server.pids)" 2>/dev/null || { cat server.log >&2; return 1; }
    sleep 0.1
  done
  echo "the server on port $1 did not answer within 60 s" >&2; return 1
}
"""
    return preamble + "\n".join(lines) + "\n"


def _close(a: Any, b: Any) -> bool:
    import numpy as np

    return bool(np.allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=1e-6))


# What the README's examples claim, checked as soon as a block has made the names involved:
# running is not enough (a loop that reports "failed" runs too).
CLAIMS: dict[str, Callable[[dict[str, Any]], bool]] = {
    # the one-row path gives the batch path's numbers
    "X": lambda ns: _close(
        ns["pipe"].transform_one({k: v[0] for k, v in ns["table"].to_pydict().items()}),
        ns["X"][0],
    ),
    # the shifted traffic drifts where the generator moved it
    "report": lambda ns: ns["report"]["amount"].drifted and ns["report"]["country"].drifted,
    "profile": lambda ns: ns["profile"].quantiles("amount", [0.5])[0] > 0,
    # the registered champion predicts what the bundle saved from the trained model predicts
    "champion": lambda ns: _close(
        ns["champion"].predict(ns["records"])["predict_proba"],
        ns["model"].predict_proba(ns["pipeline"].transform(pa.Table.from_pylist(ns["records"]))),
    ),
    # the batcher gives the model's own answers
    "y": lambda ns: _close(ns["y"], ns["model"].predict_proba(ns["x"])),
    # the loop's first version is champion, and the check decided something (not "failed")
    "decision": lambda ns: (
        ns["decision"].action in ("none", "promoted", "kept")
        and ns["reg"].get_model_version("churn", "champion").version >= 1
    ),
    # a traffic policy's answer names the arm and version that gave it
    "arm": lambda ns: ns["arm"] in {("primary", "1"), ("canary", "2")},
    # every request of the payload-logging example is written, with its id
    "payload_log": lambda ns: (
        ns["payload_log"].stats()["written"] == len(ns["records"])
        and sorted(set(pq.read_table("payloads").column("request_id").to_pylist()))
        == [f"tx-{i}" for i in range(len(ns["records"]))]
    ),
    # the contract catches the bad row of the batch, at its position; the label may be absent
    "check": lambda ns: (
        ns["check"].kinds() == {"out_of_range", "unexpected_string_values"}
        and ns["check"]["amount"][0].rows == (5000,)
        and ns["check"]["merchant"][0].values == (("merchant_999", 1),)
    ),
    "on_profile": lambda ns: ns["on_profile"].kinds() == ns["check"].kinds(),
    # the shifted countries are training-serving skew
    "skew": lambda ns: [(m.column, m.anomalous) for m in ns["skew"]] == [("country", True)],
    # a pipeline's second run of the same inputs executes nothing
    "again": lambda ns: bool(ns["result"].executed) and ns["again"].executed == [],
    # a model loaded on request serves its champion version, counted from its warm-up on
    "index": lambda ns: (
        {"name": "fraud", "version": "1", "state": "READY", "reason": ""} in ns["index"]
    ),
    "stats": lambda ns: (
        ns["stats"]["model_stats"][0]["name"] == "fraud"
        and ns["stats"]["model_stats"][0]["execution_count"] == 0
    ),
    # a purged run's artifact is garbage, and the run is in no search
    "garbage": lambda ns: (
        hashlib.sha256(b"logged by mistake").hexdigest() in ns["garbage"]
        and ns["scratch"].id not in {r.id for r in ns["reg"].search_runs(None)}
    ),
    # the team's registry server: CI's token is the actor; a model server and the dashboard
    # read through it with their own
    "team_move": lambda ns: ns["team_move"].actor == "service:ci-pipeline",
    "team_answer": lambda ns: (
        ns["team_answer"].status_code == 200
        and ns["team_answer"].json()["model_version"] == str(ns["shared"].version)
    ),
    "team_page": lambda ns: ns["team_page"] == 200,
    # a server that checks tokens: none is 401, a reader's is answered; the audit names CI
    "no_token": lambda ns: ns["no_token"] == 401,
    "allowed": lambda ns: ns["allowed"] == 200,
    "audit": lambda ns: (
        ns["audit"].actor == "service:ci-pipeline"
        and ns["reg"].alias_history("fraud", "champion")[-1].actor == "service:ci-pipeline"
    ),
}


def run_python(block: Block, session: Session) -> None:
    # Padding puts the code on its README line numbers, so a traceback points into README.md.
    source = "\n" * block.line + with_ports(block.code, session.port, session.registry_port)
    before = set(session.namespace)
    exec(compile(source, str(README), "exec"), session.namespace)
    for name in sorted(set(session.namespace) - before):
        claim = CLAIMS.get(name)
        holds = claim is None or claim(session.namespace)
        assert holds, f"README.md:{block.line}: {name!r} is not what the README says (see CLAIMS)"


def run_shell(block: Block, session: Session) -> None:
    script = shell_script(block, session.port, session.registry_port)
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=session.folder,
        env=session.env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    pids = session.folder / "server.pids"
    if pids.exists():
        session.servers = [int(pid) for pid in pids.read_text().split()]
    assert done.returncode == 0, (
        f"README.md:{block.line}: the shell block failed (exit {done.returncode})\n"
        f"--- script ---\n{script}\n--- stdout ---\n{done.stdout}\n--- stderr ---\n{done.stderr}"
    )


def test_every_block_is_python_or_bash() -> None:
    others = [
        f"README.md:{b.line} ({b.lang or 'no language'})" for b in BLOCKS if b.lang not in RUNNABLE
    ]
    assert not others, f"code blocks this test cannot run: {others}"


def test_ci_runs_both_fresh_machine_commands_as_written() -> None:
    """The set-up steps skipped here run in CI: .ci/run reads both commands out of README.md."""
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    markers = {b.marker for b in BLOCKS}
    for marker in ("demo-command", "test-command"):
        assert marker in markers, f"README.md has no block marked <!-- {marker} -->"
        assert f"readme_command {marker}" in ci, f".ci/run does not run the README's {marker}"


def test_every_claim_is_checked() -> None:
    """A claim whose name no block makes any more would silently check nothing."""
    made: set[str] = set()
    for block in BLOCKS:
        if block.lang == "python":
            made |= {n.id for n in ast.walk(ast.parse(block.code)) if isinstance(n, ast.Name)}
    assert set(CLAIMS) <= made, f"claims about names no block makes: {set(CLAIMS) - made}"


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_readme_block_runs(block: Block, session: Session) -> None:
    if block.lang == "python":
        run_python(block, session)
    else:
        run_shell(block, session)


def test_shell_script_rewrites(tmp_path: Path) -> None:
    """The rewriting this test relies on: set-up steps dropped, servers in the background."""
    block = Block(
        "bash",
        1,
        "python3 -m venv .venv && . .venv/bin/activate && pip install . && seawall demo\n",
        "demo-command",
    )
    script = shell_script(block, 1234)
    assert "seawall demo" in script and "pip install" not in script and "venv" not in script
    block = Block(
        "bash", 1, "seawall serve b --port 8000   # note\ncurl -s localhost:8000/\n", None
    )
    script = shell_script(block, 1234)
    assert "seawall serve b --port 1234 >>server.log 2>&1 &" in script
    assert "wait_until_up 1234" in script and "curl -s localhost:1234/" in script
    block = Block("bash", 1, "seawall server --registry r.db\ncurl -s localhost:5000/\n", None)
    script = shell_script(block, 1234, 4321)
    assert "seawall server --registry r.db >>server.log 2>&1 &" in script
    assert "wait_until_up 4321" in script and "curl -s localhost:4321/" in script
