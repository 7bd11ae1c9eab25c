"""JSON for large request and response bodies, a block at a time.

``json.loads`` and ``json.dumps`` hold the GIL for a whole document: a second for 60 MB of
numbers, during which no other thread of the process runs, the server's event loop included
(a health check waits out every large request). :func:`loads` and :func:`dumps` give the same
results as ``json.loads(data)`` and ``json.dumps(obj, ensure_ascii=False, separators=(",", ":"))``
but leave the json module only bounded pieces: a long run of array elements (or object members)
is parsed or written in blocks, and other threads run between blocks.

How :func:`loads` splits a document: a container that closes within a short window is parsed
whole (by the json module's scanner, on that window); a longer one is walked. Its numbers and
literals are parsed a block at a time (the text of the next ``BLOCK`` characters up to its last
comma, when it holds no string or container, bracketed as an array); strings and containers one
at a time, each by the same rules. So every piece the json module sees is short, except a single
string, which it scans at memory speed.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["dumps", "loads"]

BLOCK = 1 << 16  # characters of text parsed at once
ITEMS = 1 << 14  # array elements written at once
_PROBES = (256, 4096, BLOCK)  # windows a container is tried in before it is walked
_WS = re.compile(r"[ \t\n\r]*")
_SPECIAL = re.compile(r'["\[\]{}]')
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def loads(data: bytes | str, *, parse_constant: Any = None) -> Any:
    """``json.loads(data, parse_constant=parse_constant)``, a block at a time."""
    if isinstance(data, (bytes, bytearray)):
        text = data.decode(json.detect_encoding(data), "surrogatepass")
    else:
        text = data
    if len(text) <= 4 * BLOCK:
        return json.loads(text, parse_constant=parse_constant)
    if text.startswith("\ufeff"):
        raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
    return _Parser(text, parse_constant).document()


class _Parser:
    def __init__(self, text: str, parse_constant: Any) -> None:
        self.text = text
        self.parse_constant = parse_constant
        # The json module's own scanner (C), as json.loads uses it: one value at an index.
        decoder: Any = json.JSONDecoder(parse_constant=parse_constant)
        self.scan = decoder.scan_once

    def ws(self, i: int) -> int:
        return _WS.match(self.text, i).end()  # type: ignore[union-attr]

    def document(self) -> Any:
        value, i = self.value(self.ws(0))
        i = self.ws(i)
        if i != len(self.text):
            raise json.JSONDecodeError("Extra data", self.text, i)
        return value

    def value(self, i: int) -> tuple[Any, int]:
        text = self.text
        if text.startswith(("[", "{"), i):
            for probe in _PROBES:
                if i + probe >= len(text):
                    break  # the rest is short: scanned whole below
                try:
                    value, end = self.scan(text[i : i + probe], 0)
                    return value, i + end
                except (StopIteration, ValueError, RecursionError):
                    pass  # it does not close within the window (or is not valid: seen below)
            else:
                return self.container(i)
        try:
            return self.scan(text, i)  # a string, a number, a literal, or a short container
        except StopIteration as exc:
            raise json.JSONDecodeError("Expecting value", text, exc.value) from None

    def container(self, i: int) -> tuple[Any, int]:
        """An array or object too long to scan at once: walked, its members a block at a time."""
        text = self.text
        is_array = text[i] == "["
        close = "]" if is_array else "}"
        out: Any = [] if is_array else {}
        i = self.ws(i + 1)
        if text.startswith(close, i):
            return out, i + 1
        while True:
            if is_array and not text.startswith(('"', "[", "{"), i):
                # A run of numbers and literals (no string or container up to its last comma):
                # parsed as one array, and a failure there is the document's own.
                special = _SPECIAL.search(text, i, i + BLOCK)
                cut = text.rfind(",", i, special.start() if special else i + BLOCK)
                if cut > i:
                    try:
                        run = json.loads(
                            "[" + text[i:cut] + "]", parse_constant=self.parse_constant
                        )
                    except json.JSONDecodeError as exc:
                        raise json.JSONDecodeError(exc.msg, text, i + exc.pos - 1) from None
                    out.extend(run)
                    i = self.ws(cut + 1)
                    continue
            if is_array:
                value, i = self.value(i)
                out.append(value)
            else:
                if not text.startswith('"', i):
                    raise json.JSONDecodeError(
                        "Expecting property name enclosed in double quotes", text, i
                    )
                key, i = self.scan(text, i)
                i = self.ws(i)
                if not text.startswith(":", i):
                    raise json.JSONDecodeError("Expecting ':' delimiter", text, i)
                out[key], i = self.value(self.ws(i + 1))
            i = self.ws(i)
            if text.startswith(",", i):
                i = self.ws(i + 1)
            elif text.startswith(close, i):
                return out, i + 1
            else:
                raise json.JSONDecodeError("Expecting ',' delimiter", text, i)


def dumps(obj: Any, *, small: bool = False) -> str:
    """``json.dumps(obj, ensure_ascii=False, separators=(",", ":"))``, long lists a block of
    elements at a time; ``small``: `obj` holds no more than ``ITEMS`` values in all, so it is
    written in one call (the blocks cost more than they save)."""
    if small:
        return _encode(obj)
    parts: list[str] = []
    _write(obj, parts)
    return "".join(parts)


def _write(obj: Any, parts: list[str]) -> None:
    if isinstance(obj, dict) and all(isinstance(k, str) for k in obj):
        parts.append("{")
        for n, (key, value) in enumerate(obj.items()):
            parts.append(("," if n else "") + _encode(key) + ":")
            _write(value, parts)
        parts.append("}")
    elif isinstance(obj, (list, tuple)) and obj and isinstance(obj[0], (dict, list, tuple)):
        parts.append("[")
        for n, value in enumerate(obj):
            if n:
                parts.append(",")
            _write(value, parts)
        parts.append("]")
    elif isinstance(obj, (list, tuple)) and len(obj) > ITEMS:
        parts.append("[")
        for start in range(0, len(obj), ITEMS):
            if start:
                parts.append(",")
            parts.append(_encode(obj[start : start + ITEMS])[1:-1])
        parts.append("]")
    else:
        parts.append(_encode(obj))
