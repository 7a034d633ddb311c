"""The shape of the code (STYLE.md §1 and §8): the layers import only the
layers below them, no modules import each other in a circle (imports for
type checking count: they are a circle a reader must untangle too), and
no module grows past 400 lines."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("domain", "commands", "projections", "workers", "api", "ops")
# What each layer may import (besides the standard library and third parties).
ALLOWED = {
    "domain": {"domain"},
    "commands": {"domain", "commands"},
    "projections": {"domain", "commands", "projections"},
    "workers": {"domain", "commands", "projections", "workers"},
    "api": {"domain", "commands", "projections", "workers", "api"},
    "ops": {"domain", "commands", "projections", "workers", "ops"},
}
MAX_LINES = 400
# Over the limit, each with why it waits (none today).
OVER_THE_LIMIT: set[str] = set()


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


MODULES = _modules()


def _top_level(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """Imports run when the module is (those in ``if TYPE_CHECKING`` too), not
    those inside functions."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If | ast.Try):
            yield from _top_level(node.body)
            yield from _top_level(node.orelse)
            for handler in getattr(node, "handlers", []):
                yield from _top_level(handler.body)


def _imports(name: str) -> set[str]:
    found = set()
    for node in _top_level(ast.parse(MODULES[name].read_text()).body):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        else:
            module = node.module or ""
            for alias in node.names:
                full = f"{module}.{alias.name}"
                found.add(full if full in MODULES else module)
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: _imports(name) for name in MODULES}


def _circles() -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in GRAPH[module]:
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                circles.append(sorted(group))

    for module in GRAPH:
        if module not in index:
            visit(module)
    return circles


def test_no_modules_import_each_other_in_a_circle() -> None:
    assert _circles() == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_layer_imports_only_the_layers_below_it(module: str) -> None:
    layer = module.partition(".")[0]
    assert {m for m in GRAPH[module] if m.partition(".")[0] not in ALLOWED[layer]} == set()


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_is_over_400_lines(module: str) -> None:
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_LINES or module in OVER_THE_LIMIT
    if module in OVER_THE_LIMIT:
        assert lines > MAX_LINES, f"{module} is back under the limit: take it off the list"
