"""Run search on SQLite and PostgreSQL against a brute-force Python oracle over random runs and
random filters (fresh seeds each time), plus malformed filters and injection attempts."""

from __future__ import annotations

import re
import sqlite3

import pytest
from sqlalchemy.dialects import sqlite as sqlite_dialect

from seawall.errors import InvalidInputError
from seawall.registry import _search
from seawall.registry._schema import runs as runs_table

PARAM_VALUES = {"lr": ["0.1", "0.01", "0.2", "1e-3"], "kind": ["gbm", "GBM", "it's", "mlp_2"]}
TAG_VALUES = {"team": ["risk", "Risk-EU", "ops", "data%", "a_b"], "note": ["x", "long note"]}
STATUSES = ["FINISHED", "FAILED", "RUNNING"]


def _make_runs(reg, rng, n):
    """n runs in two experiments with random subsets of params, metrics and tags."""
    truth = []
    for i in range(n):
        experiment = "exp-a" if rng.random() < 0.7 else "exp-b"
        run = reg.start_run(experiment=experiment)
        params = {k: str(rng.choice(v)) for k, v in PARAM_VALUES.items() if rng.random() < 0.8}
        tags = {k: str(rng.choice(v)) for k, v in TAG_VALUES.items() if rng.random() < 0.7}
        metrics = {}
        for key in ("auc", "loss", "with space"):
            if rng.random() < 0.8:
                # A few repeated values so '=' and ties in ordering happen.
                value = (
                    float(rng.choice([0.5, 0.75])) if rng.random() < 0.2 else float(rng.random())
                )
                metrics[key] = value
        steps = [(k, float(rng.random()), 0) for k in metrics]  # older points, overwritten
        run.log_batch(steps + [(k, v, 1) for k, v in metrics.items()], params=params, tags=tags)
        status = STATUSES[i % 3]
        if status != "RUNNING":
            run.end(status)
        truth.append(
            {
                "index": i,
                "id": run.id,
                "experiment": experiment,
                "metrics": metrics,
                "params": params,
                "tags": tags,
                "attributes": {
                    "run_id": run.id,
                    "name": None,
                    "status": status,
                    "start_time": run.start_time,
                    "end_time": run.end_time,
                },
            }
        )
    return truth


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _like(pattern: str, value: str, ignore_case: bool) -> bool:
    regex, escaped = "", False
    for c in pattern:
        if escaped:
            regex, escaped = regex + re.escape(c), False
        elif c == "\\":
            escaped = True
        else:
            regex += ".*" if c == "%" else "." if c == "_" else re.escape(c)
    return (
        re.fullmatch(regex, value, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)
        is not None
    )


def _leaf(rng, truth):
    """(filter text, predicate on a truth record) for one random comparison."""
    choice = rng.integers(8)
    if choice <= 2:
        key = str(rng.choice(["auc", "loss", "with space"]))
        op = str(rng.choice(["=", "!=", "<", "<=", ">", ">="]))
        seen = [r["metrics"][key] for r in truth if key in r["metrics"]]
        value = float(rng.choice(seen)) if seen and rng.random() < 0.5 else float(rng.random())
        name = f"metrics.`{key}`" if " " in key else f"metrics.{key}"
        compare = {
            "=": lambda a, b: a == b,
            "!=": lambda a, b: a != b,
            "<": lambda a, b: a < b,
            "<=": lambda a, b: a <= b,
            ">": lambda a, b: a > b,
            ">=": lambda a, b: a >= b,
        }[op]
        return (
            f"{name} {op} {value!r}",
            lambda r: key in r["metrics"] and compare(r["metrics"][key], value),
        )
    if choice == 3:
        key = str(rng.choice(list(PARAM_VALUES)))
        value = str(rng.choice(PARAM_VALUES[key]))
        op = str(rng.choice(["=", "!="]))
        return (
            f"params.{key} {op} {_quote(value)}",
            lambda r: key in r["params"] and ((r["params"][key] == value) == (op == "=")),
        )
    if choice == 4:
        key = str(rng.choice(list(PARAM_VALUES)))
        values = [str(v) for v in rng.choice(PARAM_VALUES[key], size=2, replace=False)]
        negate = bool(rng.random() < 0.5)
        text = f"params.{key} {'not in' if negate else 'in'} ({', '.join(map(_quote, values))})"
        present = lambda r: key in r["params"] and r["params"][key] in values  # noqa: E731
        return text, (lambda r: not present(r)) if negate else present
    if choice == 5:
        key = str(rng.choice(list(TAG_VALUES)))
        pattern = str(
            rng.choice(["r%", "%risk%", "%-__", "data%", "a_b", "%", "ops", "%\\%", "a\\_b"])
        )
        op = str(rng.choice(["like", "ilike"]))
        negate = bool(rng.random() < 0.3)
        text = f"tags.{key} {'not ' if negate else ''}{op} {_quote(pattern)}"
        present = lambda r: key in r["tags"] and _like(pattern, r["tags"][key], op == "ilike")  # noqa: E731
        return text, (lambda r: not present(r)) if negate else present
    if choice == 6:
        entity, key = [("metrics", "auc"), ("params", "lr"), ("tags", "team")][rng.integers(3)]
        negate = bool(rng.random() < 0.5)
        text = f"{entity}.{key} is {'not ' if negate else ''}null"
        return text, lambda r: (key in r[entity]) == negate
    if rng.random() < 0.5:
        status = str(rng.choice(STATUSES))
        return (
            f"attributes.status = {_quote(status)}",
            lambda r: r["attributes"]["status"] == status,
        )
    field = str(rng.choice(["start_time", "end_time"]))
    times = sorted(r["attributes"]["start_time"] for r in truth)
    cut = times[rng.integers(len(times))]
    return (
        f"attributes.{field} >= {cut!r}",
        lambda r: r["attributes"][field] is not None and (r["attributes"][field] >= cut),
    )


def _random_filter(rng, truth, depth):
    if depth == 0 or rng.random() < 0.35:
        return _leaf(rng, truth)
    kind = rng.integers(3)
    if kind == 2:
        text, pred = _random_filter(rng, truth, depth - 1)
        return f"not ({text})", lambda r: not pred(r)
    parts = [_random_filter(rng, truth, depth - 1) for _ in range(int(rng.integers(2, 4)))]
    word = " and " if kind == 0 else " OR "
    text = word.join(f"({t})" for t, _ in parts)
    preds = [p for _, p in parts]
    if kind == 0:
        return text, lambda r: all(p(r) for p in preds)
    return text, lambda r: any(p(r) for p in preds)


def _oracle_order(records, order_by):
    # Newest first as the final tie-break, then each key from the last to the first (stable).
    out = sorted(records, key=lambda r: (r["attributes"]["start_time"], r["index"]), reverse=True)
    for entity, key, descending in reversed(order_by):
        present = [r for r in out if r[entity].get(key) is not None]
        absent = [r for r in out if r[entity].get(key) is None]
        present.sort(key=lambda r: r[entity][key], reverse=descending)
        out = present + absent
    return out


def test_search_matches_brute_force(reg, rng):
    truth = _make_runs(reg, rng, int(rng.integers(60, 120)))
    for _ in range(60):
        text, pred = _random_filter(rng, truth, depth=3)
        experiment = [None, "exp-a", ["exp-a", "exp-b"], "exp-b"][rng.integers(4)]
        order_by = []
        for _ in range(rng.integers(0, 3)):
            entity, key = [
                ("metrics", "auc"),
                ("metrics", "with space"),
                ("params", "kind"),
                ("tags", "team"),
                ("attributes", "start_time"),
            ][rng.integers(5)]
            order_by.append((entity, key, bool(rng.random() < 0.5)))
        max_results = int(rng.choice([1, 7, 1000]))
        pool = [
            r
            for r in truth
            if experiment is None
            or r["experiment"] == experiment
            or (isinstance(experiment, list) and r["experiment"] in experiment)
        ]
        expected = _oracle_order([r for r in pool if pred(r)], order_by)[:max_results]
        strings = [
            f"{e}.`{k}` {'DESC' if d else 'ASC'}" if " " in k else f"{e}.{k} {'desc' if d else ''}"
            for e, k, d in order_by
        ]
        got = reg.search_runs(experiment, filter=text, order_by=strings, max_results=max_results)
        assert [r.id for r in got] == [r["id"] for r in expected], (text, strings)
    # Found runs carry their data.
    some = reg.search_runs(max_results=5)
    by_id = {r["id"]: r for r in truth}
    for run in some:
        assert run.params == by_id[run.id]["params"]
        assert run.metrics == by_id[run.id]["metrics"]
        assert run.tags == by_id[run.id]["tags"]


def test_search_runs_in_sql_not_python(tmp_path, rng):
    """The filter becomes one SQL statement with bound parameters: the SQL text holds no value
    or key from the filter, and SQLite's plan for the metric filter uses the index."""
    tree = _search.parse_filter("metrics.auc > 0.8 and params.lr = '0.1' or tags.`x y` like 'a%'")
    sql = str(
        __import__("sqlalchemy")
        .select(runs_table.c.id)
        .where(_search.compile_filter(tree))
        .compile(dialect=sqlite_dialect.dialect())
    )
    for literal in ("0.8", "auc", "'0.1'", "lr", "x y", "a%"):
        assert literal not in sql
    from seawall.registry import Registry

    reg = Registry(tmp_path / "r.db", artifacts=tmp_path / "a")
    truth = _make_runs(reg, rng, 5)
    assert truth
    db = sqlite3.connect(tmp_path / "r.db")
    plan = db.execute(
        "EXPLAIN QUERY PLAN SELECT run_id FROM latest_metrics WHERE key = ? AND value > ?",
        ("auc", 0.8),
    ).fetchall()
    assert any("ix_latest_metrics_key_value" in row[-1] for row in plan), plan


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("metrics.auc >", "expected a number or a quoted string"),
        ("metrics.auc > 'high'", "is a number"),
        ("params.lr > '0.1'", "is a string"),
        ("params.lr = 0.1", "quote the value"),
        ("auc > 0.8", "unknown field"),
        ("metricz.auc > 0.8", "unknown field"),
        ("metrics > 0.8", "must be followed by '.'"),
        ("attributes.color = 'red'", "unknown attribute"),
        ("metrics.auc > 0.8 and", "expected a field"),
        ("metrics.auc > 0.8 params.lr = '1'", "join conditions"),
        ("(metrics.auc > 0.8", "expected ')'"),
        ("metrics.auc > 0.8)", "unexpected ')'"),
        ("params.lr in '0.1'", "expected '('"),
        ("params.lr in ('0.1' '0.2')", "expected ',' or ')'"),
        ("metrics.auc in (1, 2)", "is a number"),
        ("metrics.auc like 'a%'", "is a number"),
        ("params.lr = '0.1", "unexpected character"),
        ("metrics.auc ~ 3", "unexpected character"),
        ("metrics.auc is 3", "expected 'null'"),
        ("params.lr not = '1'", "expected 'in', 'like' or 'ilike'"),
        ("metrics.`` > 1", "empty key"),
        ("tags.t like 'ab\\'", "lone"),
        ("params.lr = '1'; DROP TABLE runs", "unexpected character"),
    ],
)
def test_malformed_filters_name_the_problem(reg, text, message):
    with pytest.raises(InvalidInputError, match=re.escape(message)) as info:
        reg.search_runs(filter=text)
    assert "position" in str(info.value)


@pytest.mark.parametrize(
    "order_by", ["metrics.auc sideways", "auc DESC", 5, ["metrics.auc", None], "params.lr desc x"]
)
def test_malformed_order_by(reg, order_by):
    with pytest.raises(InvalidInputError):
        reg.search_runs(order_by=order_by)


@pytest.mark.parametrize("max_results", [0, -1, 1.5, True, "10"])
def test_bad_max_results(reg, max_results):
    with pytest.raises(InvalidInputError):
        reg.search_runs(max_results=max_results)


def test_injection_attempts_are_plain_values(reg):
    nasty = "0.1'; DROP TABLE runs; --"
    with reg.start_run(experiment="e") as run:
        run.log_params({"lr": nasty, "x": "1"})
        run.set_tag("q", "a' OR '1'='1")
    found = reg.search_runs("e", filter=f"params.lr = {_quote(nasty)}")
    assert [r.id for r in found] == [run.id]
    assert reg.search_runs("e", filter="params.lr = '0.1'' OR ''1''=''1'") == []
    assert reg.search_runs("e", filter="tags.q = 'a'' OR ''1''=''1'")[0].id == run.id
    assert reg.search_runs("e", filter="params.`lr'; DROP TABLE runs; --` = 'x'") == []
    assert len(reg.search_runs("e")) == 1  # the table is still there


def test_pages_concatenate_to_the_whole_result(reg, rng):
    # The whole result's order is checked against the oracle above; pages must cut it exactly.
    truth = _make_runs(reg, rng, int(rng.integers(30, 60)))
    for _ in range(8):
        text, _pred = _random_filter(rng, truth, depth=2)
        order_by = [["metrics.auc desc"], ["params.kind", "tags.team DESC"], None][rng.integers(3)]
        whole = reg.search_runs(filter=text, order_by=order_by)
        assert whole.token is None
        expected = [r.id for r in whole]
        size = int(rng.integers(1, 8))
        pages, token = [], None
        while True:
            page = reg.search_runs(
                filter=text, order_by=order_by, max_results=size, page_token=token
            )
            pages.append([r.id for r in page])
            token = page.token
            if token is None:
                break
            assert len(page) == size  # only the last page may be short
        assert len(pages[-1]) <= size
        assert [i for p in pages for i in p] == expected
        assert len(pages) == max(1, -(-len(expected) // size))


def test_pages_stay_exact_while_runs_come_and_go(reg, rng):
    """Between two pages, runs are started (sorting before, after and among the page's end) and
    deleted (seen already or not): no run comes twice, every page keeps the search's order
    (the oracle's, of the runs there at that time), and every run that was there throughout is
    found exactly once."""
    truth = _make_runs(reg, rng, int(rng.integers(20, 40)))
    order_by = [None, ["params.kind"], ["metrics.auc desc", "tags.team"]][rng.integers(3)]
    parsed = [
        (f.split(".")[0], f.split(".")[1].split()[0], f.endswith("desc")) for f in (order_by or [])
    ]
    before = {r["id"] for r in truth}
    deleted: set[str] = set()
    found, token = [], None
    while True:
        page = reg.search_runs(
            order_by=order_by, max_results=int(rng.integers(1, 5)), page_token=token
        )
        live = [r for r in truth if r["id"] not in deleted]
        rank = {r["id"]: i for i, r in enumerate(_oracle_order(live, parsed))}
        assert [rank[r.id] for r in page] == sorted(rank[r.id] for r in page)
        found += [r.id for r in page]
        token = page.token
        if token is None:
            break
        truth += [{**r, "index": len(truth) + i} for i, r in enumerate(_make_runs(reg, rng, 2))]
        if rng.random() < 0.5:
            gone = truth[int(rng.integers(len(truth)))]["id"]
            if gone not in deleted:
                reg.delete_run(gone)
                deleted.add(gone)
    assert len(found) == len(set(found))
    assert before - deleted <= set(found) <= {r["id"] for r in truth}


def test_bad_page_tokens_are_refused(reg):
    for _ in range(3):
        reg.start_run(experiment="exp-a").end()
    page = reg.search_runs("exp-a", max_results=1)
    assert page.token is not None
    with pytest.raises(InvalidInputError, match="another search"):
        reg.search_runs("exp-b", max_results=1, page_token=page.token)
    with pytest.raises(InvalidInputError, match="another search"):
        reg.search_runs("exp-a", filter="metrics.auc > 0", max_results=1, page_token=page.token)
    for bad in ["", "not a token", "e30=", 7, page.token[:-4]]:
        with pytest.raises(InvalidInputError, match="page_token"):
            reg.search_runs("exp-a", max_results=1, page_token=bad)
    # The same search with its own token gets the next page, then the last.
    second = reg.search_runs("exp-a", max_results=1, page_token=page.token)
    third = reg.search_runs("exp-a", max_results=1, page_token=second.token)
    assert third.token is None
    assert len({r.id for r in [*page, *second, *third]}) == 3
