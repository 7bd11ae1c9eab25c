"""What every server command shares (seawall serve, seawall ui): ports are range-checked, a
non-loopback address is warned about, access logs are off unless asked for. `seawall serve`'s own
runs (which need a bundle) are in tests/serving/test_server.py."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request

import pytest
from click.testing import CliRunner

from local_servers import seawall_command
from seawall._server.run import exposure_warning
from seawall.cli import main

COMMANDS = {"serve": ["serve", "some-bundle"], "ui": ["ui"]}
# Runs a command with uvicorn's server loop replaced by a no-op: the command does everything
# up to listening (and must not listen on another address than loopback in a test).
NOT_LISTENING = (
    "import sys, uvicorn; uvicorn.Server.run = lambda self, sockets=None: None; "
    "uvicorn.run = lambda *a, **k: None; "
    "from seawall.cli import main; sys.argv[0] = 'seawall'; main()"
)


@pytest.fixture
def no_server(monkeypatch):
    """uvicorn never listens in this process (a command that wrongly accepted its options would
    otherwise start serving and hang the test)."""
    import uvicorn

    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: None)
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: None)


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("port", ["-1", "65536", "70000", "99999999999"])
def test_ports_out_of_range_are_usage_errors(command, port, no_server):
    result = CliRunner().invoke(main, [*COMMANDS[command], "--port", port])
    assert result.exit_code == 2, result.output
    assert "0<=x<=65535" in result.output and "--port" in result.output


@pytest.mark.parametrize("command", list(COMMANDS))
def test_limit_options_are_checked(command, no_server):
    for args, message in (
        (["--max-connections", "0"], "x>=1"),
        (["--header-timeout", "0"], "x>0"),
        (["--body-timeout", "-2"], "x>0"),
        (["--max-body-bytes", "10", "--max-bytes-in-flight", "9"], "never be accepted"),
    ):
        result = CliRunner().invoke(main, [*COMMANDS[command], *args])
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output


def test_every_server_option_has_help():
    for command in COMMANDS:
        result = CliRunner().invoke(main, [command, "--help"])
        assert result.exit_code == 0
        cmd = main.commands[command]
        for param in cmd.params:
            if param.param_type_name == "option":
                assert param.help, (command, param.name)


def test_only_loopback_goes_without_a_warning():
    for host in ("127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "LOCALHOST"):
        assert exposure_warning(host, "seawall ui") is None, host
    for host in ("0.0.0.0", "::", "", "10.1.2.3", "192.168.0.7", "fe80::1", "example.com"):
        warning = exposure_warning(host, "seawall ui")
        assert warning is not None and "no authentication" in warning, host
        assert f"{host!r}" in warning and "seawall ui" in warning


def run_not_listening(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", NOT_LISTENING, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONWARNINGS": ""},
    )


@pytest.fixture
def default_registry(seawall_home):
    """`seawall ui` only reads: the registry it shows must exist."""
    import seawall

    seawall.Registry().close()


def test_seawall_ui_warns_on_stderr_when_not_on_loopback(default_registry):
    exposed = run_not_listening("ui", "--host", "0.0.0.0", "--port", "0", "--insecure")
    assert exposed.returncode == 0, exposed.stderr
    assert "WARNING" in exposed.stderr
    assert "seawall ui listens on '0.0.0.0', not on loopback" in exposed.stderr
    assert "no authentication" in exposed.stderr
    local = run_not_listening("ui", "--port", "0")
    assert local.returncode == 0, local.stderr
    assert "loopback" not in local.stderr + local.stdout


def ui_output(*extra: str) -> str:
    """Starts `seawall ui`, gets /runs, stops it; what it printed."""
    with seawall_command("ui", *extra) as (url, output):
        with urllib.request.urlopen(url + "/runs", timeout=30) as r:
            assert r.status == 200
    return output[0]


def test_access_logs_are_off_unless_asked_for(default_registry):
    assert '"GET /runs HTTP/1.1" 200' not in ui_output()
    assert '"GET /runs HTTP/1.1" 200' in ui_output("--access-log")
