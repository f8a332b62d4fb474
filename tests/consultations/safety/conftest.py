"""Shared readers for the safety screen's evaluation data, and the shipped screen with
parts of its model file left out."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from consultations.safety.lexicon import default_lexicon
from consultations.safety.screen import Screen
from consultations.safety.semantic import MODEL_FILE, SemanticModel

DATA = Path(__file__).resolve().parents[2] / "data" / "safety"
EVALUATION = DATA / "evaluation.jsonl"
LANGUAGES = DATA / "languages.jsonl"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Rows of a JSONL file."""
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def screen_without(key: str) -> Screen:
    """The shipped screen with ``key`` taken out of its model file, as a model file written
    before that key existed (a threshold left out turns its scoring off)."""
    source = resources.files("consultations.safety").joinpath(MODEL_FILE)
    data: dict[str, Any] = json.loads(source.read_text(encoding="utf-8"))
    data.pop(key)
    return Screen(default_lexicon(), SemanticModel(data))
