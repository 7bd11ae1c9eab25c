"""The graph of a pipeline: which step makes the data each step takes."""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import DTypeError, InvalidInputError, PipelineCycleError
from ._step import Step

__all__ = ["Graph"]


@dataclass(frozen=True)
class Graph:
    """Steps by name (in the order given), and the data edges between them.

    ``producer`` maps each output to its step; ``upstream[s]`` is the set of steps whose outputs
    `s` takes; ``params`` maps each input no step makes (a pipeline parameter) to the steps that
    take it; ``order`` is a topological order, stable with respect to the order given.
    """

    steps: dict[str, Step]
    producer: dict[str, str]
    upstream: dict[str, frozenset[str]]
    downstream: dict[str, frozenset[str]]
    params: dict[str, tuple[str, ...]]
    order: tuple[str, ...]

    @classmethod
    def build(cls, steps: Sequence[Step]) -> Graph:
        if isinstance(steps, Step) or not isinstance(steps, (list, tuple)):
            raise InvalidInputError("a pipeline takes a list of steps")
        if not steps:
            raise InvalidInputError("a pipeline needs at least one step")
        by_name: dict[str, Step] = {}
        producer: dict[str, str] = {}
        for s in steps:
            if not isinstance(s, Step):
                raise DTypeError(
                    f"pipeline steps are made with @seawall.step, got {type(s).__name__}: {s!r}"
                )
            if s.name in by_name:
                raise InvalidInputError(f"two steps are named {s.name!r}")
            by_name[s.name] = s
            for out in s.outputs:
                if out in producer:
                    raise InvalidInputError(
                        f"steps {producer[out]!r} and {s.name!r} both make {out!r}"
                    )
                producer[out] = s.name
        upstream = {
            name: frozenset(producer[d] for d in s.inputs.values() if d in producer)
            for name, s in by_name.items()
        }
        downstream: dict[str, set[str]] = {name: set() for name in by_name}
        for name, ups in upstream.items():
            for up in ups:
                downstream[up].add(name)
        params: dict[str, list[str]] = {}
        for name, s in by_name.items():
            for d in s.inputs.values():
                if d not in producer:
                    params.setdefault(d, []).append(name)
        _check_acyclic(by_name, producer)
        return cls(
            by_name,
            producer,
            upstream,
            {k: frozenset(v) for k, v in downstream.items()},
            {k: tuple(v) for k, v in params.items()},
            _topological(list(by_name), upstream, downstream),
        )

    def descendants(self, name: str) -> set[str]:
        """Every step that takes, directly or not, an output of `name`."""
        seen: set[str] = set()
        todo = list(self.downstream[name])
        while todo:
            s = todo.pop()
            if s not in seen:
                seen.add(s)
                todo.extend(self.downstream[s])
        return seen


def _check_acyclic(steps: dict[str, Step], producer: dict[str, str]) -> None:
    """Raises PipelineCycleError naming the first cycle found (depth-first, in step order)."""
    position = {name: i for i, name in enumerate(steps)}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[tuple[str, str]] = []  # (step, the data it takes from the next step up)

    def visit(name: str) -> None:
        state[name] = 1
        for data in steps[name].inputs.values():
            up = producer.get(data)
            if up is None:
                continue
            path.append((name, data))
            if state.get(up) == 1:
                start = next(i for i, (s, _) in enumerate(path) if s == up)
                cycle = path[start:]
                # Written in data-flow order (each step makes the data the next one takes),
                # from the step given first.
                flow = list(reversed(cycle))
                first = min(range(len(flow)), key=lambda i: position[flow[i][0]])
                flow = flow[first:] + flow[:first]
                names = tuple(s for s, _ in flow)
                text = " -> ".join(f"{s} ({d})" for s, d in flow) + f" -> {flow[0][0]}"
                raise PipelineCycleError(
                    f"the steps' data dependencies form a cycle: {text}; "
                    "each step takes the data (in parentheses) that the step before it makes",
                    cycle=names,
                )
            if state.get(up) is None:
                visit(up)
            path.pop()
        state[name] = 2

    for name in steps:
        if name not in state:
            visit(name)


def _topological(
    names: list[str], upstream: dict[str, frozenset[str]], downstream: dict[str, set[str]]
) -> tuple[str, ...]:
    index = {n: i for i, n in enumerate(names)}
    waiting = {n: len(upstream[n]) for n in names}
    ready = [(index[n], n) for n in names if waiting[n] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, n = heapq.heappop(ready)
        order.append(n)
        for d in downstream[n]:
            waiting[d] -= 1
            if waiting[d] == 0:
                heapq.heappush(ready, (index[d], d))
    return tuple(order)
