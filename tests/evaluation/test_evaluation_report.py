"""An Evaluation as JSON (and back), as HTML (tables, inline SVG plots, escaped user strings,
no script), in a notebook, and as a summary."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import numpy as np
import pytest

from seawall.errors import InvalidInputError, MissingColumnError, UnsupportedVersionError
from seawall.evaluation import Bucket, Evaluation, evaluate


@pytest.fixture
def evaluation(rng) -> Evaluation:
    n = 3_000
    s = np.round(rng.random(n), 2)
    y = (rng.random(n) < s).astype(int)
    data = {
        "country": rng.choice(["FR", "<script>alert(1)</script>", "DE"], n),
        "amount": rng.lognormal(3, 1, n),
        "gender": rng.choice(["f", "m"], n),
    }
    return evaluate(
        s,
        data,
        y,
        slices=["country", Bucket("amount", 3)],
        sensitive="gender",
        bootstrap=30,
        seed=1,
    )


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)


def test_json_round_trip_keeps_every_number(evaluation):
    text = evaluation.to_json()
    document = json.loads(text)  # strict JSON: no NaN
    assert document["format"] == {"name": "seawall.Evaluation", "version": 1}
    back = Evaluation.from_json(text)
    assert back.to_json() == text
    assert back["roc_auc"] == evaluation["roc_auc"]
    assert back.slice("country")[0].key == evaluation.slice("country")[0].key
    assert back.slice(Bucket("amount", 3))[1].key == evaluation.slice(Bucket("amount", 3))[1].key
    assert back.fairness["gender"].groups == evaluation.fairness["gender"].groups
    with pytest.raises(InvalidInputError, match="not a seawall Evaluation"):
        Evaluation.from_json('{"format": {"name": "other"}}')
    with pytest.raises(UnsupportedVersionError):
        Evaluation.from_json(text.replace('"version": 1', '"version": 99', 1))
    with pytest.raises(MissingColumnError, match="no slicing 'channel'"):
        evaluation.slice("channel")


def test_html_has_tables_and_plots_and_escapes_user_strings(evaluation, tmp_path):
    path = tmp_path / "eval.html"
    evaluation.save_html(path)
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    tags = Tags()
    tags.feed(page)
    assert "script" not in tags.tags
    assert tags.tags.count("svg") >= 6  # ROC, PR, calibration, two slicings' bars, selection rates
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "ROC curve" in page and "Calibration" in page and "Fairness across gender" in page
    assert "http://" not in page.replace("http://www.w3.org", "") and "https://" not in page
    fragment = evaluation._repr_html_()
    assert fragment.startswith("<style>") and "<html" not in fragment


def test_summary_and_repr_name_the_figures(evaluation):
    text = evaluation.summary()
    assert f"roc_auc: {evaluation['roc_auc'].value:.4g}" in text
    assert "by country: 3 slices" in text
    assert "fairness by gender" in text
    assert repr(evaluation).startswith("Evaluation(binary, 3,000 rows: roc_auc=")


def test_html_lists_at_most_200_slices_and_says_how_many_more(rng):
    n = 5_000
    s = rng.random(n)
    ev = evaluate(
        s, {"id": np.arange(n) % 250}, (rng.random(n) < s).astype(int), slices=["id"], bootstrap=0
    )
    assert len(ev.slice("id")) == 250
    page = ev.to_html()
    assert "50 more slices in the JSON" in page
    assert page.count("<td>id=") == 200
