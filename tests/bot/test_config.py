"""Settings: defaults, one-line errors naming the variable, shared derived secrets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings

KEY = "k" * 40
OTHER_KEY = "o" * 40


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"ENGAGE_DATABASE_URL": "mysql://x"}, "ENGAGE_DATABASE_URL"),
        ({"ENGAGE_HTTP_PORT": "eighty"}, "ENGAGE_HTTP_PORT"),
        ({"ENGAGE_HTTP_PORT": "70000"}, "ENGAGE_HTTP_PORT"),
        ({"ENGAGE_HTTP_PORT": "8_080"}, "ENGAGE_HTTP_PORT"),
        ({"ENGAGE_HTTP_PORT": "\u0668\u0660\u0668\u0660"}, "ENGAGE_HTTP_PORT"),
        ({"ENGAGE_HTTP_PORT": "+8080"}, "ENGAGE_HTTP_PORT"),
        ({"TELEGRAM_MESSAGES_PER_SECOND": "1_0"}, "TELEGRAM_MESSAGES_PER_SECOND"),
        ({"TELEGRAM_MESSAGES_PER_SECOND": "nan"}, "TELEGRAM_MESSAGES_PER_SECOND"),
        ({"MASTODON_STREAM_TIMEOUT": "\u0664\u0665"}, "MASTODON_STREAM_TIMEOUT"),
        ({"ENGAGE_STOP_GRACE": "ten"}, "ENGAGE_STOP_GRACE"),
        ({"ENGAGE_STOP_GRACE": "0.5"}, "ENGAGE_STOP_GRACE"),
        ({"ENGAGE_STOP_GRACE": "601"}, "ENGAGE_STOP_GRACE"),
        ({"ENGAGE_SUMMARY_TIMEOUT": "1_20"}, "ENGAGE_SUMMARY_TIMEOUT"),
        ({"ENGAGE_PUBLIC_URL": "engage.example.org"}, "ENGAGE_PUBLIC_URL"),
        ({"ENGAGE_SECRET_KEY": "short"}, "ENGAGE_SECRET_KEY"),
        ({"TELEGRAM_MODE": "push"}, "TELEGRAM_MODE"),
        ({"TELEGRAM_BOT_TOKEN": "nocolon"}, "TELEGRAM_BOT_TOKEN"),
        ({"TELEGRAM_WEBHOOK_SECRET": "has spaces"}, "TELEGRAM_WEBHOOK_SECRET"),
        ({"MASTODON_API_BASE_URL": "https://m.example"}, "MASTODON_ACCESS_TOKEN"),
        ({"ENGAGE_DATABASE_POOL_SIZE": "many"}, "ENGAGE_DATABASE_POOL_SIZE"),
        ({"ENGAGE_DATABASE_POOL_SIZE": "0"}, "ENGAGE_DATABASE_POOL_SIZE"),
        ({"ENGAGE_HTTP_HOST": "not..a..host"}, "ENGAGE_HTTP_HOST"),
        ({"ENGAGE_HTTP_HOST": "-leading.example"}, "ENGAGE_HTTP_HOST"),
        ({"ENGAGE_HTTP_HOST": "a" * 64 + ".example"}, "ENGAGE_HTTP_HOST"),
        ({"ENGAGE_PUBLIC_URL": "http://[::1"}, "ENGAGE_PUBLIC_URL"),
        ({"ENGAGE_PUBLIC_URL": "http://host:abc"}, "ENGAGE_PUBLIC_URL"),
        ({"ENGAGE_PUBLIC_URL": "http://host:99999"}, "ENGAGE_PUBLIC_URL"),
        ({"ENGAGE_PUBLIC_URL": "http://:8080"}, "ENGAGE_PUBLIC_URL"),
        ({"ENGAGE_PUBLIC_URL": "https://engage.example.org/?a=1"}, "ENGAGE_PUBLIC_URL"),
        ({"ENGAGE_PUBLIC_URL": "https://engage.example.org/#top"}, "ENGAGE_PUBLIC_URL"),
        ({"TELEGRAM_API_BASE_URL": "https://api.example.org/bot?x="}, "TELEGRAM_API_BASE_URL"),
        ({"TELEGRAM_API_BASE_URL": "http://[::1"}, "TELEGRAM_API_BASE_URL"),
        (
            {"MASTODON_API_BASE_URL": "http://[::1", "MASTODON_ACCESS_TOKEN": "t"},
            "MASTODON_API_BASE_URL",
        ),
        ({"ENGAGE_DATABASE_URL": "postgresql+asyncpg://u:p@h:abc/db"}, "ENGAGE_DATABASE_URL"),
        ({"ENGAGE_DATABASE_URL": "sqlite+aiosqlite://"}, "ENGAGE_DATABASE_URL"),
        ({"ENGAGE_DATABASE_URL": "sqlite+aiosqlite:///:memory:"}, "ENGAGE_DATABASE_URL"),
    ],
)
def test_invalid_setting_names_the_variable(env: dict[str, str], name: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=name) as raised:
        load_settings({"ENGAGE_PSEUDONYM_KEY": KEY, **env}, key_dir=tmp_path)
    assert "\n" not in str(raised.value)


def test_the_stop_grace_is_ten_seconds_unless_set(tmp_path: Path) -> None:
    assert load_settings({"ENGAGE_PSEUDONYM_KEY": KEY}, key_dir=tmp_path).stop_grace == 10
    given = {"ENGAGE_PSEUDONYM_KEY": KEY, "ENGAGE_STOP_GRACE": " 25.5 "}
    assert load_settings(given, key_dir=tmp_path).stop_grace == 25.5


def test_a_database_url_that_cannot_be_read_is_not_quoted(tmp_path: Path) -> None:
    env = {"ENGAGE_DATABASE_URL": "postgresql+asyncpg://u:secret-pw@h:abc/db"}
    with pytest.raises(ConfigError) as raised:
        load_settings({"ENGAGE_PSEUDONYM_KEY": KEY, **env}, key_dir=tmp_path)
    assert "secret-pw" not in str(raised.value)


def test_a_key_folder_that_is_a_file_names_it(tmp_path: Path) -> None:
    a_file = tmp_path / "keys"
    a_file.write_text("not a folder")
    with pytest.raises(ConfigError, match="^ENGAGE_KEY_DIR: .* is not a folder$"):
        load_settings({"ENGAGE_KEY_DIR": str(a_file)})
    # The folder of the SQLite file, when that is a file, is named the same way.
    with pytest.raises(ConfigError, match="ENGAGE_SECRET_KEY: .* is not a folder"):
        load_settings({"ENGAGE_PSEUDONYM_KEY": KEY}, key_dir=a_file)


@pytest.mark.parametrize("relative", ["keys", "./keys", "../keys", "."])
def test_a_relative_key_folder_is_refused_rather_than_read_from_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, relative: str
) -> None:
    """Development keys live in one place whatever the working folder (CONTRACT.md): a
    relative ENGAGE_KEY_DIR would make a new pseudonym key wherever engage is started."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=f"^ENGAGE_KEY_DIR: '{re.escape(relative)}' is relative"):
        load_settings({"ENGAGE_KEY_DIR": relative})
    assert list(tmp_path.iterdir()) == []  # no key file made here
    # From the home folder is one place too.
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    load_settings({"ENGAGE_KEY_DIR": "~/keys"})
    assert (home / "keys" / ".engage-pseudonym-key").is_file()


@pytest.mark.parametrize(
    ("host", "public_url"),
    [
        ("::1", "http://[::1]:8080"),
        ("127.0.0.1", "http://127.0.0.1:8080"),
        ("0.0.0.0", "http://0.0.0.0:8080"),
        ("engage.example.org", "http://engage.example.org:8080"),
        ("bücher.example", "http://bücher.example:8080"),
    ],
)
def test_the_default_public_url_is_built_from_the_host(
    host: str, public_url: str, tmp_path: Path
) -> None:
    env = {"ENGAGE_PSEUDONYM_KEY": KEY, "ENGAGE_HTTP_HOST": host}
    settings = load_settings(env, key_dir=tmp_path)
    assert (settings.http_host, settings.public_url) == (host, public_url)


def test_the_pool_size_is_twenty_unless_set(tmp_path: Path) -> None:
    env = {"ENGAGE_PSEUDONYM_KEY": KEY}
    assert load_settings(env, key_dir=tmp_path).database_pool_size == 20
    env["ENGAGE_DATABASE_POOL_SIZE"] = "32"
    assert load_settings(env, key_dir=tmp_path).database_pool_size == 32


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


def test_production_refuses_to_start_without_real_keys(tmp_path: Path) -> None:
    env = {"ENGAGE_ENV": "production", "ENGAGE_KEY_DIR": str(tmp_path)}
    with pytest.raises(ConfigError, match="ENGAGE_SECRET_KEY: must be set"):
        load_settings(env)
    with pytest.raises(ConfigError, match="ENGAGE_PSEUDONYM_KEY: must be set"):
        load_settings({**env, "ENGAGE_SECRET_KEY": KEY})
    settings = load_settings({**env, "ENGAGE_SECRET_KEY": KEY, "ENGAGE_PSEUDONYM_KEY": OTHER_KEY})
    assert settings.environment == "production"
    assert list(tmp_path.iterdir()) == []  # production never writes key files


def test_production_with_a_plain_http_address_is_warned_of(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Cookies go without Secure (and no HSTS) unless the public address is https.
    env = {"ENGAGE_SECRET_KEY": KEY, "ENGAGE_PSEUDONYM_KEY": OTHER_KEY, "ENGAGE_ENV": "production"}
    with caplog.at_level("WARNING", logger="bot.config"):
        load_settings({**env, "ENGAGE_PUBLIC_URL": "http://engage.example.org"})
    assert "ENGAGE_PUBLIC_URL is http://engage.example.org, not https" in caplog.text
    assert "without Secure" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="bot.config"):
        load_settings({**env, "ENGAGE_PUBLIC_URL": "https://engage.example.org"})
        load_settings({**env, "ENGAGE_ENV": "development"}, key_dir=tmp_path)
    assert "ENGAGE_PUBLIC_URL" not in caplog.text


@pytest.mark.parametrize("name", ["ENGAGE_SECRET_KEY", "ENGAGE_PSEUDONYM_KEY"])
@pytest.mark.parametrize("value", [" " * 40, "\t\n" * 20])
def test_a_key_of_blanks_is_refused(tmp_path: Path, name: str, value: str) -> None:
    env = {"ENGAGE_SECRET_KEY": KEY, "ENGAGE_PSEUDONYM_KEY": OTHER_KEY, name: value}
    with pytest.raises(ConfigError, match=f"^{name}: is only spaces, tabs or line breaks$"):
        load_settings(env, key_dir=tmp_path)


@pytest.mark.parametrize(
    "phrase",
    [
        "correct horse battery staple and thirty-two more letters",
        "this is my test secret key 12345",  # 32 characters as written (CONTRACT.md)
        " k " * 11,
    ],
)
def test_a_passphrase_with_spaces_is_a_key(tmp_path: Path, phrase: str) -> None:
    env = {"ENGAGE_SECRET_KEY": KEY, "ENGAGE_PSEUDONYM_KEY": phrase}
    assert load_settings(env, key_dir=tmp_path).pseudonym_key == phrase


def test_a_key_of_31_characters_is_refused_naming_its_length(tmp_path: Path) -> None:
    env = {"ENGAGE_SECRET_KEY": KEY, "ENGAGE_PSEUDONYM_KEY": "this is my test secret key 1234"}
    with pytest.raises(
        ConfigError, match="^ENGAGE_PSEUDONYM_KEY: must be at least 32 characters, got 31$"
    ):
        load_settings(env, key_dir=tmp_path)


def test_one_key_for_both_is_refused_in_production_and_warned_of_in_development(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    env = {"ENGAGE_SECRET_KEY": KEY, "ENGAGE_PSEUDONYM_KEY": KEY}
    with pytest.raises(
        ConfigError, match="^ENGAGE_PSEUDONYM_KEY: must not be the same as ENGAGE_SECRET_KEY$"
    ):
        load_settings({**env, "ENGAGE_ENV": "production"})
    with caplog.at_level("WARNING", logger="bot.config"):
        load_settings(env, key_dir=tmp_path)
    assert "ENGAGE_PSEUDONYM_KEY is the same as ENGAGE_SECRET_KEY" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="bot.config"):
        load_settings({**env, "ENGAGE_PSEUDONYM_KEY": OTHER_KEY}, key_dir=tmp_path)
    assert caplog.text == ""


def test_a_mastodon_token_without_its_instance_is_not_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    env = {
        "ENGAGE_SECRET_KEY": KEY,
        "ENGAGE_PSEUDONYM_KEY": OTHER_KEY,
        "MASTODON_ACCESS_TOKEN": "a-token",
    }
    with pytest.raises(
        ConfigError, match="^MASTODON_API_BASE_URL: required when MASTODON_ACCESS_TOKEN is set$"
    ):
        load_settings({**env, "ENGAGE_ENV": "production"})
    with caplog.at_level("WARNING", logger="bot.config"):
        settings = load_settings(env, key_dir=tmp_path)
    assert not settings.mastodon_enabled
    assert "MASTODON_ACCESS_TOKEN is set but MASTODON_API_BASE_URL is not" in caplog.text
    # The instance without its token stops start-up in either environment.
    for environment in ("development", "production"):
        with pytest.raises(ConfigError, match="^MASTODON_ACCESS_TOKEN: required when"):
            load_settings(
                {
                    "ENGAGE_SECRET_KEY": KEY,
                    "ENGAGE_PSEUDONYM_KEY": OTHER_KEY,
                    "ENGAGE_ENV": environment,
                    "MASTODON_API_BASE_URL": "https://social.example",
                },
                key_dir=tmp_path,
            )


def test_an_unknown_environment_is_refused() -> None:
    with pytest.raises(ConfigError, match="ENGAGE_ENV"):
        load_settings({"ENGAGE_ENV": "staging"})


def test_development_keys_live_in_one_place_whatever_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    env = {"ENGAGE_DATABASE_URL": f"sqlite+aiosqlite:///{data / 'engage.db'}"}
    elsewhere = []
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        monkeypatch.chdir(tmp_path / folder)
        elsewhere.append(load_settings(env).pseudonym_key)
    assert elsewhere[0] == elsewhere[1]
    assert (data / ".engage-pseudonym-key").exists()
    assert [list((tmp_path / f).iterdir()) for f in ("a", "b")] == [[], []]
    keys = tmp_path / "keys"
    chosen = load_settings({**env, "ENGAGE_KEY_DIR": str(keys)})
    assert (keys / ".engage-secret-key").read_text().strip() == chosen.secret_key


def test_key_files_are_private_and_wider_ones_are_refused(tmp_path: Path) -> None:
    load_settings({}, key_dir=tmp_path)
    key = tmp_path / ".engage-secret-key"
    assert key.stat().st_mode & 0o777 == 0o600
    assert not list(tmp_path.glob("*.partial"))
    key.chmod(0o644)
    with pytest.raises(
        ConfigError, match=r"ENGAGE_SECRET_KEY: the key file .* can be read by others"
    ):
        load_settings({}, key_dir=tmp_path)


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"ENGAGE_TRUSTED_PROXIES": "proxy.internal"}, "ENGAGE_TRUSTED_PROXIES"),
        (
            {"ENGAGE_WEB_NEW_PARTICIPANTS_PER_MINUTE": "-1"},
            "ENGAGE_WEB_NEW_PARTICIPANTS_PER_MINUTE",
        ),
        ({"ENGAGE_ALERT_EMAIL": "not-an-address"}, "ENGAGE_ALERT_EMAIL"),
        ({"ENGAGE_SUMMARY_TIMEOUT": "soon"}, "ENGAGE_SUMMARY_TIMEOUT"),
        ({"ENGAGE_PSEUDONYM_KEY": "short"}, "ENGAGE_PSEUDONYM_KEY"),
        ({"MASTODON_ACCESS_TOKEN": "t", "ENGAGE_TRUSTED_PROXIES": "x"}, "ENGAGE_TRUSTED_PROXIES"),
        (
            {"ENGAGE_DATABASE_URL": "sqlite+aiosqlite:////no/such/folder/e.db"},
            "ENGAGE_DATABASE_URL",
        ),
    ],
)
def test_a_refused_start_writes_no_key_file_and_logs_nothing_before_its_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, env: dict[str, str], name: str
) -> None:
    # The one line naming the variable is all a refused start says: a first start in
    # development made its key files, and said so, before the later settings were checked.
    keys = tmp_path / "keys"
    with caplog.at_level("DEBUG", logger="bot.config"), pytest.raises(ConfigError, match=name):
        load_settings(env, key_dir=keys)
    assert caplog.text == ""
    assert not keys.exists()


def test_a_sqlite_file_in_the_folder_its_development_keys_are_made_in_is_usable(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    settings = load_settings({"ENGAGE_DATABASE_URL": f"sqlite+aiosqlite:///{data / 'engage.db'}"})
    assert (data / ".engage-secret-key").read_text().strip() == settings.secret_key


@pytest.mark.parametrize("held", ["short", ""])
def test_a_key_file_too_short_is_refused_never_replaced(tmp_path: Path, held: str) -> None:
    # Replacing it would change every pseudonym: the people in the store would be
    # strangers on their next message.
    load_settings({}, key_dir=tmp_path)
    key = tmp_path / ".engage-pseudonym-key"
    key.write_text(held + "\n")
    with pytest.raises(
        ConfigError, match=rf"ENGAGE_PSEUDONYM_KEY: the key file .* holds {len(held)} characters"
    ):
        load_settings({}, key_dir=tmp_path)
    assert key.read_text() == held + "\n"


async def test_a_new_sqlite_file_is_private(tmp_path: Path) -> None:
    from sqlalchemy import text

    from storage.db import create_engine

    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'new.db'}")
    async with engine.begin() as connection:
        await connection.execute(text("create table t (x integer)"))
    await engine.dispose()
    assert (tmp_path / "new.db").stat().st_mode & 0o777 == 0o600


def test_theme_summaries_are_off_unless_a_model_is_given(tmp_path: Path) -> None:
    assert load_settings({"ENGAGE_PSEUDONYM_KEY": KEY}, key_dir=tmp_path).summary_model is None


def test_a_local_summary_model_is_read_with_its_command(tmp_path: Path) -> None:
    model = tmp_path / "small model.gguf"
    model.write_bytes(b"GGUF")
    env = {
        "ENGAGE_PSEUDONYM_KEY": KEY,
        "ENGAGE_SUMMARY_MODEL": str(model),
        "ENGAGE_SUMMARY_COMMAND": "llama-cli -m {model} -f {prompt} -n 400 --temp 0 "
        "--no-display-prompt -no-cnv",
    }
    found = load_settings(env, key_dir=tmp_path).summary_model
    assert found is not None
    assert found.model == model.resolve()
    assert found.command[:5] == ("llama-cli", "-m", "{model}", "-f", "{prompt}")
    assert found.timeout == 120
    # Each placeholder is one argument, whatever spaces the model's path has.
    assert found.argv(Path("/tmp/p.txt"))[2] == str(model.resolve())
    env["ENGAGE_SUMMARY_TIMEOUT"] = "300"
    summary_model = load_settings(env, key_dir=tmp_path).summary_model
    assert summary_model is not None and summary_model.timeout == 300


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"ENGAGE_SUMMARY_MODEL": "/nonexistent/model.gguf"},
            "ENGAGE_SUMMARY_MODEL: .* not a file",
        ),
        ({"ENGAGE_SUMMARY_COMMAND": ""}, "ENGAGE_SUMMARY_COMMAND: required"),
        (
            {"ENGAGE_SUMMARY_COMMAND": "llama-cli -f {prompt}"},
            "ENGAGE_SUMMARY_COMMAND: must contain",
        ),
        ({"ENGAGE_SUMMARY_COMMAND": "llama-cli -m '{model}"}, "ENGAGE_SUMMARY_COMMAND: cannot be"),
        ({"ENGAGE_SUMMARY_TIMEOUT": "soon"}, "ENGAGE_SUMMARY_TIMEOUT: 'soon' is not a number"),
        ({"ENGAGE_SUMMARY_TIMEOUT": "0"}, "ENGAGE_SUMMARY_TIMEOUT: 0 must be between"),
        ({"ENGAGE_SUMMARY_TIMEOUT": "7200"}, "ENGAGE_SUMMARY_TIMEOUT: 7200 must be between"),
        ({"ENGAGE_SUMMARY_MODEL": ""}, "ENGAGE_SUMMARY_COMMAND: needs ENGAGE_SUMMARY_MODEL"),
    ],
)
def test_a_bad_summary_setting_names_the_variable(
    tmp_path: Path, change: dict[str, str], message: str
) -> None:
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")
    env = {
        "ENGAGE_PSEUDONYM_KEY": KEY,
        "ENGAGE_SUMMARY_MODEL": str(model),
        "ENGAGE_SUMMARY_COMMAND": "llama-cli -m {model} -f {prompt}",
        **change,
    }
    with pytest.raises(ConfigError, match=message):
        load_settings(env, key_dir=tmp_path)
