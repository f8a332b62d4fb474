"""Settings: defaults, one-line errors naming the variable, shared derived secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings

KEY = "k" * 40


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"ENGAGE_DATABASE_URL": "mysql://x"}, "ENGAGE_DATABASE_URL"),
        ({"ENGAGE_HTTP_PORT": "eighty"}, "ENGAGE_HTTP_PORT"),
        ({"ENGAGE_HTTP_PORT": "70000"}, "ENGAGE_HTTP_PORT"),
        ({"ENGAGE_PUBLIC_URL": "engage.example.org"}, "ENGAGE_PUBLIC_URL"),
        ({"ENGAGE_SECRET_KEY": "short"}, "ENGAGE_SECRET_KEY"),
        ({"TELEGRAM_MODE": "push"}, "TELEGRAM_MODE"),
        ({"TELEGRAM_BOT_TOKEN": "nocolon"}, "TELEGRAM_BOT_TOKEN"),
        ({"TELEGRAM_WEBHOOK_SECRET": "has spaces"}, "TELEGRAM_WEBHOOK_SECRET"),
        ({"MASTODON_API_BASE_URL": "https://m.example"}, "MASTODON_ACCESS_TOKEN"),
    ],
)
def test_invalid_setting_names_the_variable(env: dict[str, str], name: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings({"ENGAGE_PSEUDONYM_KEY": KEY, **env}, key_dir=tmp_path)


def test_development_keys_are_made_once_and_kept(tmp_path: Path) -> None:
    first = load_settings({}, key_dir=tmp_path)
    second = load_settings({}, key_dir=tmp_path)
    assert first.secret_key == second.secret_key
    assert len(first.pseudonym_key) >= 32
    assert first.database_url == "sqlite+aiosqlite:///./engage.db"
    assert (first.http_host, first.http_port) == ("127.0.0.1", 8080)


def test_webhook_secret_is_shared_by_workers_with_the_same_key(tmp_path: Path) -> None:
    env = {"ENGAGE_SECRET_KEY": KEY, "ENGAGE_PSEUDONYM_KEY": KEY}
    one = load_settings(env, key_dir=tmp_path)
    two = load_settings(env, key_dir=tmp_path)
    assert one.telegram_webhook_secret == two.telegram_webhook_secret
    assert one.telegram_webhook_secret != KEY
