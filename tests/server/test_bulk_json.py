"""seawall._server.bulk_json against the json module as the oracle: the same values from the same
text, the same text from the same values, and an error wherever json.loads raises one, on
generated documents (hypothesis) and on documents large enough to be split into blocks."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seawall._server import bulk_json

# Large enough that loads walks it and dumps writes it in blocks.
BIG = 5 * bulk_json.BLOCK

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(1 << 70), max_value=1 << 70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from(list(',[]{}":\\ ')))
)
documents = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=5), inner, max_size=5)
    ),
    max_leaves=40,
)


def padded(doc: Any, rng: np.random.Generator) -> Any:
    """`doc` inside a document over BIG characters: long arrays of numbers, strings and rows,
    split anywhere by the blocks."""
    n = BIG // 8
    return {
        "doc": doc,
        "numbers": rng.normal(size=n).round(int(rng.integers(1, 17))).tolist(),
        "ints": [*rng.integers(-(1 << 62), 1 << 62, n // 4).tolist(), 1 << 80, -(1 << 90)],
        "mixed": [doc, 1, "a,b]", [2, 3], {"k": "}{"}, None, True, 2.5e-300] * 200,
        "rows": rng.normal(size=(n // 16, 3)).tolist(),
        "strings": [f's{i},"]{i}' for i in range(n // 16)],
    }


@given(doc=documents, seed=st.integers(0, 2**32 - 1))
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_loads_and_dumps_agree_with_the_json_module(doc, seed):
    rng = np.random.default_rng(seed)
    small = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    assert bulk_json.dumps(doc, small=True) == small  # written in one call: the same text
    for value in (doc, padded(doc, rng)):
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        assert bulk_json.dumps(value) == text
        for form in (text, text.encode("utf-8"), json.dumps(value, indent=int(rng.integers(3)))):
            assert bulk_json.loads(form) == json.loads(form)


def test_large_documents_in_other_encodings_and_spacing(rng):
    value = padded({"é": "ü€𝄞"}, rng)
    for text in (json.dumps(value), json.dumps(value, indent=2), json.dumps(value, indent="\t")):
        for encoding in ("utf-8", "utf-16", "utf-32-le", "utf-8-sig"):
            data = text.encode(encoding)
            assert bulk_json.loads(data) == json.loads(data)
    with pytest.raises(json.JSONDecodeError, match="BOM"):
        bulk_json.loads("\ufeff" + json.dumps(value))


def corruptions(text: str, rng: np.random.Generator) -> list[str]:
    """Broken copies of `text`: a character dropped, swapped or added at random places, the end
    cut off, a trailing comma, extra data."""
    out = []
    for _ in range(30):
        i = int(rng.integers(len(text)))
        choice = rng.integers(3)
        if choice == 0:
            out.append(text[:i] + text[i + 1 :])
        elif choice == 1:
            out.append(text[:i] + str(rng.choice(list(',]}:"x-'))) + text[i + 1 :])
        else:
            out.append(text[:i] + str(rng.choice(list(',[{:"'))) + text[i:])
    out += [text[: len(text) // 2], text[:-1] + ",]", text + " 1", text.replace("1", "NaN", 1)]
    return out


def test_every_broken_document_is_an_error_as_for_json(rng):
    text = json.dumps(padded([1, "x"], rng))
    for broken in corruptions(text, rng):
        try:
            expected = json.loads(broken)
        except ValueError:
            with pytest.raises(ValueError):
                bulk_json.loads(broken)
        else:  # some changes keep it valid (a digit dropped): then the values agree
            assert bulk_json.loads(broken) == expected


def test_constants_numbers_and_nesting(rng):
    def reject(name: str) -> Any:
        raise ValueError(f"{name} is not valid JSON")

    numbers = [*rng.normal(size=BIG // 8).tolist(), math.nan]
    text = json.dumps({"data": numbers})  # NaN written as NaN, deep in the array
    assert math.isnan(bulk_json.loads(text)["data"][-1])
    with pytest.raises(ValueError, match="NaN is not valid JSON"):
        bulk_json.loads(text, parse_constant=reject)
    huge = "[" * 200_000 + "]" * 200_000  # as deep as json refuses: a RecursionError too
    with pytest.raises(RecursionError):
        json.loads(huge)
    with pytest.raises(RecursionError):
        bulk_json.loads(huge)
    exact = json.dumps({"d": [1e400, -1e400, 10**30, 0.1, 1e-320, -0.0] * (BIG // 20)})
    assert bulk_json.loads(exact) == json.loads(exact)
