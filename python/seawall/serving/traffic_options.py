"""`seawall serve`'s traffic-policy options (``--canary``, ``--shadow``, ``--sticky``, the rollout
rules): ``@traffic_options`` adds them, :func:`pop_traffic_policy` turns them into a
:class:`~seawall.serving.traffic.TrafficPolicy` (None when none is given)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from ..errors import InvalidInputError

__all__ = ["pop_traffic_policy", "traffic_options"]

F = TypeVar("F", bound=Callable[..., Any])

_OPTIONS = (
    click.option(
        "--canary",
        metavar="URI=SHARE",
        default=None,
        help="A canary arm and its per cent of requests, e.g. models:/fraud@challenger=10 "
        "(followed like the served alias).",
    ),
    click.option(
        "--shadow",
        metavar="URI[=SHARE]",
        default=None,
        help="A shadow arm: a copy of SHARE per cent of requests (default 100) goes to it off "
        "the request path; its answers are compared, never sent.",
    ),
    click.option(
        "--shadow-in-process",
        is_flag=True,
        default=False,
        help="Run the shadow's model on the server's threads, not in a worker process of its "
        "own (which holds none of the server's GIL).",
    ),
    click.option(
        "--sticky",
        metavar="header:NAME|input:NAME",
        default=None,
        help="Route by a hash of this request header or input column (its first row), so a key "
        "always reaches the same arm (default: at random).",
    ),
    click.option(
        "--rollback-if",
        metavar="RULES",
        default=None,
        help='Roll the challenger back when a rule breaches, e.g. "p99>2x,errors>1%,'
        'agreement<0.9" (its alias moves to the served version, with the reason).',
    ),
    click.option(
        "--promote-if",
        metavar="RULES",
        default=None,
        help='Promote the challenger when every rule holds, e.g. "errors<0.5%,p99<1.2x".',
    ),
    click.option(
        "--promote-after",
        metavar="N|TIME",
        default=None,
        help="When to judge a promotion: after N challenger requests (1000) or a time (10m).",
    ),
    click.option(
        "--rollout-interval",
        metavar="SECONDS",
        default=10.0,
        show_default=True,
        type=click.FloatRange(min=0, min_open=True),
        help="Seconds between evaluations of the rollback and promotion rules.",
    ),
    click.option(
        "--rollout-min-requests",
        default=20,
        show_default=True,
        type=click.IntRange(min=1),
        help="Requests an arm must have answered before a rule judges it.",
    ),
)
_NAMES = (
    "canary",
    "shadow",
    "shadow_in_process",
    "sticky",
    "rollback_if",
    "promote_if",
    "promote_after",
    "rollout_interval",
    "rollout_min_requests",
)


def traffic_options(f: F) -> F:
    for option in reversed(_OPTIONS):
        f = option(f)
    return f


def _arm(value: str, option: str, default: float | None) -> tuple[str, float]:
    uri, sep, share = value.rpartition("=")
    if not sep:
        if default is None:
            raise click.BadParameter(
                f"give the arm and its share as URI=SHARE, e.g. models:/fraud@challenger=10, got "
                f"{value!r}",
                param_hint=option,
            )
        return value, default
    try:
        return uri, float(share)
    except ValueError:
        raise click.BadParameter(
            f"the share after '=' must be a per cent, got {share!r}", param_hint=option
        ) from None


def pop_traffic_policy(options: dict[str, Any]) -> Any:
    """Takes the traffic options out of a command's keyword arguments: the TrafficPolicy they
    make, or None when neither --canary nor --shadow is given."""
    values = {name: options.pop(name) for name in _NAMES}
    if values["canary"] is None and values["shadow"] is None:
        given = [n for n in _NAMES[2:7] if values[n] not in (None, False)]
        if given:
            flag = "--" + given[0].replace("_", "-")
            raise click.UsageError(f"{flag} is for a traffic policy: add --canary or --shadow")
        return None
    from .traffic import TrafficPolicy

    canary, share = _arm(values["canary"], "--canary", None) if values["canary"] else (None, 0.0)
    shadow, shadow_share = (
        _arm(values["shadow"], "--shadow", 100.0) if values["shadow"] else (None, 100.0)
    )
    after = values["promote_after"]
    try:
        return TrafficPolicy(
            canary,
            share,
            shadow=shadow,
            shadow_share=shadow_share,
            sticky=values["sticky"],
            rollback_if=values["rollback_if"],
            promote_if=values["promote_if"],
            promote_after=after,
            interval_s=values["rollout_interval"],
            min_requests=values["rollout_min_requests"],
            shadow_process=not values["shadow_in_process"],
        )
    except InvalidInputError as exc:
        raise click.UsageError(str(exc)) from None
