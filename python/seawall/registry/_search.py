"""Run search filters and orderings, parsed into SQLAlchemy expressions (never into SQL text).

Grammar (keywords are case-insensitive)::

    filter     := or_expr
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := unary ("and" unary)*
    unary      := "not" unary | "(" or_expr ")" | comparison
    comparison := field op value
                | field ["not"] "in" "(" value ("," value)* ")"
                | field ["not"] ("like" | "ilike") string
                | field "is" ["not"] "null"
    field      := ("metrics" | "params" | "tags" | "attributes") "." key
    key        := [A-Za-z0-9_][A-Za-z0-9_.\\-/:]* | `any text` | "any text"
    op         := "=" | "!=" | "<>" | "<" | "<=" | ">" | ">="
    value      := number | 'string' | "string"     (a quote inside is written twice)

In like patterns ``%`` is any text, ``_`` any one character, and ``\\`` makes the next character
literal (``'100\\%'``). ``metrics.k`` is the run's newest value of metric k (greatest step, then
timestamp) and compares with numbers; ``params.k`` and ``tags.k`` are strings (=, !=, in, like, ilike); attributes are
``run_id``, ``name``, ``status`` (strings) and ``start_time``, ``end_time`` (numbers, seconds).
A comparison on a key a run does not have is false (so ``not`` of it is true); ``is null`` is
true exactly when the run lacks the key. Every key and value is a bound parameter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, not_, or_, select

from ..errors import InvalidInputError
from . import _pages
from ._pages import Page
from ._schema import latest_metrics, params, runs, tags

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<lpar>\() | (?P<rpar>\)) | (?P<comma>,)
  | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![A-Za-z0-9_.]))
  | (?P<string>'(?:[^']|'')*'|"(?:[^"]|"")*")
  | (?P<backtick>`(?:[^`]|``)*`)
  | (?P<word>[A-Za-z0-9_][A-Za-z0-9_.\-/:]*)
    """,
    re.VERBOSE,
)

ENTITIES = {
    "metric": "metrics",
    "metrics": "metrics",
    "param": "params",
    "params": "params",
    "parameter": "params",
    "parameters": "params",
    "tag": "tags",
    "tags": "tags",
    "attribute": "attributes",
    "attributes": "attributes",
    "attr": "attributes",
    "run": "attributes",
}
STRING_ATTRIBUTES = {"run_id": runs.c.uuid, "name": runs.c.name, "status": runs.c.status}
NUMBER_ATTRIBUTES = {"start_time": runs.c.start_time, "end_time": runs.c.end_time}
_ATTRIBUTE_ALIASES = {"run_name": "name", "id": "run_id"}
_KEYWORDS = {"and", "or", "not", "in", "like", "ilike", "is", "null", "asc", "desc"}


@dataclass
class _Tok:
    kind: str
    text: str
    pos: int


def _tokens(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise InvalidInputError(
                f"filter: unexpected character {text[pos]!r} at position {pos}: {_point(text, pos)}"
            )
        kind = m.lastgroup
        assert kind is not None
        if kind != "ws":
            out.append(_Tok(kind, m.group(), pos))
        pos = m.end()
    out.append(_Tok("end", "", len(text)))
    return out


def _point(text: str, pos: int) -> str:
    return f"{text[:pos]} >>>{text[pos:]}"


@dataclass(frozen=True)
class Field:
    entity: str  # metrics, params, tags, attributes
    key: str

    @property
    def numeric(self) -> bool:
        return self.entity == "metrics" or (
            self.entity == "attributes" and self.key in NUMBER_ATTRIBUTES
        )

    def __str__(self) -> str:
        return f"{self.entity}.{self.key}"


class _Parser:
    def __init__(self, text: str, what: str) -> None:
        self.text = text
        self.what = what
        self.toks = _tokens(text)
        self.i = 0

    # --- helpers ---

    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def fail(self, message: str, tok: _Tok | None = None) -> InvalidInputError:
        at = (tok or self.tok).pos
        return InvalidInputError(
            f"{self.what}: {message} at position {at}: {_point(self.text, at)}"
        )

    def is_word(self, *words: str) -> bool:
        return self.tok.kind == "word" and self.tok.text.lower() in words

    def take(self) -> _Tok:
        tok = self.tok
        self.i += 1
        return tok

    def expect_word(self, word: str) -> None:
        if not self.is_word(word):
            raise self.fail(f"expected {word!r}, found {self._found()}")
        self.take()

    def _found(self) -> str:
        return "the end of the filter" if self.tok.kind == "end" else repr(self.tok.text)

    # --- grammar ---

    def field(self) -> Field:
        tok = self.tok
        if tok.kind != "word":
            raise self.fail(
                f"expected a field such as metrics.auc or params.lr, found {self._found()}"
            )
        self.take()
        entity_text, dot, key = tok.text.partition(".")
        entity = ENTITIES.get(entity_text.lower())
        if entity is None:
            raise self.fail(
                f"unknown field {tok.text!r}: fields start with metrics., params., tags. or "
                "attributes.",
                tok,
            )
        if not dot:
            raise self.fail(f"{entity_text!r} must be followed by '.' and a key", tok)
        if not key:  # quoted key: metrics.`my metric` or metrics."my metric"
            if self.tok.kind not in ("backtick", "string") or self.tok.pos != tok.pos + len(
                tok.text
            ):
                raise self.fail(f"expected a key after {tok.text!r}")
            quoted = self.take().text
            key = quoted[1:-1].replace(quoted[0] * 2, quoted[0])
            if not key:
                raise self.fail("empty key", tok)
        if entity == "attributes":
            key = _ATTRIBUTE_ALIASES.get(key, key)
            if key not in STRING_ATTRIBUTES and key not in NUMBER_ATTRIBUTES:
                known = ", ".join(sorted([*STRING_ATTRIBUTES, *NUMBER_ATTRIBUTES]))
                raise self.fail(f"unknown attribute {key!r} (attributes: {known})", tok)
        return Field(entity, key)

    def value(self) -> tuple[str, Any]:
        tok = self.tok
        if tok.kind == "number":
            self.take()
            return "number", float(tok.text)
        if tok.kind == "string":
            self.take()
            q = tok.text[0]
            return "string", tok.text[1:-1].replace(q * 2, q)
        raise self.fail(f"expected a number or a quoted string, found {self._found()}")

    def or_expr(self) -> Any:
        items = [self.and_expr()]
        while self.is_word("or"):
            self.take()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else ("or", items)

    def and_expr(self) -> Any:
        items = [self.unary()]
        while self.is_word("and"):
            self.take()
            items.append(self.unary())
        return items[0] if len(items) == 1 else ("and", items)

    def unary(self) -> Any:
        if self.is_word("not"):
            self.take()
            return ("not", self.unary())
        if self.tok.kind == "lpar":
            self.take()
            inner = self.or_expr()
            if self.tok.kind != "rpar":
                raise self.fail(f"expected ')', found {self._found()}")
            self.take()
            return inner
        return self.comparison()

    def comparison(self) -> Any:
        start = self.tok
        field = self.field()
        negate = False
        if self.is_word("is"):
            self.take()
            if self.is_word("not"):
                self.take()
                negate = True
            self.expect_word("null")
            return ("isnull", field, negate)
        if self.is_word("not"):
            self.take()
            negate = True
            if not self.is_word("in", "like", "ilike"):
                raise self.fail(
                    f"expected 'in', 'like' or 'ilike' after 'not', found {self._found()}"
                )
        if self.is_word("in"):
            self.take()
            if field.numeric:
                raise self.fail(f"{field} is a number: compare it with =, !=, <, <=, >, >=", start)
            if self.tok.kind != "lpar":
                raise self.fail(f"expected '(' after 'in', found {self._found()}")
            self.take()
            values = [self._string(field)]
            while self.tok.kind == "comma":
                self.take()
                values.append(self._string(field))
            if self.tok.kind != "rpar":
                raise self.fail(f"expected ',' or ')', found {self._found()}")
            self.take()
            return ("in", field, values, negate)
        if self.is_word("like", "ilike"):
            op = self.take().text.lower()
            if field.numeric:
                raise self.fail(f"{field} is a number: {op} compares strings", start)
            at = self.tok
            pattern = self._string(field)
            if ends_with_lone_escape(pattern):
                raise self.fail(LONE_ESCAPE, at)
            return (op, field, pattern, negate)
        if self.tok.kind != "op":
            raise self.fail(
                f"expected a comparison (=, !=, <, <=, >, >=, in, like, ilike, is null) after "
                f"{field}, found {self._found()}"
            )
        op = self.take().text
        op = "!=" if op == "<>" else op
        kind, value = self.value()
        if field.numeric and kind != "number":
            raise self.fail(f"{field} is a number, compared with the string {value!r}", start)
        if not field.numeric and kind != "string":
            raise self.fail(
                f"{field} is a string: quote the value ({field} {op} '{self.toks[self.i - 1].text}')",
                start,
            )
        if not field.numeric and op not in ("=", "!="):
            raise self.fail(
                f"{field} is a string: compare it with =, !=, in, like or ilike, not {op}", start
            )
        return ("cmp", field, op, value)

    def _string(self, field: Field) -> str:
        kind, value = self.value()
        if kind != "string":
            raise self.fail(f"{field} is a string: quote the values")
        return str(value)

    def parse(self) -> Any:
        if self.tok.kind == "end":
            return None
        tree = self.or_expr()
        if self.tok.kind != "end":
            raise self.fail(f"unexpected {self._found()} (join conditions with 'and' or 'or')")
        return tree


LONE_ESCAPE = "a like pattern cannot end with a lone '\\' (it escapes the next character)"


def ends_with_lone_escape(pattern: str) -> bool:
    return re.search(r"(?<!\\)(\\\\)*\\$", pattern) is not None


def parse_filter(text: str) -> Any:
    """The filter's syntax tree (None for an empty filter); InvalidInputError naming the problem."""
    if not isinstance(text, str):
        raise InvalidInputError(f"a filter must be a string, got {type(text).__name__}")
    return _Parser(text, "filter").parse()


_COMPARE = {
    "=": lambda c, v: c == v,
    "!=": lambda c, v: c != v,
    "<": lambda c, v: c < v,
    "<=": lambda c, v: c <= v,
    ">": lambda c, v: c > v,
    ">=": lambda c, v: c >= v,
}


def _keyed(field: Field) -> tuple[Any, Any]:
    table = {"metrics": latest_metrics, "params": params, "tags": tags}[field.entity]
    return table, table.c.value


def _condition(field: Field, build: Any) -> ColumnElement[bool]:
    """The SQL for `field <something>`: an EXISTS on the key's row for metrics, params and tags
    (false when the run lacks the key); a column test for attributes (false on NULL)."""
    if field.entity == "attributes":
        column = STRING_ATTRIBUTES.get(field.key, NUMBER_ATTRIBUTES.get(field.key))
        assert column is not None
        return and_(column.is_not(None), build(column))
    table, value = _keyed(field)
    return exists(
        select(1).where(table.c.run_id == runs.c.id, table.c.key == field.key, build(value))
    )


def compile_filter(tree: Any) -> ColumnElement[bool]:
    kind = tree[0]
    if kind == "and":
        return and_(*(compile_filter(t) for t in tree[1]))
    if kind == "or":
        return or_(*(compile_filter(t) for t in tree[1]))
    if kind == "not":
        return not_(compile_filter(tree[1]))
    if kind == "cmp":
        _, field, op, value = tree
        return _condition(field, lambda c: _COMPARE[op](c, value))
    if kind == "in":
        _, field, values, negate = tree
        cond = _condition(field, lambda c: c.in_(values))
        return not_(cond) if negate else cond
    if kind in ("like", "ilike"):
        _, field, pattern, negate = tree
        cond = _condition(
            field,
            (lambda c: c.like(pattern, escape="\\"))
            if kind == "like"
            else (lambda c: c.ilike(pattern, escape="\\")),
        )
        return not_(cond) if negate else cond
    if kind == "isnull":
        _, field, negate = tree
        present = _condition(field, lambda c: c.is_not(None))
        return present if negate else not_(present)
    raise AssertionError(kind)  # pragma: no cover


def parse_order_by(items: Any) -> list[tuple[Field, bool]]:
    """[(field, descending)] from strings such as "metrics.auc DESC" or "params.lr"."""
    if items is None:
        return []
    if isinstance(items, str):
        items = [items]
    if not isinstance(items, (list, tuple)):
        raise InvalidInputError(
            f"order_by takes a string or a list of strings, got {type(items).__name__}"
        )
    out = []
    for item in items:
        if not isinstance(item, str):
            raise InvalidInputError(f"order_by takes strings, got {type(item).__name__}")
        parser = _Parser(item, "order_by")
        field = parser.field()
        descending = False
        if parser.is_word("asc", "desc"):
            descending = parser.take().text.lower() == "desc"
        if parser.tok.kind != "end":
            raise parser.fail(f"unexpected {parser._found()} (use 'field [ASC|DESC]')")
        out.append((field, descending))
    return out


def order_column(field: Field, postgres: bool) -> Any:
    """A sortable expression for a field: the value, or NULL when the run lacks the key."""
    column: Any
    if field.entity == "attributes":
        column = STRING_ATTRIBUTES.get(field.key, NUMBER_ATTRIBUTES.get(field.key))
    else:
        table, value = _keyed(field)
        column = (
            select(value)
            .where(table.c.run_id == runs.c.id, table.c.key == field.key)
            .scalar_subquery()
        )
    return column if field.numeric else by_bytes(column, postgres)


def by_bytes(column: Any, postgres: bool) -> Any:
    """A string column compared and sorted in byte order, as SQLite and Python do, whatever
    PostgreSQL's locale."""
    return column.collate("C") if postgres else column


__all__ = ["Field", "compile_filter", "order_column", "parse_filter", "parse_order_by"]


# --- pages ------------------------------------------------------------------------------------


class RunPage(Page[Any]):
    """One page of :meth:`Registry.search_runs`: a list of runs, and ``token``, which
    ``search_runs(..., page_token=token)`` turns into the next page (None on the last page)."""


def query_key(experiments: list[str] | None, filter: str | None, order_by: Any) -> str:
    """Identifies a search, so that a token is only ever used with the search that made it."""
    return _pages.query_key(experiments, filter, repr(order_by))


def page_token(last: list[Any], key: str) -> str:
    """The token of the page after the run sorted at `last` (its sort key: the values of
    each order_by field, then its start time and key)."""
    return _pages.keyset_token(key, last)


_VALUE = (str, int, float, type(None))


def page_after(token: Any, key: str, fields: int) -> tuple[Any, ...]:
    """The sort key a token from :func:`page_token` holds, after checking it."""
    return _pages.after_key(token, key, "search_runs", [_VALUE] * fields + [(int, float), int])


def after(columns: list[tuple[Any, bool]], last: tuple[Any, ...]) -> ColumnElement[bool]:
    """Rows sorted after `last` in the order of `columns` ((expression, descending), NULLs
    last either way): the first column where they differ is later."""
    later: list[ColumnElement[bool]] = []
    same: list[ColumnElement[bool]] = []
    for (column, descending), value in zip(columns, last, strict=True):
        if value is not None:  # nothing sorts after NULL, last in its column
            beyond = column < value if descending else column > value
            later.append(and_(*same, or_(beyond, column.is_(None))))
        same.append(column.is_(None) if value is None else column == value)
    return or_(false(), *later)
