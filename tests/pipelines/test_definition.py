"""Defining steps and pipelines: declared inputs and outputs, the code hash, the DAG and its
errors (cycles named at definition time)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pipeline_helpers import load_module

import seawall
from seawall.errors import DTypeError, InvalidInputError, PipelineCycleError
from seawall.pipelines import Pipeline, Step, step


def make(name: str, inputs: list[str], outputs: list[str]) -> Step:
    """A step taking `inputs` and making `outputs`, built without writing a function by hand."""
    params = ", ".join(inputs)
    namespace: dict[str, object] = {}
    exec(f"def {name}({params}):\n    return None\n", namespace)
    return step(namespace[name], outputs=outputs)  # type: ignore[arg-type]


# --- steps ------------------------------------------------------------------------------------


def test_step_declares_inputs_and_outputs_from_the_function() -> None:
    @seawall.step
    def features(table, n_bins=10):
        return table

    assert isinstance(features, Step)
    assert features.name == "features"
    assert features.inputs == {"table": "table", "n_bins": "n_bins"}
    assert features.outputs == ("features",)
    assert features.defaults() == {"n_bins": 10}
    assert features("t") == "t"  # still callable as the function


def test_step_options_rename_inputs_and_name_outputs() -> None:
    @seawall.step(name="split_data", inputs={"table": "clean"}, outputs=("train", "test"))
    def split(table, fraction=0.2):
        return table, table

    assert split.name == "split_data"
    assert split.inputs == {"table": "clean", "fraction": "fraction"}
    assert split.outputs == ("train", "test")

    @seawall.step(inputs=["a", "b"], outputs="c", version=3, retries=2, backoff=0.5)
    def add(x, y):
        return x + y

    assert add.inputs == {"x": "a", "y": "b"}
    assert add.outputs == ("c",)
    assert (add.version, add.retries, add.backoff) == ("3", 2, 0.5)
    assert [add.retry_delay(k) for k in (2, 3, 4)] == [0.5, 1.0, 2.0]


@pytest.mark.parametrize(
    ("source", "options", "error", "match"),
    [
        ("def f(*args): pass", {}, InvalidInputError, "variadic positional"),
        ("def f(**kw): pass", {}, InvalidInputError, "variadic keyword"),
        ("def f(a, /): pass", {}, InvalidInputError, "positional-only"),
        ("def f(a): pass", {"inputs": {"b": "x"}}, InvalidInputError, "no parameters"),
        ("def f(a, b): pass", {"inputs": ["x"]}, InvalidInputError, "needs 2 names"),
        ("def f(a, b): pass", {"inputs": ["x", "x"]}, InvalidInputError, "same data twice"),
        ("def f(a): pass", {"outputs": ["y", "y"]}, InvalidInputError, "output twice"),
        ("def f(a): pass", {"outputs": ["bad name"]}, InvalidInputError, "invalid output"),
        ("def f(a): pass", {"name": "../x"}, InvalidInputError, "invalid step name"),
        ("def f(a): pass", {"version": 1.5}, InvalidInputError, "version"),
        ("def f(a): pass", {"retries": -1}, InvalidInputError, "retries"),
        ("def f(a): pass", {"backoff": float("nan")}, InvalidInputError, "backoff"),
        ("def f(a): pass", {"cache": "yes"}, InvalidInputError, "cache"),
    ],
)
def test_bad_step_definitions_are_typed_errors(source, options, error, match) -> None:
    namespace: dict[str, object] = {}
    exec(source, namespace)
    with pytest.raises(error, match=match):
        step(namespace["f"], **options)  # type: ignore[arg-type]


def test_a_step_is_made_from_a_function() -> None:
    with pytest.raises(DTypeError, match="Python function"):
        step(print)  # type: ignore[arg-type]


def test_code_hash_ignores_decorator_docstring_and_layout_but_not_the_body(tmp_path) -> None:
    a = load_module(
        tmp_path / "hash_a.py",
        """
        import seawall

        @seawall.step(retries=1)
        def f(x):
            return x + 1
        """,
    )
    b = load_module(
        tmp_path / "hash_b.py",
        """
        import seawall

        # a comment
        @seawall.step(retries=3, backoff=2.0)
        def f(x):
            '''Adds one.'''
            return (x
                    + 1)  # same code, laid out differently
        """,
    )
    c = load_module(
        tmp_path / "hash_c.py",
        """
        import seawall

        @seawall.step(retries=1)
        def f(x):
            return x + 2
        """,
    )
    assert a.f.code_sha256 == b.f.code_sha256
    assert a.f.code_sha256 != c.f.code_sha256


# --- pipelines --------------------------------------------------------------------------------


def test_pipeline_orders_steps_by_their_data_and_lists_its_parameters() -> None:
    steps = [
        make("report", ["model", "test"], ["report"]),
        make("train", ["train_rows", "lr"], ["model"]),
        make("split", ["clean"], ["train_rows", "test"]),
        make("clean", ["raw"], ["clean"]),
    ]
    pipe = Pipeline("demo", steps)
    assert [s.name for s in pipe.steps] == ["clean", "split", "train", "report"]
    assert sorted(pipe.params) == ["lr", "raw"]
    assert pipe.graph.upstream["report"] == {"train", "split"}
    assert pipe.graph.descendants("split") == {"train", "report"}


@pytest.mark.parametrize(
    ("steps", "cycle"),
    [
        ([("a", ["x"], ["x"])], ("a",)),
        ([("a", ["y"], ["x"]), ("b", ["x"], ["y"])], ("a", "b")),
        (
            [
                ("src", ["raw"], ["s"]),
                ("a", ["s", "z"], ["x"]),
                ("b", ["x"], ["y"]),
                ("c", ["y"], ["z"]),
                ("sink", ["y"], ["out"]),
            ],
            ("a", "b", "c"),
        ),
    ],
)
def test_a_cycle_is_a_typed_error_naming_it(steps, cycle) -> None:
    with pytest.raises(PipelineCycleError, match="cycle") as info:
        Pipeline("cyclic", [make(*s) for s in steps])
    assert isinstance(info.value, ValueError)
    assert info.value.cycle == cycle
    assert all(f"{name} (" in str(info.value) for name in cycle)


def test_the_cycle_message_says_which_data_closes_it() -> None:
    with pytest.raises(PipelineCycleError) as info:
        Pipeline("cyclic", [make("a", ["y"], ["x"]), make("b", ["x"], ["y"])])
    assert "a (y) -> b (x) -> a" in str(info.value)


def test_pipeline_definition_errors() -> None:
    a = make("a", ["raw"], ["x"])
    with pytest.raises(InvalidInputError, match="both make 'x'"):
        Pipeline("p", [a, make("b", ["raw"], ["x"])])
    with pytest.raises(InvalidInputError, match="two steps are named"):
        Pipeline("p", [a, make("a", ["x"], ["y"])])
    with pytest.raises(DTypeError, match=r"made with @seawall\.step"):
        Pipeline("p", [a, lambda x: x])  # type: ignore[list-item]
    with pytest.raises(InvalidInputError, match="at least one step"):
        Pipeline("p", [])
    with pytest.raises(InvalidInputError, match="list of steps"):
        Pipeline("p", a)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="pipeline name"):
        Pipeline("no spaces allowed", [a])


@st.composite
def dags(draw):
    """A random DAG: step i takes the outputs of some steps before it (and maybe a parameter),
    shuffled; plus, optionally, one back edge that closes a cycle."""
    n = draw(st.integers(1, 9))
    takes = [
        sorted(draw(st.sets(st.integers(0, i - 1), max_size=3))) if i else [] for i in range(n)
    ]
    back = None
    if n > 1 and draw(st.booleans()):
        lo = draw(st.integers(0, n - 2))
        hi = draw(st.integers(lo + 1, n - 1))
        back = (lo, hi)  # step lo also takes the output of step hi
    order = draw(st.permutations(range(n)))
    return n, takes, back, order


def _reaches(takes: list[list[int]], frm: int, to: int) -> bool:
    """Whether data flows from step `frm` to step `to` (to takes, through steps, frm's output)."""
    todo, seen = [to], set()
    while todo:
        s = todo.pop()
        if s == frm:
            return True
        if s not in seen:
            seen.add(s)
            todo.extend(takes[s])
    return False


@given(dags())
def test_random_dags_sort_and_cycles_are_found(dag) -> None:
    n, takes, back, order = dag
    inputs = [[f"d{j}" for j in t] + [f"p{i}"] for i, t in enumerate(takes)]
    if back is not None:
        inputs[back[0]].append(f"d{back[1]}")
    steps = [make(f"s{i}", inputs[i], [f"d{i}"]) for i in order]
    closes_cycle = back is not None and _reaches(takes, back[0], back[1])
    if not closes_cycle:
        pipe = Pipeline("random", steps)
        position = {s.name: k for k, s in enumerate(pipe.steps)}
        for i, names in enumerate(inputs):
            for d in names:
                if d.startswith("d"):
                    assert position[f"s{d[1:]}"] < position[f"s{i}"]
        assert sorted(pipe.params) == sorted(f"p{i}" for i in range(n))
        return
    with pytest.raises(PipelineCycleError) as info:
        Pipeline("random", steps)
    cycle = info.value.cycle
    # The named cycle is real: each step takes the output of the one before it, around.
    assert cycle
    for k, name in enumerate(cycle):
        before = cycle[k - 1]
        assert f"d{before[1:]}" in inputs[int(name[1:])]
