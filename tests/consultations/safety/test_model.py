"""The shipped semantic model matches its training texts; the package stands alone."""

from __future__ import annotations

import ast
from pathlib import Path

from consultations.safety.semantic import default_model
from consultations.safety.training import (
    Example,
    fingerprint,
    read_examples,
    shipped_exemplars,
)
from tests.consultations.safety.conftest import EVALUATION

PACKAGE = Path(__file__).resolve().parents[3] / "consultations" / "safety"


def test_shipped_model_was_trained_on_the_current_texts() -> None:
    model = default_model()
    assert model is not None
    tune: list[Example] = read_examples(EVALUATION, split="tune")
    expected = fingerprint([*shipped_exemplars(), *tune])
    assert model.fingerprint == expected, "run bench/safety_train.py"
    assert 0.0 < model.threshold < 1.0


def test_package_imports_nothing_from_the_rest_of_the_project() -> None:
    for path in PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                root = node.module.split(".")[0]
                assert root not in {"bot", "adapters", "storage", "migrations"}, path
                assert not node.module.startswith("consultations.") or node.module.startswith(
                    "consultations.safety"
                ), path
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert alias.name.split(".")[0] not in {
                        "bot",
                        "adapters",
                        "storage",
                        "migrations",
                        "consultations",
                    }, path


def test_init_is_the_agreed_single_line() -> None:
    text = (PACKAGE / "__init__.py").read_text(encoding="utf-8")
    assert text == (
        '"""Safety screening of free text: crisis and safeguarding disclosures, '
        'personal details."""\n'
    )
