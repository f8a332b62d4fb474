"""Hypothesis profiles for the fuzz tests.

``default`` keeps every fuzz test to a few seconds on a busy machine: few examples, no
per-example deadline (the web and webhook examples go through a real database), and no
example database written into the working tree. The web and webhook fuzz tests run on
SQLite only, to stay fast. ``thorough`` is for a longer search:
``HYPOTHESIS_PROFILE=thorough pytest tests/fuzzing``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Web and webhook tests reuse one app and one store across the examples of a test on
# purpose: state built by earlier examples (participants, answers) is part of the input.
_SHARED_FIXTURES = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]

settings.register_profile(
    "default",
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=_SHARED_FIXTURES,
)
settings.register_profile(
    "thorough",
    max_examples=2000,
    deadline=None,
    suppress_health_check=_SHARED_FIXTURES,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture
def database_url(tmp_path: Path, sqlite_template: Path) -> str:
    """SQLite only: the fuzz tests look for crashes in the web layer, not the store."""
    path = tmp_path / "engage.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"
