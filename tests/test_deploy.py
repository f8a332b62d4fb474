"""The deployment files: the image holds every package `engage` imports, and the
compose file's fixed addresses cannot be taken by another container.

The Dockerfile copies the source folder by folder before ``pip install .``; a package
that pyproject declares but the Dockerfile leaves out installs as nothing, and ``engage``
in the image then stops at its first import of it.
"""

from __future__ import annotations

import ast
import ipaddress
import tomllib
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent


def declared_packages() -> set[str]:
    """The top-level packages named by pyproject's package search."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    return {pattern.rstrip("*").rstrip(".") for pattern in include}


def copied_folders() -> set[str]:
    """The folders the Dockerfile's COPY lines bring into the image."""
    folders: set[str] = set()
    for line in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines():
        words = line.split()
        if words[:1] == ["COPY"] and not any(word.startswith("--from") for word in words):
            folders.update(source.rstrip("/") for source in words[1:-1])
    return folders


def imported_top_level_packages() -> set[str]:
    """Top-level names imported by the project's own code that are folders of this repository."""
    local = {path.name for path in ROOT.iterdir() if (path / "__init__.py").is_file()}
    found: set[str] = set()
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


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text("utf-8"))
    return loaded


def test_fixed_addresses_lie_outside_the_range_given_to_other_containers() -> None:
    """Docker hands out addresses from ``ip_range`` (the whole subnet without one): a
    container started before the proxy could otherwise be given the proxy's address."""
    config = compose()
    networks = {
        name: list((network or {}).get("ipam", {}).get("config", []))
        for name, network in config["networks"].items()
    }
    fixed = []
    for service in config["services"].values():
        attached = service.get("networks") or {}
        if isinstance(attached, dict):  # a list names networks without addresses
            fixed += [(name, a["ipv4_address"]) for name, a in attached.items() if a]
    assert fixed  # the proxy's
    for name, address in fixed:
        (ipam,) = networks[name]
        subnet, handed_out = ipaddress.ip_network(ipam["subnet"]), ipam.get("ip_range")
        assert handed_out is not None, f"network {name} gives out its whole subnet"
        assert ipaddress.ip_address(address) in subnet
        assert ipaddress.ip_network(handed_out).subnet_of(subnet)  # type: ignore[arg-type]
        assert ipaddress.ip_address(address) not in ipaddress.ip_network(handed_out)


def test_the_workers_trust_the_proxys_fixed_address() -> None:
    config = compose()
    proxy = config["services"]["proxy"]["networks"]["internal"]["ipv4_address"]
    trusted = config["x-engage"]["environment"]["ENGAGE_TRUSTED_PROXIES"]
    assert trusted == proxy
