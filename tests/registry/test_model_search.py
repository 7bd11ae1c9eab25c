"""Model and model-version search on every backend (SQLite, PostgreSQL, HTTP), a page at a
time, against a plain Python oracle of what the test registered: the whole result, its order
(model name in byte order, then version), and its pages, also while versions and models are
registered and deleted between two pages."""

from __future__ import annotations

import re

import pytest
from registry_helpers import make_bundle

from seawall.errors import DeletedError, InvalidInputError, NotFoundError

# Upper and lower case, digits and punctuation: byte order differs from a locale's here.
_ALPHABET = list("aAbBzZ09_.-")


def _name(rng) -> str:
    first = str(rng.choice(list("aAbBzZ09")))
    return first + "".join(rng.choice(_ALPHABET, size=int(rng.integers(0, 4))))


def _like(pattern: str) -> re.Pattern[str]:
    """The oracle of a like pattern: % any text, _ one character, backslash a literal."""
    out, chars = [], iter(pattern)
    for c in chars:
        if c == "\\":
            out.append(re.escape(next(chars)))
        else:
            out.append(".*" if c == "%" else "." if c == "_" else re.escape(c))
    return re.compile("".join(out), re.DOTALL)


class World:
    """The registry and the oracle: every live version as {(model, version): (run_id, tags)},
    and every live model's tags."""

    def __init__(self, reg, bundle, rng) -> None:
        self.reg, self.bundle, self.rng = reg, bundle, rng
        self.versions: dict[tuple[str, int], tuple[str | None, dict[str, str]]] = {}
        self.models: dict[str, dict[str, str]] = {}
        self.deleted: set[str] = set()  # deleted models: registering under their names refuses
        self.runs = []
        for _ in range(3):
            with reg.start_run(experiment="search") as run:
                self.runs.append(run.id)

    def register(self, name: str) -> tuple[str, int]:
        run_id = self.runs[int(self.rng.integers(3))] if self.rng.random() < 0.7 else None
        version_tags = {"kind": str(self.rng.choice(["a", "b"]))}
        if self.rng.random() < 0.5:
            version_tags["stage"] = str(self.rng.choice(["dev", "prod"]))
        mv = self.reg.register_model(name, self.bundle, run=run_id, tags=version_tags)
        if name not in self.models:
            self.models[name] = {}
            if self.rng.random() < 0.5:
                team = str(self.rng.choice(["x", "y"]))
                self.reg.set_model_tag(name, "team", team)
                self.models[name]["team"] = team
        self.versions[(name, mv.version)] = (run_id, version_tags)
        return (name, mv.version)

    def delete_version(self, key: tuple[str, int]) -> None:
        self.reg.delete_model_version(*key)
        del self.versions[key]

    def delete_model(self, name: str) -> None:
        self.reg.delete_model(name)
        del self.models[name]
        self.deleted.add(name)
        for key in [k for k in self.versions if k[0] == name]:
            del self.versions[key]

    def new_name(self) -> str:
        """A random model name that no deleted model holds."""
        while (name := _name(self.rng)) in self.deleted:
            pass
        return name

    def expected_versions(self, names, run_id, tags) -> list[tuple[str, int]]:
        return sorted(
            key
            for key, (made_by, version_tags) in self.versions.items()
            if (names is None or key[0] in names)
            and (run_id is None or made_by == run_id)
            and all(version_tags.get(k) == v for k, v in (tags or {}).items())
        )

    def expected_models(self, name_like, tags) -> list[str]:
        pattern = _like(name_like) if name_like is not None else None
        return sorted(
            name
            for name, model_tags in self.models.items()
            if (pattern is None or pattern.fullmatch(name))
            and all(model_tags.get(k) == v for k, v in (tags or {}).items())
        )


@pytest.fixture
def world(reg, tmp_path, rng):
    world = World(reg, make_bundle(tmp_path / "bundle", seed=int(rng.integers(1 << 30))), rng)
    for _ in range(int(rng.integers(6, 10))):
        name = _name(rng)
        for _ in range(int(rng.integers(1, 5))):
            world.register(name)
    # A deleted version and a deleted model are found by no search.
    world.delete_version(list(world.versions)[int(rng.integers(len(world.versions)))])
    world.delete_model(list(world.models)[int(rng.integers(len(world.models)))])
    return world


def _all_pages(search, size: int, **kwargs) -> list[list]:
    pages, token = [], None
    while True:
        page = search(max_results=size, page_token=token, **kwargs)
        pages.append(list(page))
        token = page.token
        if token is None:
            return pages
        assert len(page) == size  # only the last page may be short


def _version_queries(world, rng):
    names = list(world.models)
    yield {}
    for _ in range(6):
        query = {}
        if rng.random() < 0.5:
            picked = list(
                rng.choice(names, size=int(rng.integers(1, len(names) + 1)), replace=False)
            )
            query["model"] = picked[0] if len(picked) == 1 and rng.random() < 0.5 else picked
        if rng.random() < 0.4:
            query["run_id"] = world.runs[int(rng.integers(3))]
        if rng.random() < 0.5:
            query["tags"] = {"kind": str(rng.choice(["a", "b"]))}
            if rng.random() < 0.5:
                query["tags"]["stage"] = str(rng.choice(["dev", "prod"]))
        yield query


def test_version_search_matches_the_oracle_page_by_page(world, rng):
    reg = world.reg
    for query in _version_queries(world, rng):
        names = query.get("model")
        names = [names] if isinstance(names, str) else names
        expected = world.expected_versions(names, query.get("run_id"), query.get("tags"))
        whole = reg.search_model_versions(**query)
        assert whole.token is None
        assert [(v.model, v.version) for v in whole] == expected, query
        for v in whole:  # the records are the versions themselves
            assert v == reg.get_model_version(v.model, v.version)
        size = int(rng.integers(1, 6))
        pages = _all_pages(reg.search_model_versions, size, **query)
        assert [(v.model, v.version) for p in pages for v in p] == expected
        assert len(pages) == max(1, -(-len(expected) // size))


def test_model_search_matches_the_oracle_page_by_page(world, rng):
    reg = world.reg
    names = list(world.models)
    likes = [None, "%", "a%", "_", "%\\_%", "%.%", "A_%", "%\\%", "zz"]
    likes += [n[: int(rng.integers(1, len(n) + 1))] + "%" for n in names[:3]]
    for name_like in likes:
        for tags in (None, {"team": str(rng.choice(["x", "y"]))}):
            expected = world.expected_models(name_like, tags)
            whole = reg.search_models(name_like, tags=tags)
            assert [m.name for m in whole] == expected, (name_like, tags)
            assert whole.token is None
            size = int(rng.integers(1, 4))
            pages = _all_pages(reg.search_models, size, name_like=name_like, tags=tags)
            assert [m.name for p in pages for m in p] == expected
            for m in whole:
                assert m == reg.get_model(m.name)
    assert sorted(names) == [m.name for m in reg.list_models()]


def test_pages_stay_exact_while_versions_come_and_go(world, rng):
    """Between two pages, versions are registered (of models before, at and after the page's
    end, and of new models) and deleted (seen already or not): no version comes twice, the
    order holds, and every version that was there throughout is found exactly once."""
    reg = world.reg
    before = set(world.versions)
    models_before = set(world.models)
    removed: set[tuple[str, int]] = set()
    found, token = [], None
    while True:
        page = reg.search_model_versions(max_results=int(rng.integers(1, 4)), page_token=token)
        found += [(v.model, v.version) for v in page]
        token = page.token
        if token is None:
            break
        for _ in range(int(rng.integers(1, 3))):
            live = sorted(world.models)
            world.register(
                live[int(rng.integers(len(live)))] if rng.random() < 0.7 else world.new_name()
            )
        if rng.random() < 0.5 and len(world.versions) > 1:
            key = sorted(world.versions)[int(rng.integers(len(world.versions)))]
            world.delete_version(key)
            removed.add(key)
    assert len(found) == len(set(found))
    assert found == sorted(found)
    assert before - removed <= set(found) <= before | set(world.versions) | removed
    # Models likewise.
    found_models, token = [], None
    while True:
        page = reg.search_models(max_results=2, page_token=token)
        found_models += [m.name for m in page]
        token = page.token
        if token is None:
            break
        world.register(world.new_name())
    assert len(found_models) == len(set(found_models)) and found_models == sorted(found_models)
    assert models_before - {k[0] for k in removed} <= set(found_models) <= set(world.models)


def test_bad_searches_are_refused_by_name(world):
    reg = world.reg
    some = sorted(world.models)[0]
    page = reg.search_model_versions(max_results=1)
    assert page.token is not None
    with pytest.raises(InvalidInputError, match="another search"):
        reg.search_model_versions(some, max_results=1, page_token=page.token)
    with pytest.raises(InvalidInputError, match="another search"):
        reg.search_models(max_results=1, page_token=page.token)
    models_page = reg.search_models(max_results=1)
    with pytest.raises(InvalidInputError, match="another search"):
        reg.search_model_versions(max_results=1, page_token=models_page.token)
    for bad in ["", "not a token", "e30=", 7, page.token[:-4]]:
        with pytest.raises(InvalidInputError, match="page_token"):
            reg.search_model_versions(max_results=1, page_token=bad)
        with pytest.raises(InvalidInputError, match="page_token"):
            reg.search_models(max_results=1, page_token=bad)
    for bad in [0, -1, 1.5, True, "10"]:
        with pytest.raises(InvalidInputError, match="max_results"):
            reg.search_model_versions(max_results=bad)
        with pytest.raises(InvalidInputError, match="max_results"):
            reg.search_models(max_results=bad)
    with pytest.raises(InvalidInputError, match="model"):
        reg.search_model_versions(7)
    with pytest.raises(InvalidInputError, match="model name"):
        reg.search_model_versions("../x")
    with pytest.raises(InvalidInputError, match="run"):
        reg.search_model_versions(run_id="not a run id")
    with pytest.raises(InvalidInputError, match="lone"):
        reg.search_models("abc\\")
    with pytest.raises(NotFoundError, match="nowhere"):
        reg.search_model_versions("nowhere")
    deleted = [d.target.partition(":")[2] for d in reg.trash() if d.kind == "model"]
    assert len(deleted) == 1  # the fixture's
    with pytest.raises(DeletedError):
        reg.search_model_versions([some, deleted[0]])
    # Quotes and wildcards are plain values.
    assert reg.search_models("x' OR '1'='1") == []
    assert reg.search_model_versions(tags={"kind": "a' OR '1'='1"}) == []
