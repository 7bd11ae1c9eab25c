"""DriftReport: dict/JSON round trip and the self-contained, escaped HTML."""

from __future__ import annotations

import dataclasses
import json
import re
from html.parser import HTMLParser

import numpy as np
import pytest

from seawall.drift import ColumnDrift, DriftReport, compare

_VOID = {"meta", "br", "img", "input", "link", "hr", "line", "rect"}


class _Checker(HTMLParser):
    """Collects tags and checks that every opened element is closed in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.errors: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in _VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if tag in _VOID and (not self.stack or self.stack[-1] != tag):
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}>, open: {self.stack[-3:]}")
            return
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def _check(html: str) -> _Checker:
    checker = _Checker()
    checker.feed(html)
    checker.close()
    assert not checker.errors, checker.errors[:3]
    assert checker.stack in ([], ["html"]) or not checker.stack, checker.stack
    return checker


EVIL = "<script>alert(1)</script>"


@pytest.fixture
def report(rng) -> DriftReport:
    n = 1500
    levels = np.array([f"level {i} & <b>" for i in range(30)], dtype=object)
    ref = {
        "x": rng.normal(size=n),
        EVIL: rng.normal(size=n),
        "few": rng.integers(0, 3, n),
        "cat": levels[rng.integers(0, 30, n)],
        'q"uote': rng.random(n) < 0.5,
    }
    cur = {
        "x": rng.normal(0.5, 1, 900),
        EVIL: rng.normal(size=900),
        "few": rng.integers(0, 4, 900),
        "cat": levels[rng.integers(0, 25, 900)],
        'q"uote': rng.random(900) < 0.6,
    }
    return compare(ref, cur)


def test_to_json_round_trips(report):
    data = json.loads(report.to_json())
    assert data == report.to_dict()
    assert data["number_of_columns"] == 5
    assert [c["column"] for c in data["columns"]] == [c.column for c in report.columns]
    assert data["drift_share"] == report.drift_share
    assert data["dataset_drift"] == report.dataset_drift
    x = data["columns"][0]
    assert set(x) >= {"kind", "method", "statistic", "pvalue", "threshold", "drifted"}
    assert json.loads(report.to_json(indent=2)) == data


def test_results_are_frozen(report):
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.columns[0].drifted = True  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.dataset_drift = True  # type: ignore[misc]
    assert isinstance(report.columns[0], ColumnDrift)


def test_html_is_self_contained_and_escaped(report, tmp_path):
    path = tmp_path / "drift.html"
    report.save_html(path)
    html = path.read_text(encoding="utf-8")
    checker = _check(html)
    for tag, attrs in checker.tags:
        for key in ("src", "href"):
            value = attrs.get(key) or ""
            assert not re.match(r"\s*(https?:)?//", value), (tag, key, value)
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html.lower()
    assert html.count("<svg") == len(report.columns)
    text = "".join(checker.text)
    for c in report.columns:
        assert c.column in text  # the parsed text holds the name, so the source escaped it
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "q&quot;uote" in html
    assert re.search(r"level \d+ &amp; &lt;b&gt;", html)
    assert "<b>" not in html
    # the summary table: one row per column plus the header, in column order
    rows = re.findall(r"<tr[ >]", html)
    assert len(rows) == len(report.columns) + 1


def test_category_plots_show_the_top_20(report):
    dist = report["cat"].distribution
    assert dist is not None and dist.kind == "bars"
    assert len(dist.bins) == 20 and dist.hidden == 10
    shown = np.array(dist.reference) + np.array(dist.current)
    assert np.all(np.diff(shown) <= 1e-15)  # most frequent first
    hist = report["x"].distribution
    assert hist is not None and hist.kind == "histogram"
    assert len(hist.bins) == len(hist.reference) + 1
    assert sum(hist.reference) == pytest.approx(1.0) and sum(hist.current) == pytest.approx(1.0)


def test_repr_html_has_the_same_content(report):
    fragment = report._repr_html_()
    _check(fragment)
    assert fragment.count("<svg") == len(report.columns)
    assert "&lt;script&gt;" in fragment
    assert "<html" not in fragment
    assert "DriftReport(" in repr(report)


def test_save_html_is_atomic_and_overwrites(report, tmp_path):
    path = tmp_path / "r.html"
    path.write_text("old")
    report.save_html(str(path))
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]
    with pytest.raises(OSError):
        report.save_html(tmp_path / "no" / "such" / "dir.html")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]
