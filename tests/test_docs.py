"""The examples in the README and docs/ work as written: a reader copies them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from consultations.spec import load_spec

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_YAML = re.compile(r"```ya?ml\n(.*?)```", re.S)
BLOCKS = [
    pytest.param(block, id=f"{path.name}-{n}")
    for path in DOCUMENTS
    for n, block in enumerate(_YAML.findall(path.read_text(encoding="utf-8")))
]


def test_the_readme_has_a_spec_example() -> None:
    assert any("README" in str(block.id) for block in BLOCKS)


@pytest.mark.parametrize("block", BLOCKS)
def test_every_yaml_example_parses_and_every_whole_spec_loads(block: str) -> None:
    data = yaml.safe_load(block)
    if isinstance(data, dict) and {"id", "title", "organisation", "items"} <= data.keys():
        spec = load_spec(block, source="example")
        assert spec.id == data["id"]


EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
# A value not in quotes with " #" in it: YAML reads the rest of the line as a comment.
_CUT = re.compile(r"^\s*-?\s*[\w-]+: (?![\"'\[{|>])[^#\n]*\S \#\w")


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_no_example_text_is_cut_short_by_a_hashtag(path: Path) -> None:
    # "text: posts tagged #CityHospital to improve..." loaded as "posts tagged".
    cut = [line for line in path.read_text(encoding="utf-8").splitlines() if _CUT.match(line)]
    assert cut == []
    load_spec(path.read_text(encoding="utf-8"), source=path.name)
