"""Running an ASGI app (the model server, the dashboard) with uvicorn in a background thread,
on a free loopback port: for the demo, the tests and the benchmarks, and for embedding."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def serve_in_thread(app: Any, host: str = "127.0.0.1", **config: Any) -> Iterator[str]:
    """Runs `app` with uvicorn on a free port of `host` until the block ends; yields its base
    URL. `config` goes to ``uvicorn.Config`` (default: warnings only, no websockets, the app's
    lifespan on, so its batchers close when the block ends)."""
    import uvicorn

    settings: dict[str, Any] = {"log_level": "warning", "ws": "none", "lifespan": "on"}
    settings.update(config)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((host, 0))
    server = uvicorn.Server(uvicorn.Config(app, **settings))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.01)
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()
