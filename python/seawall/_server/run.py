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


def exposure_warning(
    host: str, what: str, *, authenticated: bool = False, tls: bool = False
) -> str | None:
    """The warning for serving `what` on a non-loopback `host` (None on loopback, or with both
    tokens and TLS)."""
    if is_loopback(host) or (authenticated and tls):
        return None
    if authenticated:
        return (
            f"{what} listens on {host!r} over plain HTTP: tokens cross the network in clear "
            "text. Serve HTTPS (--ssl-certfile, --ssl-keyfile) or put a TLS proxy in front."
        )
    return (
        f"{what} listens on {host!r}, not on loopback, with no authentication (--insecure): "
        "anyone who can reach this address can use every endpoint it serves. Check tokens "
        "(--auth registry or --auth-tokens) or keep the default --host 127.0.0.1."
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
    authenticated: bool = False,
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
) -> None:
    """Serves `app` on host:port until interrupted (Ctrl-C), as `what` ("seawall serve") says in
    its warnings: a non-loopback `host` is warned about (WARNING, on stderr) when the app does
    not check tokens (`authenticated`), or does over plain HTTP. HTTPS with `ssl_certfile`
    (and `ssl_keyfile`, PEM)."""
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
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
    )  # uvicorn sets up logging here: warn after it, so the warnings show
    if access_log:  # uvicorn gives the access log the server's level, which may hide it
        logging.getLogger("uvicorn.access").setLevel(logging.INFO)
    warning = exposure_warning(
        host, what, authenticated=authenticated, tls=ssl_certfile is not None
    )
    if warning is not None:
        log.warning(warning)
    _check_open_files(limits)
    uvicorn.Server(config).run()


@contextlib.contextmanager
def serve_in_thread(
    app: Any, host: str = "127.0.0.1", *, limits: Limits | None = None, **config: Any
) -> Iterator[str]:
    """Runs `app` with uvicorn on a free port of `host` until the block ends; yields its base
    URL (``https://`` when `config` has an ``ssl_certfile``). `limits` as in
    :func:`uvicorn_config`; `config` goes to ``uvicorn.Config`` (default: warnings only, no
    websockets, the app's lifespan on, so its batchers close when the block ends)."""
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
        scheme = "https" if settings.get("ssl_certfile") else "http"
        yield f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()
