"""Running an ASGI app (the model server, the dashboard) with uvicorn in a background thread,
on a free loopback port: for the demo, the tests and the benchmarks, and for embedding. The
server keeps within ``seawall._server.Limits`` (its defaults, or ``limits=``), as
``seawall serve`` does."""

from __future__ import annotations

from .._server.run import serve_in_thread

__all__ = ["serve_in_thread"]
