"""What a traffic policy is (:class:`TrafficPolicy`, checked when it is made) and how a request's
sticky key is found and placed: the hash of a header, or of an input column's first value read
from the request's body in any of its encodings. The policy at work is
:class:`seawall.serving.traffic.TrafficRouter`."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from typing import Any

from ..errors import InvalidInputError
from .rollout import ArmRule, parse_after, parse_rules

__all__ = ["TrafficPolicy", "check_share", "input_key", "sticky_unit"]


def check_share(value: Any, what: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not 0 <= value <= 100
    ):
        raise InvalidInputError(f"{what} is a per cent from 0 to 100, got {value!r}")
    return float(value)


def _uri(value: Any, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.startswith("models:/"):
        raise InvalidInputError(
            f"the {what} arm is a registry URI, models:/NAME@ALIAS or models:/NAME/VERSION, "
            f"got {value!r}"
        )
    return value


class TrafficPolicy:
    """How one served model's requests go to its arms (module docstring).

    ``canary`` and ``shadow`` are registry URIs; ``share`` is the canary's per cent of requests
    (0 to 100), ``shadow_share`` the per cent copied to the shadow. ``sticky`` is None (random),
    ``"header:NAME"`` or ``"input:NAME"``.

    Rollout: ``rollback_if`` and ``promote_if`` are rules (text like ``"p99>2x,errors>1%"``, or
    :class:`~seawall.serving.rollout.ArmRule` objects) evaluated every ``interval_s`` seconds on
    windows of at least ``min_requests`` requests; ``promote_after`` is a number of challenger
    requests (an int, or text ``"1000"``) or a time (``"30s"``, ``"5m"``) before a promotion.

    Shadow: ``shadow_queue`` copies wait at most (then they are dropped and counted),
    ``shadow_workers`` threads answer them, each waiting at most ``shadow_timeout_s`` in the
    shadow's batcher. With ``shadow_process`` (the default) the shadow's model runs in a worker
    process of its own, which holds none of the server's GIL
    (:mod:`seawall.serving.shadow_process`); False runs it on the server's threads.
    """

    def __init__(
        self,
        canary: str | None = None,
        share: float = 0.0,
        *,
        shadow: str | None = None,
        shadow_share: float = 100.0,
        sticky: str | None = None,
        rollback_if: str | ArmRule | Iterable[str | ArmRule] | None = None,
        promote_if: str | ArmRule | Iterable[str | ArmRule] | None = None,
        promote_after: int | str | None = None,
        interval_s: float = 10.0,
        min_requests: int = 20,
        shadow_queue: int = 1024,
        shadow_workers: int = 2,
        shadow_timeout_s: float = 10.0,
        shadow_process: bool = True,
    ) -> None:
        self.canary = _uri(canary, "canary")
        self.share = check_share(share, "the canary's share")
        self.shadow = _uri(shadow, "shadow")
        self.shadow_share = check_share(shadow_share, "the shadow's share")
        if self.canary is None and self.shadow is None:
            raise InvalidInputError("a traffic policy needs a canary or a shadow arm")
        if self.canary is None and self.share:
            raise InvalidInputError(f"a canary share ({share}%) needs a canary arm")
        self.sticky = sticky
        self.sticky_kind, self.sticky_key = _sticky(sticky)
        if self.sticky is not None and self.canary is None:
            raise InvalidInputError("sticky routing chooses between primary and canary: add one")
        self.rollback_if = parse_rules(rollback_if)
        self.promote_if = parse_rules(promote_if)
        if isinstance(promote_after, bool):
            raise InvalidInputError(f"promote_after is requests or a time, got {promote_after!r}")
        if isinstance(promote_after, int):
            if promote_after < 1:
                raise InvalidInputError(f"promote_after must be positive, got {promote_after}")
            self.promote_after_requests: int | None = promote_after
            self.promote_after_s: float | None = None
        elif promote_after is None:
            self.promote_after_requests = self.promote_after_s = None
        else:
            self.promote_after_requests, self.promote_after_s = parse_after(promote_after)
        self.promote_after = promote_after
        if self.promote_if and promote_after is None:
            raise InvalidInputError(
                "promotion rules need promote_after: after how many challenger requests "
                "('1000') or how long ('10m') to judge"
            )
        has = {"canary": self.canary is not None, "shadow": self.shadow is not None}
        for rule in (*self.rollback_if, *self.promote_if):
            arm = rule.arm_for(has["canary"])
            if not has[arm]:
                raise InvalidInputError(f"the rule {rule} reads the {arm} arm, which has no URI")
        for label, value in (("interval_s", interval_s), ("shadow_timeout_s", shadow_timeout_s)):
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
                or value <= 0
            ):
                raise InvalidInputError(f"{label} must be a positive number of seconds: {value!r}")
        self.interval_s = float(interval_s)
        self.shadow_timeout_s = float(shadow_timeout_s)
        for label, count in (
            ("min_requests", min_requests),
            ("shadow_queue", shadow_queue),
            ("shadow_workers", shadow_workers),
        ):
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise InvalidInputError(f"{label} must be a positive integer, got {count!r}")
        self.min_requests = min_requests
        self.shadow_queue = shadow_queue
        self.shadow_workers = shadow_workers
        if not isinstance(shadow_process, bool):
            raise InvalidInputError(f"shadow_process is True or False, got {shadow_process!r}")
        self.shadow_process = shadow_process

    @property
    def has_rollout(self) -> bool:
        return bool(
            self.rollback_if
            or self.promote_if
            or self.promote_after_requests is not None
            or self.promote_after_s is not None
        )

    def __repr__(self) -> str:
        parts = []
        if self.canary:
            parts.append(f"canary={self.canary!r}, share={self.share:g}")
        if self.shadow:
            parts.append(f"shadow={self.shadow!r}, shadow_share={self.shadow_share:g}")
        if self.sticky:
            parts.append(f"sticky={self.sticky!r}")
        if self.rollback_if:
            parts.append(f"rollback_if={','.join(map(str, self.rollback_if))!r}")
        if self.promote_if:
            parts.append(f"promote_if={','.join(map(str, self.promote_if))!r}")
        if self.promote_after is not None:
            parts.append(f"promote_after={self.promote_after!r}")
        return f"TrafficPolicy({', '.join(parts)})"


def _sticky(sticky: Any) -> tuple[str | None, str | None]:
    if sticky is None:
        return None, None
    kind, _, key = sticky.partition(":") if isinstance(sticky, str) else ("", "", "")
    if kind not in ("header", "input") or not key.strip():
        raise InvalidInputError(
            f"sticky is 'header:NAME' (a request header) or 'input:NAME' (an input column), "
            f"got {sticky!r}"
        )
    return kind, key.strip().lower() if kind == "header" else key.strip()


def sticky_unit(key: str) -> float:
    """Where `key` falls in [0, 1): the same on every run and every machine (BLAKE2b)."""
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little") / 18446744073709551616.0  # 2**64


def _key_text(value: Any) -> str | None:
    """A sticky key's value as text, the same whichever JSON type carried it (42, 42.0, "42")."""
    if value is None or isinstance(value, (list, dict)):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _binary_first(data: bytes, offset: int, datatype: str) -> Any:
    """The first element of a tensor in Triton's binary tensor data, at `offset`."""
    import numpy as np

    from .protocol import DATATYPES

    if datatype == "BYTES":
        n = int.from_bytes(data[offset : offset + 4], "little")
        return data[offset + 4 : offset + 4 + n]
    dtype = DATATYPES[datatype].newbyteorder("<")
    return np.frombuffer(data, dtype=dtype, count=1, offset=offset)[0].item()


def input_key(endpoint: str, body: bytes, header_length: str | None, column: str) -> str | None:
    """The first row's value of input `column` in a request body, as text (None when the request
    has no such value; the arm that gets it then says what is wrong with it)."""
    try:
        json_part = body[: int(header_length)] if header_length is not None else body
        request = json.loads(json_part)
        if endpoint == "infer":
            offset = int(header_length) if header_length is not None else 0
            for tensor in request["inputs"]:
                params = tensor.get("parameters") or {}
                size = params.get("binary_data_size")
                if tensor["name"] == column:
                    if size is not None:
                        return _key_text(_binary_first(body, offset, tensor["datatype"]))
                    value = tensor["data"]
                    while isinstance(value, list):
                        value = value[0]
                    return _key_text(value)
                if size is not None:
                    offset += int(size)
            return None
        if "records" in request:
            return _key_text(request["records"][0][column])
        return _key_text(request["columns"][column][0])
    except Exception:  # malformed: routed at random, and refused by the arm that gets it
        return None
