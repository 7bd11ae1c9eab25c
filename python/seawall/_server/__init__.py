"""What every seawall HTTP server shares (the model server, the dashboard): its limits, how it
runs under uvicorn, its command-line options, and JSON for large bodies.

* ``limits``: :class:`Limits` (connections, time, bytes, with safe defaults) and the ASGI
  middleware that bounds each request: concurrency, body size, body bytes in flight, body time;
* ``protocol``: uvicorn's HTTP protocols with what uvicorn leaves out: a connection limit, a
  timeout and a size bound on request headers;
* ``run``: ``run`` (a command's server, warning when it is not bound to loopback) and
  ``serve_in_thread`` (a server in a background thread), both under the limits;
* ``options``: the options every server command takes (``--host``, ``--port``, the limits,
  ``--access-log``);
* ``bulk_json``: JSON parsing and writing that does not hold the GIL for a whole large body.

Nothing here imports uvicorn or Starlette until a server starts.
"""

from .limits import Limits

__all__ = ["Limits"]
