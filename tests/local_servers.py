"""Servers the tests start on loopback, shared by the test folders that need them: a free port,
a seawall server command in a subprocess, a registry server in a thread, and a throwaway
PostgreSQL cluster (Debian's postgresql package; started as an unprivileged user
when the tests run as root, as CI does, since postgres refuses to run as root)."""

from __future__ import annotations

import contextlib
import glob
import http.server
import json
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def postgres_bin() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(folder, "initdb").exists() and Path(folder, "pg_ctl").exists():
            return Path(folder)
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def seawall_command(
    *args: str, ready: str = "/", context: ssl.SSLContext | None = None
) -> Iterator[tuple[str, list[str]]]:
    """Runs `seawall ARGS --port P` (serve, ui) on a free loopback port until the block ends,
    from when GET `ready` answers 200; yields its base URL and a list that holds, once the block
    has ended, everything the command printed (stdout and stderr). With an SSL `context` it
    speaks HTTPS to the command (which serves TLS)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", "from seawall.cli import main; main()", *args, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONWARNINGS": ""},
    )
    url = f"{'https' if context is not None else 'http'}://127.0.0.1:{port}"
    output: list[str] = []
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(url + ready, timeout=30, context=context) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise AssertionError(
                    f"seawall {args[0]} did not come up: " + process.communicate()[0].decode()
                )
            time.sleep(0.1)
        yield url, output
    finally:
        if process.poll() is None:
            process.terminate()
        output.append(process.communicate(timeout=30)[0].decode())


@contextlib.contextmanager
def registry_server(folder: Path, *, auth: Any = None, **limits: Any) -> Iterator[tuple[str, Any]]:
    """A registry server (``seawall server``'s app, uvicorn in a thread) on a free loopback port
    over a new SQLite registry in `folder`, under ``Limits(**limits)``; yields its URL and the
    registry behind it. ``auth=True`` checks tokens against that registry (``--auth
    registry``); a function of the registry, with the Authenticator it gives."""
    from seawall._server import Limits
    from seawall._server.run import serve_in_thread
    from seawall.registry import Registry
    from seawall.registry_server import create_registry_app

    folder.mkdir(parents=True, exist_ok=True)
    backing = Registry(f"sqlite:///{folder / 'registry.db'}", artifacts=folder / "artifacts")
    app = create_registry_app(backing, auth=backing if auth is True else auth and auth(backing))
    try:
        with serve_in_thread(app, limits=Limits(**limits)) as url:
            yield url, backing
    finally:
        backing.close()


def local_of(reg: Any) -> Any:
    """The registry whose database and store hold a registry's records: itself, or (for a
    client that a fixture opened on :func:`registry_server`, with ``reg.backing`` set) its
    server's."""
    return getattr(reg, "backing", reg)


def store_of(reg: Any) -> Any:
    """The artifact store that holds a registry's objects (see :func:`local_of`)."""
    return local_of(reg).artifacts


def open_registry(uri: str, artifacts: Any, **options: Any) -> Any:
    """Another registry over `uri`: with `artifacts` for a database, without for a server
    (which keeps its own)."""
    from seawall.registry import Registry

    if uri.startswith(("http://", "https://")):
        return Registry(uri, **options)
    return Registry(uri, artifacts=artifacts, **options)


class PostgresServer:
    """A throwaway cluster: trust auth on 127.0.0.1, fsync off, removed at the end."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.base = Path(tempfile.mkdtemp(prefix="seawall-pg-"))
        os.chmod(self.base, 0o755)
        self.data = self.base / "data"
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("nobody")
            os.chown(self.base, user.pw_uid, user.pw_gid)
            runuser = shutil.which("runuser") or next(
                (p for p in ("/usr/sbin/runuser", "/sbin/runuser") if os.path.exists(p)), "runuser"
            )
            self.as_user = [runuser, "-u", "nobody", "--"]

    def _run(self, *args: str) -> None:
        cmd = [*self.as_user, *args]
        result = subprocess.run(cmd, capture_output=True, text=True, cwd=self.base, check=False)
        if result.returncode != 0:
            log = self.base / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{result.stdout}{result.stderr}{tail}")

    def start(self) -> None:
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "seawall",
            "-E",
            "UTF8",
            "--no-sync",
        )
        options = (
            f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -F "
            "-c full_page_writes=off -c max_connections=200"
        )
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.base / "server.log"),
            "-w",
            "-t",
            "60",
            "-o",
            options,
            "start",
        )

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError):
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        shutil.rmtree(self.base, ignore_errors=True)

    def url(self, database: str) -> str:
        return f"postgresql://seawall@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


class WebhookReceiver:
    """A real HTTP server on loopback that records what is POSTed to it: ``requests`` (headers
    and raw body of every request), ``events`` (the JSON bodies it accepted), ``attempts``.
    ``fail_first`` answers 500 to that many requests first; ``hold`` (an Event) makes every
    request wait for it before answering; ``port`` listens on that port (default: a free one)."""

    def __init__(
        self, fail_first: int = 0, hold: threading.Event | None = None, port: int = 0
    ) -> None:
        self.events: list[dict[str, Any]] = []
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.attempts = 0  # requests answered
        self.arrivals = 0  # requests whose body was read (answered or held)
        self.fail_first = fail_first
        self.hold = hold
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.arrivals += 1
                    receiver.arrived.notify_all()
                if receiver.hold is not None:
                    receiver.hold.wait(30)
                with receiver.lock:
                    receiver.attempts += 1
                    receiver.requests.append((dict(self.headers.items()), body))
                    fail = receiver.attempts <= receiver.fail_first
                    if not fail:
                        receiver.events.append(json.loads(body))
                    receiver.arrived.notify_all()
                self.send_response(500 if fail else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, accepted: int, timeout_s: float = 60.0) -> bool:
        """Waits until `accepted` bodies were accepted; False if the time ran out first."""
        with self.lock:
            return self.arrived.wait_for(lambda: len(self.events) >= accepted, timeout_s)

    def wait_for_arrivals(self, count: int, timeout_s: float = 60.0) -> bool:
        """Waits until `count` requests arrived (held ones too); False on timeout."""
        with self.lock:
            return self.arrived.wait_for(lambda: self.arrivals >= count, timeout_s)

    def close(self) -> None:
        if self.hold is not None:
            self.hold.set()
        self.server.shutdown()
        self.server.server_close()


def closed_port_url() -> str:
    """A loopback URL where nothing listens (connections are refused at once)."""
    return f"http://127.0.0.1:{free_port()}/hook"
