"""The package map holds: dependencies point one way, with no cycles.

Every import counts, including those inside functions and under ``TYPE_CHECKING``: a
lazy import hides a dependency, it does not remove it (docs/architecture.md).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "channels", "adapters", "consultations", "storage", "migrations")
# What each package may import from the others; the web front end lives in bot.web.
ALLOWED: dict[str, set[str]] = {
    "storage": set(),
    "migrations": {"storage"},
    "consultations": {"storage"},
    "channels": {"consultations"},
    # Adapters reach the store only through channels.store.ChannelStore.
    "adapters": {"channels", "consultations"},
    "bot": {"adapters", "channels", "consultations", "storage", "migrations"},
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports() -> dict[str, set[str]]:
    """Every module of the project and the project modules it imports."""
    modules = {
        _module_name(path): path for package in PACKAGES for path in (ROOT / package).rglob("*.py")
    }
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                # "from a import b" may name module a.b or attribute b of a.
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                    for alias in node.names
                ]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
        graph.setdefault(name, set())
    return dict(graph)


GRAPH = _imports()


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle in ``graph``, or ``None``."""
    colour: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = 1
        stack.append(node)
        for following in sorted(graph.get(node, ())):
            if colour.get(following) == 1:
                return [*stack[stack.index(following) :], following]
            if following not in colour:
                found = visit(following)
                if found:
                    return found
        stack.pop()
        colour[node] = 2
        return None

    for node in sorted(graph):
        if node not in colour:
            found = visit(node)
            if found:
                return found
    return None


@pytest.mark.parametrize("package", PACKAGES)
def test_a_package_imports_only_what_the_map_allows(package: str) -> None:
    wrong = sorted(
        f"{module} -> {target}"
        for module, targets in GRAPH.items()
        if module.split(".")[0] == package
        for target in targets
        if target.split(".")[0] not in ALLOWED[package] | {package}
    )
    assert wrong == []


def test_no_cycle_between_packages() -> None:
    top: dict[str, set[str]] = defaultdict(set)
    for module, targets in GRAPH.items():
        for target in targets:
            if module.split(".")[0] != target.split(".")[0]:
                top[module.split(".")[0]].add(target.split(".")[0])
    assert _cycle(dict(top)) is None


def test_no_cycle_between_modules() -> None:
    # A package's __init__ that re-exports its modules is not a cycle of its own.
    graph = {
        module: {t for t in targets if not module.startswith(t + ".")}
        for module, targets in GRAPH.items()
    }
    assert _cycle(graph) is None


def test_the_checker_sees_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
