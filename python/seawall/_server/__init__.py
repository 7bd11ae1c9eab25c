"""What every seawall HTTP server shares (the model server, the dashboard): its limits, how it
runs under uvicorn, its command-line options, who may use it, and JSON for large bodies.

* ``limits``: :class:`Limits` (connections, time, bytes, with safe defaults) and the ASGI
  middleware that bounds each request: concurrency, body size, body bytes in flight, body time;
* ``protocol``: uvicorn's HTTP protocols with what uvicorn leaves out: a connection limit, a
  timeout and a size bound on request headers;
* ``run``: ``run`` (a command's server, warning when it is not bound to loopback) and
  ``serve_in_thread`` (a server in a background thread), both under the limits;
* ``options``: the options every server command takes (``--host``, ``--port``, the limits,
  ``--access-log``, ``--auth``, ``--auth-tokens``, ``--rate-limit``, ``--insecure``, TLS);
* ``tokens``: tokens, principals and scopes, and files of hashed tokens (:class:`TokenFile`);
* ``auth``: the :class:`Authenticator` (tokens checked against a registry or a token file,
  cached for half a second, rate-limited) and the ASGI middleware that needs a token whose
  scopes allow each route group (401, 403, 429);
* ``sessions``: signed browser sessions after a sign-in with a token (the dashboard);
* ``bulk_json``: JSON parsing and writing that does not hold the GIL for a whole large body.

Nothing here imports uvicorn or Starlette until a server starts.
"""

from .limits import Limits

__all__ = ["Limits"]
