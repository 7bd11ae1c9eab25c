"""Running an ASGI app with uvicorn under :class:`Limits`: in the foreground (the commands), or in
a background thread on a free loopback port (the demo, the tests, the benchmarks, embedding)."""

from __future__ import annotations

import contextlib
import copy
import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

from .limits import Limits, LimitsMiddleware

__all__ = ["exposure_warning", "run", "serve_in_thread", "uvicorn_config"]

log = logging.getLogger("seawall.server")

# Below the open-file limit by this much, for what else a server opens (registry, bundles, logs).
_SPARE_FILES = 64


def is_loopback(host: str) -> bool:
    """Whether `host` is a loopback address (or ``localhost``): reachable from this machine only."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to any interface


def exposure_warning(host: str, what: str) -> str | None:
    """The warning for serving `what` on a non-loopback `host` (None on loopback)."""
    if is_loopback(host):
        return None
    return (
        f"{what} listens on {host!r}, not on loopback: anyone who can reach this address can "
        "use every endpoint it serves, and seawall has no authentication yet. Keep the default "
        "--host 127.0.0.1 unless a proxy in front of it decides who gets in."
    )


def _check_open_files(limits: Limits) -> None:
    try:
        import resource
    except ImportError:  # Windows
        return
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and limits.max_connections + _SPARE_FILES > soft:
        log.warning(
            "max_connections is %d but this process may open only %d files: connections past "
            "about %d will fail. Raise the limit (ulimit -n) or lower max_connections.",
            limits.max_connections,
            soft,
            soft - _SPARE_FILES,
        )


def uvicorn_config(
    app: Any,
    *,
    limits: Limits | None = None,
    access_log: bool = False,
    http: str = "auto",
    **config: Any,
) -> Any:
    """A ``uvicorn.Config`` serving `app` under `limits` (default: :class:`Limits`'s defaults):
    the app is wrapped in :class:`LimitsMiddleware`, the HTTP protocol bounds connections and
    headers, uvicorn's keep-alive timeout is the limits'. Access logs are off unless asked for.
    `config` goes to ``uvicorn.Config`` (host, port, log_level, ...)."""
    import uvicorn

    from .protocol import protocol_class

    limits = limits if limits is not None else Limits()
    settings: dict[str, Any] = {"ws": "none", "lifespan": "on"}
    settings.update(config)
    return uvicorn.Config(
        LimitsMiddleware(app, limits),
        http=protocol_class(http, limits),
        # Typed int, used as a delay for loop.call_later, which takes any number.
        timeout_keep_alive=limits.keep_alive_timeout_s,  # type: ignore[arg-type]
        h11_max_incomplete_event_size=limits.max_header_bytes,
        access_log=access_log,
        **settings,
    )


def run(
    app: Any,
    *,
    host: str,
    port: int,
    what: str,
    limits: Limits | None = None,
    access_log: bool = False,
    log_level: str = "info",
) -> None:
    """Serves `app` on host:port until interrupted (Ctrl-C), as `what` ("seawall serve") says in
    its warnings: a non-loopback `host` is warned about (WARNING, on stderr)."""
    import uvicorn

    limits = limits if limits is not None else Limits()
    log_config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    # seawall's own loggers (this warning, the model server's) print like uvicorn's.
    log_config["loggers"]["seawall"] = {
        "handlers": ["default"],
        "level": log_level.upper(),
        "propagate": False,
    }
    config = uvicorn_config(
        app,
        limits=limits,
        access_log=access_log,
        host=host,
        port=port,
        log_level=log_level,
        log_config=log_config,
    )  # uvicorn sets up logging here: warn after it, so the warnings show
    if access_log:  # uvicorn gives the access log the server's level, which may hide it
        logging.getLogger("uvicorn.access").setLevel(logging.INFO)
    warning = exposure_warning(host, what)
    if warning is not None:
        log.warning(warning)
    _check_open_files(limits)
    uvicorn.Server(config).run()


@contextlib.contextmanager
def serve_in_thread(
    app: Any, host: str = "127.0.0.1", *, limits: Limits | None = None, **config: Any
) -> Iterator[str]:
    """Runs `app` with uvicorn on a free port of `host` until the block ends; yields its base
    URL. `limits` as in :func:`uvicorn_config`; `config` goes to ``uvicorn.Config`` (default:
    warnings only, no websockets, the app's lifespan on, so its batchers close when the block
    ends)."""
    import uvicorn

    settings: dict[str, Any] = {"log_level": "warning"}
    settings.update(config)
    warning = exposure_warning(host, "a seawall server")
    if warning is not None:
        log.warning(warning)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((host, 0))
    server = uvicorn.Server(uvicorn_config(app, limits=limits, **settings))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.01)
        port = sock.getsockname()[1]
        yield f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()
