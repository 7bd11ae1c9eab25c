"""The schema model: edits and their checks, the saved JSON (round trip, newer versions, any
changed byte), and diffs."""

from __future__ import annotations

import json

import pytest

import seawall as sw
from seawall.contracts import ColumnSchema, Schema
from seawall.contracts.schema import FORMAT_VERSION
from seawall.errors import (
    IntegrityError,
    InvalidInputError,
    MissingColumnError,
    UnsupportedVersionError,
)


def example() -> Schema:
    s = Schema()
    s.add("amount", "float").range(0, None).max_missing(0.01).allow_nan(False).drift(jsd=0.1)
    s.add("count", "integer").range(-(2**63), 2**64 - 1).unique()
    s.add("merchant", "string").domain(["acme", "globex", "ünïcode"], max_off_domain=0.02).skew(
        linf=0.05
    )
    s.add("is_fraud", "boolean").min_present(1).not_in("SERVING").skew(linf=0.1)
    s.add("notes", None).optional()
    s.add("code", "string").distinct(2, 10).only_in("TRAINING", "SERVING")
    return s


def test_public_name():
    assert sw.Schema is Schema


def test_edits_are_read_back_and_chain():
    s = example()
    amount = s["amount"]
    assert (amount.lower, amount.upper) == (0, None)
    assert amount.min_fraction == pytest.approx(0.99) and amount.min_count == 1
    assert amount.nan_allowed is False and amount.inf_allowed is True
    assert s["count"].unique_values and s["count"].upper == 2**64 - 1
    assert s["merchant"].allowed_values == ("acme", "globex", "ünïcode")
    assert s["merchant"].max_off_domain == 0.02
    assert s["is_fraud"].not_in_environments == ("SERVING",)
    assert s["is_fraud"].required("TRAINING") and not s["is_fraud"].required("SERVING")
    assert not s["notes"].required()
    assert s["code"].in_environment("SERVING") and not s["code"].in_environment("SCORING")
    assert (s["code"].distinct_min, s["code"].distinct_max) == (2, 10)
    assert s.environments == ["SERVING", "TRAINING"]
    assert s.columns == ["amount", "count", "merchant", "is_fraud", "notes", "code"]
    assert "amount" in s and "nope" not in s and len(s) == 6


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda s: s["amount"].range(2, 1), "above the upper bound"),
        (lambda s: s["amount"].range(float("nan"), None), "finite"),
        (lambda s: s["amount"].range(float("inf"), None), "finite"),
        (lambda s: s["amount"].range("0", None), "a number"),
        (lambda s: s["merchant"].range(0, 1), "integer and float columns"),
        (lambda s: s["amount"].domain(["a"]), "string columns"),
        (lambda s: s["merchant"].domain("acme"), "not one string"),
        (lambda s: s["merchant"].domain(["a", "a"]), "repeats"),
        (lambda s: s["merchant"].domain([1]), "must be strings"),
        (lambda s: s["merchant"].domain(["\ud800"]), "not text"),
        (lambda s: s["merchant"].domain(["a"], max_off_domain=1.5), "from 0 to 1"),
        (lambda s: s["amount"].max_missing(-0.1), "from 0 to 1"),
        (lambda s: s["amount"].min_present(-1), "non-negative"),
        (lambda s: s["amount"].distinct(5, 2), "above max"),
        (lambda s: s["amount"].skew(linf=0.1), "category shares"),
        (lambda s: s["amount"].drift(jsd=-1), ">= 0"),
        (lambda s: s["amount"].not_in(""), "non-empty"),
        (lambda s: s.add("amount", "float"), "already has"),
        (lambda s: s.add("x", "datetime"), "type must be one of"),
    ],
)
def test_bad_edits_are_refused_naming_the_column(edit, words):
    s = example()
    before = s.to_dict()
    with pytest.raises(InvalidInputError, match=words):
        edit(s)
    assert s.to_dict() == before  # a refused edit changes nothing


def test_unknown_column_names_the_columns():
    with pytest.raises(MissingColumnError, match="'nope' is not in the schema"):
        example()["nope"]
    s = example()
    s.remove("notes")
    assert "notes" not in s


def test_save_load_round_trip(tmp_path):
    s = example()
    path = tmp_path / "schema.json"
    s.save(path)
    text = path.read_text(encoding="utf-8")
    doc = json.loads(text)
    assert doc["format"] == "seawall.schema" and doc["format_version"] == FORMAT_VERSION
    assert "ünïcode" in text  # human-readable, not escaped
    loaded = Schema.load(path)
    assert loaded == s and not s.diff(loaded)
    assert loaded["count"].upper == 2**64 - 1 and isinstance(loaded["count"].upper, int)
    assert Schema.from_dict(s.to_dict()) == s  # a dict without the hash is accepted


def test_newer_format_is_refused(tmp_path):
    doc = example().to_dict()
    doc["format_version"] = FORMAT_VERSION + 1
    from seawall._files import json_digest

    doc["sha256"] = json_digest(doc)
    path = tmp_path / "new.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(UnsupportedVersionError, match="upgrade seawall"):
        Schema.load(path)


def test_every_changed_byte_is_detected(tmp_path, rng):
    """Flipping any character of the saved file is an IntegrityError (or, where the change
    keeps valid JSON with the same meaning, loads the same schema): never another schema."""
    s = example()
    text = s.to_json()
    positions = rng.choice(len(text), size=min(400, len(text)), replace=False)
    for i in positions:
        c = text[i]
        for replacement in ("0" if c != "0" else "1", "x"):
            tampered = text[:i] + replacement + text[i + 1 :]
            try:
                loaded = Schema.from_json(tampered)
            except (IntegrityError, UnsupportedVersionError):
                continue
            assert loaded == s, (i, c, replacement)


def test_corrupted_files(tmp_path):
    path = tmp_path / "s.json"
    text = example().to_json()
    cases = {
        "truncated": text[: len(text) // 2],
        "not json": "hello",
        "empty": "",
        "no hash": json.dumps(example().to_dict()),
        "a list": "[]",
        "another format": json.dumps({"format": "seawall.pipeline", "format_version": 1}),
    }
    for label, body in cases.items():
        path.write_text(body)
        with pytest.raises(IntegrityError):
            Schema.load(path)
        assert label
    path.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(IntegrityError, match="not UTF-8"):
        Schema.load(path)


def test_malformed_fields_are_named():
    doc = example().to_dict()
    doc["columns"][1]["range"]["min"] = "zero"
    with pytest.raises(IntegrityError, match=r"column 'count': field 'range'"):
        Schema.from_dict(doc)
    doc = example().to_dict()
    del doc["columns"][2]["domain"]
    with pytest.raises(IntegrityError, match=r"'domain' is missing"):
        Schema.from_dict(doc)
    doc = example().to_dict()
    doc["columns"].append(doc["columns"][0])
    with pytest.raises(IntegrityError, match="twice"):
        Schema.from_dict(doc)
    doc = example().to_dict()
    doc["columns"][0]["allow_nan"] = "no"
    with pytest.raises(IntegrityError, match="allow_nan"):
        Schema.from_dict(doc)


def test_diff_names_each_change():
    a = example()
    b = a.copy()
    assert not a.diff(b) and str(a.diff(b)) == "no changes"
    b["amount"].range(0, 1000).allow_nan(True)
    b["merchant"].domain(["acme"])
    b.remove("notes")
    b.add("country", "string")
    d = a.diff(b)
    found = {(c.column, c.field): (c.before, c.after) for c in d}
    assert found[("amount", "range.max")] == (None, 1000)
    assert found[("amount", "allow_nan")] == (False, True)
    assert found[("merchant", "domain.values")] == (["acme", "globex", "ünïcode"], ["acme"])
    assert d.removed == ["notes"] and d.added == ["country"]
    assert len(d) == len(found)
    assert "amount.range.max: None -> 1000" in str(d)
    assert b.diff(a).added == ["notes"]
    with pytest.raises(InvalidInputError):
        a.diff({})  # type: ignore[arg-type]


def test_column_schema_copy_and_equality():
    c = ColumnSchema("x", "float").range(1.5, 2.5)
    d = c.copy()
    assert c == d and c is not d
    d.range(0, 1)
    assert c != d


def test_environment_typos_are_caught():
    s = example()
    with pytest.raises(InvalidInputError, match="SERVNIG"):
        s.validate({"amount": [1.0]}, environment="SERVNIG")
