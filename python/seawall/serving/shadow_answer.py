"""How the shadow answers a block of request copies: which copies go to its model together, and
the model input of each group (see :mod:`seawall.serving.shadow`). Used on the server's threads
and in the shadow's worker process alike: it answers, the caller records.

A copy's model input is made in the cheapest way open to it: the answering arm's own model
input, as it is, when the shadow's feature pipeline is the one that made it (the same saved
state, or neither has one); else its parsed JSON request, joined with those of the same form
(records, columns, tensors of one layout) into one request transformed once, row for row the
same as one at a time (one by one when the joined request does not decode); else (binary tensor
data) its body, decoded again, alone.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import numpy as np

from ..errors import BatcherClosedError

__all__ = ["Answer", "Copy", "answer_copies"]


class Copy(NamedTuple):
    """A request copied to the shadow, as the arm that answered it saw it."""

    endpoint: str
    body: bytes
    header_length: str | None
    primary: Mapping[str, Any] | None  # the primary's outputs (None: another arm answered)
    logged: Any  # where the payload log keeps the shadow's answer (a LoggedCopy), or None
    request: dict[str, Any] | None  # the parsed JSON request (None: binary data, or large)
    x: np.ndarray | None  # the model input the answering arm made of it
    features_key: str | None  # what made `x` (ServedModel.features_key)
    options: tuple[tuple[str, int], ...]  # the request's batcher options


class Answer(NamedTuple):
    """The shadow's answer to some copies of a block, run as one model input."""

    copies: list[int]  # their places in the block
    rows: list[int] | None  # the rows of each, in order (None: a single copy)
    result: Mapping[str, np.ndarray] | None  # the outputs of all their rows (None: it failed)
    error: BaseException | None
    seconds: float
    version: str | None  # the shadow's version that answered
    served: Any = None  # that ServedModel (not sent from the worker process)


def answer_copies(served: Any, copies: list[Copy], timeout_us: int) -> list[Answer]:
    """The shadow `served`'s answers to `copies` (each copy in exactly one answer); a copy
    waits at most `timeout_us` in its batcher. A hot swap that closes the batcher under a
    group leaves it to the model that replaced it."""
    block = _Block(copies, timeout_us)
    block.answer(served, list(range(len(copies))))
    return block.answers


class _Block:
    def __init__(self, copies: list[Copy], timeout_us: int) -> None:
        self.copies = copies
        self.timeout_us = timeout_us
        self.answers: list[Answer] = []

    def answer(self, served: Any, indices: list[int]) -> None:
        key = served.features_key
        groups: dict[Any, list[int]] = {}
        rows: dict[Any, list[int]] = {}
        for i in indices:
            c = self.copies[i]
            form = _form(c.endpoint, c.request) if c.request is not None else None
            if key is not None and c.x is not None and c.features_key == key:
                kind: Any = ("input", c.options)  # its model input as it is
                n = len(c.x)
            elif form is not None:
                kind, n = ("request", c.endpoint, form[0]), form[1]
            elif c.request is not None:
                kind, n = ("request", c.endpoint, i), 0  # a form of its own: alone
            else:
                kind, n = ("body", i), 0  # binary tensor data: decoded again, alone
            groups.setdefault(kind, []).append(i)
            rows.setdefault(kind, []).append(n)
        for kind, group in groups.items():
            joined_rows = rows[kind] if len(group) > 1 else None
            if kind[0] == "input":
                xs = [x for i in group if (x := self.copies[i].x) is not None]
                x = np.concatenate(xs) if len(xs) > 1 else xs[0]
                self._run(served, group, joined_rows, functools.partial(_given, x, kind[1]))
            elif kind[0] == "request":
                self._requests(served, group, kind, joined_rows)
            else:
                decode = functools.partial(_decode_body, self.copies[group[0]])
                self._run(served, group, None, decode)

    def _requests(self, served: Any, group: list[int], kind: Any, rows: list[int] | None) -> None:
        """Parsed JSON requests of one endpoint and form (`kind`; `rows` each): joined into
        one request; one by one when it does not decode."""
        endpoint = kind[1]
        requests = [r for i in group if (r := self.copies[i].request) is not None]
        if len(group) > 1:
            decode = functools.partial(_decode_request, endpoint, _join(kind[2], requests))
            if self._run(served, group, rows, decode) is not False:
                return
        for n, request in enumerate(requests):
            decode = functools.partial(_decode_request, endpoint, request)
            if self._run(served, group[n : n + 1], None, decode, rest=group[n + 1 :]):
                return  # a hot swap: the new shadow answered the rest

    def _run(
        self,
        served: Any,
        group: list[int],
        rows: list[int] | None,
        model_input: Callable[[Any], tuple[np.ndarray, dict[str, int]]],
        rest: list[int] | None = None,
    ) -> bool | None:
        """Answers the copies `group` with one model input holding all their rows (`rows` of
        each, in their order; None for a single copy): ``model_input(served)`` gives it and
        its batcher options. None once answered; False, answering nothing, when a joined
        input does not decode (then they are tried one by one). When a hot swap closed the
        shadow's batcher under them, the replacement answers them and `rest` (the copies that
        were to follow them): True."""
        start = time.perf_counter()
        result = None
        error: BaseException | None = None
        try:
            x, options = model_input(served)
        except Exception as exc:
            if len(group) > 1:
                return False  # one copy spoils the joined input: one by one
            error = exc
        else:
            options.setdefault("timeout_us", self.timeout_us)
            try:
                result = served.run_blocking(x, options)
            except BatcherClosedError as exc:
                if served.replaced_by is not None:
                    self.answer(served.replaced_by, [*group, *(rest or [])])
                    return True
                error = exc
            except Exception as exc:
                error = exc
        seconds = time.perf_counter() - start
        self.answers.append(Answer(group, rows, result, error, seconds, served.version, served))
        return None


def _given(
    x: np.ndarray, options: tuple[tuple[str, int], ...], served: Any
) -> tuple[np.ndarray, dict[str, int]]:
    return x, dict(options)


def _decode_request(
    endpoint: str, request: dict[str, Any], served: Any
) -> tuple[np.ndarray, dict[str, int]]:
    prepared = served.prepare_request(endpoint, request)
    return prepared.x, dict(prepared.options)


def _decode_body(c: Copy, served: Any) -> tuple[np.ndarray, dict[str, int]]:
    if c.endpoint == "infer":
        prepared = served.prepare_infer(c.body, c.header_length)
    else:
        prepared = served.prepare_predict(c.body, c.header_length)
    return prepared.x, dict(prepared.options)


def _form(endpoint: str, request: dict[str, Any]) -> tuple[Any, int] | None:
    """The form of a parsed JSON request, equal for requests that _join can put together, and
    how many rows it holds (None when it cannot be joined: other outputs, parameters, binary
    data, tensors of more than one dimension)."""
    if endpoint == "predict":
        if len(request) != 1:
            return None
        records = request.get("records")
        if isinstance(records, list):
            return ("records",), len(records)
        columns = request.get("columns")
        if isinstance(columns, dict) and columns:
            lengths = {len(v) if isinstance(v, list) else -1 for v in columns.values()}
            if len(lengths) == 1 and -1 not in lengths:
                return ("columns", *columns), lengths.pop()
        return None
    if set(request) - {"id", "inputs"}:
        return None
    inputs = request.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        return None
    layout = []
    rows = set()
    for t in inputs:
        if (
            not isinstance(t, dict)
            or set(t) - {"name", "datatype", "shape", "data"}
            or not isinstance(t.get("name"), str)
            or not isinstance(t.get("datatype"), str)
            or not isinstance(t.get("shape"), list)
            or len(t["shape"]) != 1
            or not isinstance(t.get("data"), list)
        ):
            return None
        layout.append((t["name"], t["datatype"]))
        rows.add(t["shape"][0])
    return (("inputs", *layout), rows.pop()) if len(rows) == 1 else None


def _join(form: Any, parsed: list[dict[str, Any]]) -> dict[str, Any]:
    """One JSON request holding the rows of every request in `parsed` (all of `form`), in
    order."""
    if form[0] == "records":
        return {"records": [row for r in parsed for row in r["records"]]}
    if form[0] == "columns":
        return {"columns": {n: [v for r in parsed for v in r["columns"][n]] for n in form[1:]}}
    inputs = []
    for i, (name, datatype) in enumerate(form[1:]):
        data = [v for r in parsed for v in r["inputs"][i]["data"]]
        inputs.append({"name": name, "datatype": datatype, "shape": [len(data)], "data": data})
    return {"inputs": inputs}
