"""The image holds every package `engage` imports.

The Dockerfile copies the source folder by folder before ``pip install .``; a package
that pyproject declares but the Dockerfile leaves out installs as nothing, and ``engage``
in the image then stops at its first import of it.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def declared_packages() -> set[str]:
    """The top-level packages named by pyproject's package search."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    return {pattern.rstrip("*").rstrip(".") for pattern in include}


def copied_folders() -> set[str]:
    """The folders the Dockerfile's COPY lines bring into the image."""
    folders = set()
    for line in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines():
        words = line.split()
        if words[:1] == ["COPY"] and not any(word.startswith("--from") for word in words):
            folders.update(source.rstrip("/") for source in words[1:-1])
    return folders


def imported_top_level_packages() -> set[str]:
    """Top-level names imported by the project's own code that are folders of this repository."""
    local = {path.name for path in ROOT.iterdir() if (path / "__init__.py").is_file()}
    found = set()
    for package in declared_packages():
        for source in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                found.update(name.split(".")[0] for name in names)
    return found & local - {"tests"}


def test_every_declared_package_is_copied_into_the_image() -> None:
    missing = declared_packages() - copied_folders()
    assert missing == set()


def test_every_package_the_code_imports_is_declared() -> None:
    imported = imported_top_level_packages()
    assert {"bot", "channels", "consultations"} <= imported
    assert imported - declared_packages() == set()
