"""The import direction between seawall's packages (the layers of STYLE.md), read from the source.

Every module under python/seawall is parsed with ``ast``; every import counts, at any depth
(inside functions, under ``if TYPE_CHECKING:``), and so does ``importlib.import_module`` or
``__import__`` with a literal module name. A package may import only packages of the layers
below its own, never one of its own layer (unless listed in ``SAME_LAYER``) or above it.
``seawall/__init__.py`` and ``seawall/cli.py`` put the command line and the public names
together, so they may import anything.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "python" / "seawall"

# From the ground up. Each entry is one layer: the packages (or top-level modules) in it.
LAYERS: list[set[str]] = [
    {"errors"},
    # _server: what every server shares; _webhooks: signed POSTs with back-off, for every sender
    # _report_html: the look every HTML report shares
    {"_core", "_files", "_data", "_parallel", "_server", "_webhooks", "_report_html"},
    {"features", "profiles", "stats"},
    {"drift", "contracts"},  # both built on profiles and stats
    {"bundles"},
    # evaluation: metrics of models, and of bundles run on their own pipeline
    {"evaluation"},
    {"registry"},
    {"pipelines", "serving"},
    {"bench"},  # load tests: serves bundles in-process for the sweep and the loop's latency gate
    {"monitoring"},
    {"dashboard", "registry_server"},  # registry_server: the registry and its monitoring over HTTP
    {"loop"},
    {"demo", "cli", "seawall"},  # seawall: the package's own __init__, its public names
]
# Packages of one layer that may import each other (from, to).
SAME_LAYER: set[tuple[str, str]] = {
    ("_parallel", "_core"),  # the thread count the native kernels use
    ("_server", "_files"),  # token files are written atomically
    ("demo", "seawall"),  # the demo uses the public names, as a user would
}
# Modules that may import any layer: the public names and the command line put it all together.
TOP_LEVEL = {"seawall", "seawall.cli"}

RANK = {unit: rank for rank, layer in enumerate(LAYERS) for unit in layer}


def _module_name(path: Path) -> str:
    parts = ["seawall", *path.relative_to(ROOT).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(dotted: str) -> bool:
    """Whether `dotted` (seawall.x.y) is a module or package of the tree, or the native core."""
    if dotted == "seawall._core":
        return True
    rel = Path(*dotted.split(".")[1:]) if "." in dotted else Path()
    return (ROOT / rel).with_suffix(".py").is_file() or (ROOT / rel / "__init__.py").is_file()


def _resolve(module: str, is_package: bool, level: int, name: str | None) -> str:
    """The absolute module a relative import names, as ``from ... import`` resolves it."""
    if level == 0:
        return name or ""
    base = module.split(".")
    if not is_package:
        base.pop()
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, name] if name else base)


def imports_of(path: Path) -> list[tuple[str, int]]:
    """(imported seawall module, line) for every import in the file at `path`."""
    module = _module_name(path)
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    # The names importlib's import_module is bound to here (it may be imported under another).
    loaders = {"import_module", "__import__"} | {
        alias.asname
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "importlib"
        for alias in node.names
        if alias.name == "import_module" and alias.asname
    }
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, is_package, node.level, node.module)
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.append((sub if _is_module(sub) else target, node.lineno))
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            called = (
                func.attr
                if isinstance(func, ast.Attribute)
                else func.id
                if isinstance(func, ast.Name)
                else ""
            )
            first = node.args[0]
            if called in loaders and isinstance(first, ast.Constant):
                if isinstance(first.value, str):
                    name = first.value
                    if name.startswith("."):
                        level = len(name) - len(name.lstrip("."))
                        # import_module(".x", __name__ or __package__): relative to this module
                        name = _resolve(module, True, level, name.lstrip(".") or None)
                    found.append((name, node.lineno))
    return [(name, line) for name, line in found if name.split(".")[0] == "seawall"]


def _unit(module: str) -> str:
    """The layer unit of a seawall module: its package (or top-level module) under seawall."""
    return module.split(".")[1] if "." in module else module


def _modules() -> list[Path]:
    return sorted(ROOT.rglob("*.py"))


def violations() -> list[str]:
    bad = []
    for path in _modules():
        module = _module_name(path)
        if module in TOP_LEVEL:
            continue
        unit = _unit(module)
        for imported, line in imports_of(path):
            target = _unit(imported)
            if target == unit:
                continue
            where = f"{path.relative_to(ROOT.parent)}:{line}"
            if RANK[target] > RANK[unit]:
                bad.append(f"{where}: {module} imports {imported}, a layer above it")
            elif RANK[target] == RANK[unit] and (unit, target) not in SAME_LAYER:
                bad.append(f"{where}: {module} imports {imported}, of its own layer")
    return bad


def test_every_package_has_a_layer():
    units = {_unit(_module_name(p)) for p in _modules()}
    missing = sorted(units - set(RANK))
    assert not missing, f"place these in LAYERS (tests/test_layers.py and STYLE.md): {missing}"


def test_no_package_imports_a_layer_above_its_own():
    bad = violations()
    assert not bad, "upward or sideways imports:\n" + "\n".join(bad)


def test_the_registry_knows_nothing_of_what_serves_or_watches_models():
    above = {"serving", "monitoring", "dashboard", "pipelines", "loop", "demo", "cli"}
    found = [
        f"{path.name}:{line} imports {imported}"
        for path in sorted((ROOT / "registry").rglob("*.py"))
        for imported, line in imports_of(path)
        if imported in TOP_LEVEL or _unit(imported) in above
    ]
    assert not found


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from ..serving import load_bundle", ["seawall.serving"]),
        ("def f():\n    from ..serving.bundle import x", ["seawall.serving.bundle"]),
        ("import importlib\nimportlib.import_module('seawall.serving')", ["seawall.serving"]),
        (
            "from importlib import import_module as im\nim('seawall.dashboard')",
            ["seawall.dashboard"],
        ),
        ("import seawall.monitoring", ["seawall.monitoring"]),
        ("from .. import __version__", ["seawall"]),
        ("from .. import _core, errors", ["seawall._core", "seawall.errors"]),
        ("from . import _checks", ["seawall.registry._checks"]),
        ("__import__('seawall.loop')", ["seawall.loop"]),
        ("import numpy\nfrom typing import Any", []),
    ],
)
def test_imports_are_read_at_any_depth(tmp_path, monkeypatch, source, expected):
    """The reader itself: every form of import a module of seawall.registry could hide."""
    registry = tmp_path / "seawall" / "registry"
    registry.mkdir(parents=True)
    for name in ("__init__.py", "_checks.py"):
        (registry / name).write_text("")
    (tmp_path / "seawall" / "errors.py").write_text("")
    (tmp_path / "seawall" / "serving").mkdir()
    (tmp_path / "seawall" / "serving" / "__init__.py").write_text("")
    module = registry / "_mod.py"
    module.write_text(source)
    monkeypatch.setitem(globals(), "ROOT", tmp_path / "seawall")
    assert [name for name, _ in imports_of(module)] == expected
