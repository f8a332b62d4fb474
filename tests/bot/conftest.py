"""Fixtures for the command line tests: the environment `engage` reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import TEST_KEY, TEST_SECRET


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path) -> Path:
    """The variables `engage` reads, for this test's store; the working folder is tmp."""
    monkeypatch.setenv("ENGAGE_DATABASE_URL", database_url)
    monkeypatch.setenv("ENGAGE_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("ENGAGE_PSEUDONYM_KEY", TEST_KEY)
    for name in ("TELEGRAM_BOT_TOKEN", "MASTODON_API_BASE_URL", "MASTODON_ACCESS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path
