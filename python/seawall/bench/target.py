"""The server a load test drives: its URL resolved to an address, and the few requests made
outside the load (model metadata, the server's own statistics, its metrics), with short
timeouts and clear errors."""

from __future__ import annotations

import http.client
import json
import socket
import urllib.parse
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidInputError, NotFoundError, ServerUnavailableError

__all__ = ["Target", "inference_stats"]

_TIMEOUT_S = 10.0
_MAX_BYTES = 16 << 20  # what a metadata, stats or metrics answer may be


@dataclass(frozen=True)
class Target:
    """A server: its URL, the numeric address and port to connect to, and its path prefix."""

    url: str
    host: str  # as in the URL (for the Host header)
    address: str  # numeric IPv4 or IPv6
    port: int
    prefix: str  # a path the server is mounted under ("" for none)

    @classmethod
    def parse(cls, url: str) -> Target:
        """`url`: http://HOST[:PORT][/PREFIX], or HOST:PORT. The host is resolved here."""
        text = url.strip()
        if "://" not in text:
            text = "http://" + text
        parts = urllib.parse.urlsplit(text)
        if parts.scheme != "http":
            raise InvalidInputError(
                f"{url!r}: only http:// servers can be load-tested (no TLS in the generator)"
            )
        try:
            port = parts.port or 80
        except ValueError:
            raise InvalidInputError(f"{url!r} has no valid port") from None
        host = parts.hostname
        if not host:
            raise InvalidInputError(f"{url!r} has no host")
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise ServerUnavailableError(f"cannot resolve the host of {url}: {exc}") from None
        # IPv4 first: "localhost" often resolves to ::1 too, where the server may not listen.
        infos.sort(key=lambda info: info[0] != socket.AF_INET)
        address = str(infos[0][4][0])
        return cls(url, host, address, port, parts.path.rstrip("/"))

    @property
    def base(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{self.prefix}"

    def model_path(self, model: str, version: str | None = None) -> str:
        quoted = urllib.parse.quote(model, safe="")
        path = f"{self.prefix}/v2/models/{quoted}"
        if version is not None:
            path += f"/versions/{urllib.parse.quote(str(version), safe='')}"
        return path

    def get(self, path: str, timeout_s: float = _TIMEOUT_S) -> tuple[int, bytes]:
        """GET `path`: the status and body. Unreachable: ServerUnavailableError."""
        conn = http.client.HTTPConnection(self.address, self.port, timeout=timeout_s)
        try:
            conn.request("GET", path, headers={"Host": self.host, "User-Agent": "seawall-bench"})
            response = conn.getresponse()
            body = response.read(_MAX_BYTES + 1)
        except (OSError, http.client.HTTPException) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise ServerUnavailableError(
                f"cannot reach {self.base}{path[len(self.prefix) :]}: {reason or type(exc).__name__}"
            ) from None
        finally:
            conn.close()
        if len(body) > _MAX_BYTES:
            raise ServerUnavailableError(f"{self.base}: the answer to GET {path} is too large")
        return response.status, body

    def model_metadata(self, model: str, version: str | None = None) -> dict[str, Any]:
        """The Open Inference Protocol metadata of `model` (its inputs and outputs)."""
        status, body = self.get(self.model_path(model, version))
        if status == 404:
            what = f"model {model!r}" + (f" version {version!r}" if version else "")
            raise NotFoundError(f"the server at {self.base} has no {what}: {_message(body)}")
        if status != 200:
            raise ServerUnavailableError(
                f"the server at {self.base} answered {status} to the metadata of model "
                f"{model!r}: {_message(body)}"
            )
        try:
            metadata = json.loads(body)
        except ValueError:
            metadata = None
        if not isinstance(metadata, dict) or not isinstance(metadata.get("inputs"), list):
            raise ServerUnavailableError(
                f"{self.base} is not an Open Inference Protocol server: the metadata of model "
                f"{model!r} has no 'inputs'"
            )
        return metadata

    def stats(self, model: str, version: str | None = None) -> dict[str, Any] | None:
        """The server's own statistics of `model` in Triton's shape (queue and compute time),
        or None where the server has no such endpoint or answers something else."""
        try:
            status, body = self.get(self.model_path(model, version) + "/stats", timeout_s=5.0)
            if status != 200:
                return None
            return inference_stats(json.loads(body))
        except (ServerUnavailableError, ValueError):
            return None


def inference_stats(answer: Any) -> dict[str, Any] | None:
    """{"success": n, "queue": (count, ns), "compute_infer": (count, ns)} from Triton's
    ``model_stats[0].inference_stats``; None when the answer is not in that shape."""
    try:
        stats = answer["model_stats"][0]["inference_stats"]
        out: dict[str, Any] = {}
        for key in ("queue", "compute_infer"):
            out[key] = (int(stats[key]["count"]), int(stats[key]["ns"]))
        success = stats.get("success", {})
        out["success"] = int(success.get("count", 0)) if isinstance(success, dict) else 0
        return out
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        return None


def _message(body: bytes) -> str:
    text = body[:500].decode("utf-8", "replace").strip()
    try:
        error = json.loads(body).get("error")
        if isinstance(error, str):
            return error
    except (ValueError, AttributeError):
        pass
    return text or "(no message)"
