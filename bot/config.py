"""Settings from the environment, as CONTRACT.md lists them.

A variable that is set but invalid stops start-up with one line naming it and why
(:class:`ConfigError`). In development, keys that are not set are generated once and kept
in files readable by their owner only, in one folder whatever the working directory
(``ENGAGE_KEY_DIR``, else beside the SQLite file, else the user's data folder), with a
warning, so that a first run needs no configuration at all. ``ENGAGE_ENV=production``
refuses to start without real keys and never writes key files.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import os
import re
import secrets
import shlex
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from consultations.insights.narrative import DEFAULT_TIMEOUT, MODEL, LocalModel
from storage.db import POOL_SIZE

log = logging.getLogger(__name__)

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./engage.db"
#: Seconds a stopping process gives the work in hand (an inbox batch, sends and web
#: requests already started) before cutting it short (bot.web.app.Stopping).
DEFAULT_STOP_GRACE = 10.0
MIN_KEY_LENGTH = 32
ENVIRONMENTS = ("development", "production")


class ConfigError(ValueError):
    """A setting is present but unusable; the message names it."""


@dataclass(frozen=True)
class Settings:
    """Everything the platform reads from its environment."""

    database_url: str = DEFAULT_DATABASE_URL
    # PostgreSQL connections each process keeps open (storage/db.py: no overflow).
    database_pool_size: int = POOL_SIZE
    environment: str = "development"
    log_format: str = "text"
    metrics_token: str | None = None
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    public_url: str = "http://127.0.0.1:8080"
    secret_key: str = ""
    pseudonym_key: str = ""
    telegram_bot_token: str | None = None
    telegram_api_base_url: str = "https://api.telegram.org/bot"
    telegram_mode: str = "polling"
    telegram_webhook_secret: str = ""
    # Telegram's overall pace: 30 a second by default; a bot with paid broadcasts may be
    # allowed up to 1000 (https://core.telegram.org/bots/faq#broadcasting-to-users).
    telegram_messages_per_second: float = 30.0
    mastodon_api_base_url: str | None = None
    mastodon_access_token: str | None = None
    # Seconds a Mastodon stream may stay silent (Mastodon sends a ":thump" keep-alive
    # about every 15 s) before it counts as stalled and notifications are polled.
    mastodon_stream_timeout: float = 45.0
    # Seconds a stopping process gives the work in hand (ENGAGE_STOP_GRACE).
    stop_grace: float = DEFAULT_STOP_GRACE
    # Where moderation alerts go (bot.alerts); each destination is optional.
    alert_telegram_chat: str | None = None
    alert_emails: tuple[str, ...] = ()
    smtp_url: str | None = None
    alert_from: str | None = None
    alert_webhook_url: str | None = None
    # The web channel's limit on new participants per client address per minute (0: off),
    # and the reverse proxies whose X-Forwarded-For is believed (networks, as text).
    web_new_participants_per_minute: int = 30
    trusted_proxies: tuple[str, ...] = ()
    # Messages one person may send a minute on a chat channel (Telegram, Mastodon) before
    # the rest of the minute's are not taken (0: off).
    chat_messages_per_minute: int = 0
    # Processes that screen and analyse arriving texts off the event loop (bot.preparation);
    # None: one where the process may use four cores or more, else none.
    intake_processes: int | None = None
    # Theme summaries by a local language model in `engage report` (off when None).
    summary_model: LocalModel | None = None

    @property
    def alerts_enabled(self) -> bool:
        return bool(self.alert_telegram_chat or self.alert_emails or self.alert_webhook_url)

    @property
    def telegram_enabled(self) -> bool:
        return bool(self.telegram_bot_token)

    @property
    def mastodon_enabled(self) -> bool:
        return bool(self.mastodon_api_base_url and self.mastodon_access_token)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _key_file(name: str, key_dir: Path) -> Path:
    return key_dir / f".{name.lower().replace('_', '-')}"


def _read_dev_key(name: str, key_dir: Path) -> str | None:
    """A development key file's key, or ``None`` when there is none yet.

    A key file that others can read is refused: it is a secret, and someone may have
    copied it. So is one too short to be a key: replacing it would change every pseudonym.
    """
    path = _key_file(name, key_dir)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        raise ConfigError(
            f"{name}: not set, and {key_dir} (where development keys are kept) is not a "
            f"folder; set {name} or ENGAGE_KEY_DIR"
        ) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{name}: the key file {path} can be read by others "
            f"(mode {stat.S_IMODE(mode):o}); make it 600 (chmod 600 {path}) or set {name}"
        )
    value = path.read_text(encoding="utf-8").strip()
    if len(value) < MIN_KEY_LENGTH:
        # Never replaced: every pseudonym made with it would change, and the people
        # already in the store would become strangers (a file is only ever written
        # whole, so a short one was put there by hand).
        raise ConfigError(
            f"{name}: the key file {path} holds {len(value)} characters, at least "
            f"{MIN_KEY_LENGTH} are needed; put a longer key in it, or set {name}"
        )
    return value


def _make_dev_key(name: str, key_dir: Path) -> str:
    """Create a development key file, warning that it is for development only.

    The file is created with owner-only permissions from the start (never chmod-ed after
    writing) and put in place with a rename, so no reader sees it half written.
    """
    path = _key_file(name, key_dir)
    value = secrets.token_urlsafe(48)
    try:
        key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        partial = key_dir / f"{path.name}.{secrets.token_hex(4)}.partial"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(value + "\n")
        os.replace(partial, path)
    except OSError as exc:
        raise ConfigError(
            f"{name}: not set, and no development key file can be written in {key_dir} "
            f"({exc.strerror}); set {name} or ENGAGE_KEY_DIR"
        ) from None
    log.warning(
        "%s is not set: using a development key kept in %s. Set it in production.", name, path
    )
    return value


def _given_key(env: Mapping[str, str], name: str, key_dir: Path | None) -> str | None:
    """The key set in the environment, checked; ``None`` for a development key file."""
    value = env.get(name)
    if value is None or value == "":
        if key_dir is None:
            raise ConfigError(f"{name}: must be set when ENGAGE_ENV is production")
        return None
    # CONTRACT.md: a key is any string of at least 32 characters (a passphrase with its
    # spaces counts as written). One of blanks alone is a mistake, not a key.
    if len(value) < MIN_KEY_LENGTH:
        raise ConfigError(f"{name}: must be at least {MIN_KEY_LENGTH} characters, got {len(value)}")
    if value.isspace():
        raise ConfigError(f"{name}: is only spaces, tabs or line breaks")
    return value


def _keys(env: Mapping[str, str], key_dir: Path | None) -> tuple[str, str]:
    """The secret and pseudonym keys: from the environment, else (development) from their
    files, made once. Every key given and every key file there is checked before any
    file is made, so a start refused for one key leaves nothing behind for the other."""
    names = ("ENGAGE_SECRET_KEY", "ENGAGE_PSEUDONYM_KEY")
    found = {name: _given_key(env, name, key_dir) for name in names}
    if key_dir is not None:
        for name in names:
            found[name] = found[name] or _read_dev_key(name, key_dir)
        for name in names:
            found[name] = found[name] or _make_dev_key(name, key_dir)
    secret_key, pseudonym_key = (found[name] for name in names)
    assert secret_key is not None and pseudonym_key is not None  # production: both given
    return secret_key, pseudonym_key


def _distinct_keys(secret_key: str, pseudonym_key: str, environment: str) -> None:
    """The pseudonym key must not be the secret key: each protects something else, and
    whoever learns one (a session-signing key travels further) must not have both."""
    if secret_key.strip() != pseudonym_key.strip():
        return
    if environment == "production":
        raise ConfigError("ENGAGE_PSEUDONYM_KEY: must not be the same as ENGAGE_SECRET_KEY")
    log.warning(
        "ENGAGE_PSEUDONYM_KEY is the same as ENGAGE_SECRET_KEY: give each its own key "
        "(production refuses to start like this)"
    )


def _mastodon(
    env: Mapping[str, str], environment: str, warnings: list[str]
) -> tuple[str | None, str | None]:
    """The Mastodon adapter's instance address and token: both, or neither.

    An address without a token is refused. A token without an address would leave the
    adapter off without a word: production refuses it, development warns (added to
    ``warnings``, said once every setting has been checked).
    """
    url = _url(env, "MASTODON_API_BASE_URL", None)
    token = env.get("MASTODON_ACCESS_TOKEN") or None
    if url and not token:
        raise ConfigError("MASTODON_ACCESS_TOKEN: required when MASTODON_API_BASE_URL is set")
    if token and not url:
        if environment == "production":
            raise ConfigError("MASTODON_API_BASE_URL: required when MASTODON_ACCESS_TOKEN is set")
        warnings.append(
            "MASTODON_ACCESS_TOKEN is set but MASTODON_API_BASE_URL is not: the Mastodon "
            "adapter is off (production refuses to start like this)"
        )
    return url, token


def sqlite_path(database_url: str) -> Path | None:
    """The file of a SQLite URL (``None`` for PostgreSQL or an in-memory database)."""
    prefix = "sqlite+aiosqlite:///"
    if not database_url.startswith(prefix):
        return None
    path = database_url[len(prefix) :].split("?", 1)[0]
    if path in ("", ":memory:"):
        return None
    return Path(path)


def default_key_dir(env: Mapping[str, str], database_url: str) -> Path:
    """Where development keys live: one place, whatever the working directory."""
    configured = env.get("ENGAGE_KEY_DIR")
    if configured:
        given = Path(configured).expanduser()
        if not given.is_absolute():
            # Read against the working folder, each place engage is started would make
            # keys of its own: a new pseudonym key, and every person a stranger.
            raise ConfigError(
                f"ENGAGE_KEY_DIR: {configured!r} is relative; give the folder's full path "
                "(or one from ~), the same whatever the working folder"
            )
        folder = given.resolve()
        if folder.exists() and not folder.is_dir():
            raise ConfigError(f"ENGAGE_KEY_DIR: {configured} is not a folder")
        return folder
    database = sqlite_path(database_url)
    if database is not None:
        return database.expanduser().resolve().parent
    data_home = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "engage"


def _url(env: Mapping[str, str], name: str, default: str | None) -> str | None:
    value = env.get(name) or default
    if value is None:
        return None
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - a port that is not a number, or past 65535, raises here
    except ValueError as exc:
        raise ConfigError(f"{name}: {value!r} is not a URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{name}: {value!r} is not an http(s) URL")
    if parts.query or parts.fragment or value.rstrip("/").endswith(("?", "#")):
        # Paths are added to it (/c/ID, /hooks/telegram, the token and the method).
        raise ConfigError(f"{name}: {value!r} has a ? or # part; give the address alone")
    return value.rstrip("/") if name != "TELEGRAM_API_BASE_URL" else value


#: A host name as DNS allows it (after IDNA): dot-separated labels of letters, digits
#: and inner hyphens, 63 characters at most each.
_HOST_NAME = re.compile(
    r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?", re.ASCII
)


def _http_host(env: Mapping[str, str]) -> str:
    """``ENGAGE_HTTP_HOST``: an IP address or a host name, checked before anything listens."""
    host = env.get("ENGAGE_HTTP_HOST") or "127.0.0.1"
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    try:
        ascii_name = host.encode("idna").decode("ascii")
    except UnicodeError:
        ascii_name = ""
    if not _HOST_NAME.fullmatch(ascii_name) or len(ascii_name) > 253:
        raise ConfigError(f"ENGAGE_HTTP_HOST: {host!r} is not an IP address or host name")
    return host


def _url_host(host: str) -> str:
    """``host`` as it stands in a URL: an IPv6 address in brackets."""
    try:
        return f"[{host}]" if ipaddress.ip_address(host).version == 6 else host
    except ValueError:
        return host


def _database_url(env: Mapping[str, str]) -> str:
    """``ENGAGE_DATABASE_URL``, parsed here so that a bad one is one line naming it.

    The URL itself is never quoted back: it may hold the database's password.
    """
    value = env.get("ENGAGE_DATABASE_URL") or DEFAULT_DATABASE_URL
    if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        raise ConfigError(
            "ENGAGE_DATABASE_URL: must start with sqlite+aiosqlite:// or postgresql+asyncpg://"
        )
    try:
        url = make_url(value)
        url.port  # noqa: B018 - parsed lazily by some versions: read it here
    except (ArgumentError, ValueError):
        raise ConfigError(
            "ENGAGE_DATABASE_URL: not a database URL (check the port is a number and "
            "characters such as @ : / in the password are percent-encoded)"
        ) from None
    if url.get_backend_name() == "sqlite" and sqlite_path(value) is None:
        # An in-memory database is one per connection and gone at exit: nothing would
        # be kept, and the engine's pool cannot be set up for it.
        raise ConfigError(
            "ENGAGE_DATABASE_URL: a SQLite URL must name a file "
            "(sqlite+aiosqlite:///engage.db, or //// for an absolute path)"
        )
    return value


def _check_sqlite_file(database_url: str, key_dir: Path | None) -> None:
    """A SQLite file that could be opened: not a folder, in a folder that exists, or in
    ``key_dir``, the folder development key files are about to be made in (by default the
    database's)."""
    path = sqlite_path(database_url)
    if path is None or str(path).startswith("file:"):
        return
    if path.is_dir():
        raise ConfigError(f"ENGAGE_DATABASE_URL: {path} is a folder, not a SQLite file")
    folder = path.parent
    if key_dir is not None and folder.resolve() == key_dir.resolve():
        return
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise ConfigError(
            f"ENGAGE_DATABASE_URL: the SQLite file's folder {folder} {what}; create it, or "
            "name a file in a folder that exists"
        )


#: A number as people write one: digits, with a decimal point or not (float() would also
#: take "1_0", "nan", "inf" and the digits of other scripts).
_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")


def _decimal(text: str) -> float:
    """``text`` as a number, or ValueError."""
    if not _DECIMAL.fullmatch(text):
        raise ValueError(text)
    return float(text)


def _seconds(
    env: Mapping[str, str], name: str, default: float, lowest: float, highest: float
) -> float:
    """A number of seconds (a decimal) between ``lowest`` and ``highest``."""
    text = (env.get(name) or f"{default:g}").strip()
    try:
        value = _decimal(text)
    except ValueError:
        raise ConfigError(f"{name}: {text!r} is not a number of seconds") from None
    if not lowest <= value <= highest:
        raise ConfigError(f"{name}: {text} must be between {lowest:g} and {highest:g} seconds")
    return value


def _whole_number(
    env: Mapping[str, str], name: str, default: int, lowest: int, highest: int, *, hint: str = ""
) -> int:
    """A whole-number setting between ``lowest`` and ``highest`` (``hint`` says more)."""
    text = (env.get(name) or str(default)).strip()
    if not text.isascii() or not text.isdigit():
        raise ConfigError(f"{name}: {text!r} is not a whole number{hint}")
    value = int(text)
    if not lowest <= value <= highest:
        raise ConfigError(f"{name}: {value} must be between {lowest} and {highest}{hint}")
    return value


_TELEGRAM_CHAT = re.compile(r"-?[0-9]{1,20}|@[A-Za-z][A-Za-z0-9_]{3,31}")
_EMAIL = re.compile(r"[^@\s,<>]+@[^@\s,<>]+\.[^@\s,<>]+")


def _alert_settings(env: Mapping[str, str], telegram_token: str | None) -> dict[str, Any]:
    """The moderation alert destinations, each checked on its own."""
    chat = env.get("ENGAGE_ALERT_TELEGRAM_CHAT") or None
    if chat is not None:
        if not _TELEGRAM_CHAT.fullmatch(chat):
            raise ConfigError(
                f"ENGAGE_ALERT_TELEGRAM_CHAT: {chat!r} is not a chat id (a number) or @channel"
            )
        if not telegram_token:
            raise ConfigError("ENGAGE_ALERT_TELEGRAM_CHAT: needs TELEGRAM_BOT_TOKEN to send with")
    emails = tuple(e.strip() for e in (env.get("ENGAGE_ALERT_EMAIL") or "").split(",") if e.strip())
    for email in emails:
        if not _EMAIL.fullmatch(email):
            raise ConfigError(f"ENGAGE_ALERT_EMAIL: {email!r} is not an email address")
    smtp_url = env.get("ENGAGE_SMTP_URL") or None
    if smtp_url is not None:
        try:
            parts = urlsplit(smtp_url)
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError:
            # Never echo the URL: it may carry the SMTP password.
            raise ConfigError(
                "ENGAGE_SMTP_URL: cannot be read as a URL (a bracket left open, or a port "
                "that is not a number from 0 to 65535)"
            ) from None
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            # Never echo the URL: it may carry the SMTP password.
            raise ConfigError("ENGAGE_SMTP_URL: must be smtp://[user:pass@]host[:port] or smtps://")
    alert_from = env.get("ENGAGE_ALERT_FROM") or None
    if alert_from is not None and not _EMAIL.fullmatch(alert_from):
        raise ConfigError(f"ENGAGE_ALERT_FROM: {alert_from!r} is not an email address")
    if emails and smtp_url is None:
        raise ConfigError("ENGAGE_SMTP_URL: required when ENGAGE_ALERT_EMAIL is set")
    if emails and alert_from is None:
        raise ConfigError("ENGAGE_ALERT_FROM: required when ENGAGE_ALERT_EMAIL is set")
    webhook = env.get("ENGAGE_ALERT_WEBHOOK_URL") or None
    if webhook is not None:
        try:
            parts = urlsplit(webhook)
            parts.port  # noqa: B018 - raises ValueError for a port out of range
        except ValueError:
            raise ConfigError(
                "ENGAGE_ALERT_WEBHOOK_URL: cannot be read as a URL (a bracket left open, or "
                "a port that is not a number from 0 to 65535)"
            ) from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError("ENGAGE_ALERT_WEBHOOK_URL: is not an http(s) URL")
    return {
        "alert_telegram_chat": chat,
        "alert_emails": emails,
        "smtp_url": smtp_url,
        "alert_from": alert_from,
        "alert_webhook_url": webhook,
    }


def _web_settings(env: Mapping[str, str]) -> dict[str, Any]:
    """The web channel's limits (new participants per address, trusted proxies), the chat
    channels' (messages per person), and the processes that prepare arriving texts."""
    limit = _whole_number(
        env,
        "ENGAGE_WEB_NEW_PARTICIPANTS_PER_MINUTE",
        30,
        0,
        1_000_000,
        hint=" (0 turns the limit off)",
    )
    proxies: list[str] = []
    for entry in (env.get("ENGAGE_TRUSTED_PROXIES") or "").split(","):
        entry = entry.strip()
        if not entry:
            continue
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ConfigError(
                f"ENGAGE_TRUSTED_PROXIES: {entry!r} is not an IP address or CIDR range"
            ) from None
        proxies.append(str(network))
    chat = _whole_number(
        env,
        "ENGAGE_CHAT_MESSAGES_PER_MINUTE",
        0,
        0,
        1_000_000,
        hint=" (0 turns the limit off)",
    )
    processes = None
    if (env.get("ENGAGE_INTAKE_PROCESSES") or "").strip():
        processes = _whole_number(
            env, "ENGAGE_INTAKE_PROCESSES", 0, 0, 64, hint=" (0 screens every text in the server)"
        )
    return {
        "web_new_participants_per_minute": limit,
        "chat_messages_per_minute": chat,
        "trusted_proxies": tuple(proxies),
        "intake_processes": processes,
    }


def _summary_model(env: Mapping[str, str]) -> LocalModel | None:
    """The local language model that writes theme summaries, if the operator gave one."""
    timeout_text = (env.get("ENGAGE_SUMMARY_TIMEOUT") or f"{DEFAULT_TIMEOUT:g}").strip()
    try:
        timeout = _decimal(timeout_text)
    except ValueError:
        raise ConfigError(
            f"ENGAGE_SUMMARY_TIMEOUT: {timeout_text!r} is not a number of seconds"
        ) from None
    if not 1 <= timeout <= 3600:
        raise ConfigError(
            f"ENGAGE_SUMMARY_TIMEOUT: {timeout_text} must be between 1 and 3600 seconds"
        )
    given = (env.get("ENGAGE_SUMMARY_MODEL") or "").strip()
    template = (env.get("ENGAGE_SUMMARY_COMMAND") or "").strip()
    if not given:
        if template:
            raise ConfigError("ENGAGE_SUMMARY_COMMAND: needs ENGAGE_SUMMARY_MODEL, the model file")
        return None
    model = Path(given).expanduser()
    if not model.is_file():
        raise ConfigError(f"ENGAGE_SUMMARY_MODEL: {given!r} is not a file")
    if not template:
        raise ConfigError(
            "ENGAGE_SUMMARY_COMMAND: required when ENGAGE_SUMMARY_MODEL is set "
            "(the program that runs the model, with {model} and {prompt})"
        )
    try:
        command = tuple(shlex.split(template))
    except ValueError as exc:
        raise ConfigError(f"ENGAGE_SUMMARY_COMMAND: cannot be read ({exc})") from None
    if not any(MODEL in arg for arg in command):
        raise ConfigError(f"ENGAGE_SUMMARY_COMMAND: must contain {MODEL}, the model file")
    return LocalModel(model=model.resolve(), command=command, timeout=timeout)


def load_settings(
    env: Mapping[str, str] | None = None, *, key_dir: Path | None = None, keys: bool = True
) -> Settings:
    """Read and check the settings; raises :class:`ConfigError` naming the bad variable.

    ``keys=False`` is for commands that touch no store (``engage consultation validate``):
    the secret and pseudonym keys are neither read nor, in development, made, so checking
    a file leaves no key files behind; the settings then hold no keys.
    """
    env = os.environ if env is None else env

    environment = env.get("ENGAGE_ENV") or "development"
    if environment not in ENVIRONMENTS:
        raise ConfigError(f"ENGAGE_ENV: {environment!r} must be development or production")

    database_url = _database_url(env)
    pool_size = _whole_number(env, "ENGAGE_DATABASE_POOL_SIZE", POOL_SIZE, 1, 1000)
    log_format = env.get("ENGAGE_LOG_FORMAT") or "text"
    if log_format not in ("text", "json"):
        raise ConfigError(f"ENGAGE_LOG_FORMAT: {log_format!r} must be text or json")
    metrics_token = env.get("ENGAGE_METRICS_TOKEN") or None
    if metrics_token is not None and len(metrics_token) < 16:
        raise ConfigError("ENGAGE_METRICS_TOKEN: must be at least 16 characters")
    keys_from: Path | None = None  # production: keys come from the environment only
    if environment == "development":
        keys_from = key_dir or default_key_dir(env, database_url)

    port_text = (env.get("ENGAGE_HTTP_PORT") or "8080").strip()
    # Digits only: int() would also take "8_080", "+8080" and digits of other scripts.
    if not re.fullmatch(r"-?[0-9]+", port_text):
        raise ConfigError(f"ENGAGE_HTTP_PORT: {port_text!r} is not a number")
    port = int(port_text)
    if not 0 <= port <= 65535:
        raise ConfigError(f"ENGAGE_HTTP_PORT: {port} is outside 0..65535")

    host = _http_host(env)
    public_url = _url(env, "ENGAGE_PUBLIC_URL", f"http://{_url_host(host)}:{port}")
    assert public_url is not None

    mode = env.get("TELEGRAM_MODE") or "polling"
    if mode not in ("polling", "webhook"):
        raise ConfigError(f"TELEGRAM_MODE: {mode!r} must be polling or webhook")

    token = env.get("TELEGRAM_BOT_TOKEN") or None
    if token is not None and ":" not in token:
        raise ConfigError("TELEGRAM_BOT_TOKEN: does not look like a bot token (id:secret)")
    webhook_secret = env.get("TELEGRAM_WEBHOOK_SECRET") or ""
    if webhook_secret:
        allowed = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
        if not 1 <= len(webhook_secret) <= 256 or not set(webhook_secret) <= allowed:
            raise ConfigError(
                "TELEGRAM_WEBHOOK_SECRET: 1-256 characters of A-Z, a-z, 0-9, _ and - only"
            )

    pace_name = "TELEGRAM_MESSAGES_PER_SECOND"
    pace_text = (env.get(pace_name) or "30").strip()
    try:
        pace = _decimal(pace_text)
    except ValueError:
        raise ConfigError(f"{pace_name}: {pace_text!r} is not a number") from None
    if not 0 < pace <= 1000:
        raise ConfigError(f"{pace_name}: {pace_text} must be more than 0 and at most 1000")

    warnings: list[str] = []  # said once nothing stops start-up (a refusal is one line)
    mastodon_url, mastodon_token = _mastodon(env, environment, warnings)

    stall = _seconds(env, "MASTODON_STREAM_TIMEOUT", 45, 0.1, 3600)
    grace = _seconds(env, "ENGAGE_STOP_GRACE", DEFAULT_STOP_GRACE, 1, 600)

    telegram_base = _url(env, "TELEGRAM_API_BASE_URL", "https://api.telegram.org/bot")
    assert telegram_base is not None
    alerts = _alert_settings(env, token)
    web = _web_settings(env)
    summary_model = _summary_model(env)
    unset = not (env.get("ENGAGE_SECRET_KEY") and env.get("ENGAGE_PSEUDONYM_KEY"))
    _check_sqlite_file(database_url, keys_from if keys and unset else None)
    # The keys last: in development a first start makes their files, which a start
    # refused for another setting must not leave behind.
    secret_key = pseudonym_key = ""
    if keys:
        secret_key, pseudonym_key = _keys(env, keys_from)
        _distinct_keys(secret_key, pseudonym_key, environment)
    for warning in warnings:
        log.warning("%s", warning)
    if not webhook_secret and keys:
        # Derived, not random: every worker sharing the secret key registers and checks
        # the same webhook secret.
        webhook_secret = hmac.new(
            secret_key.encode(), b"engage telegram webhook", hashlib.sha256
        ).hexdigest()
    settings = Settings(
        database_url=database_url,
        database_pool_size=pool_size,
        environment=environment,
        log_format=log_format,
        metrics_token=metrics_token,
        http_host=host,
        http_port=port,
        public_url=public_url,
        secret_key=secret_key,
        pseudonym_key=pseudonym_key,
        telegram_bot_token=token,
        telegram_api_base_url=telegram_base,
        telegram_mode=mode,
        telegram_webhook_secret=webhook_secret,
        telegram_messages_per_second=pace,
        mastodon_api_base_url=mastodon_url,
        mastodon_access_token=mastodon_token,
        mastodon_stream_timeout=stall,
        stop_grace=grace,
        **alerts,
        **web,
        summary_model=summary_model,
    )
    if environment == "production" and not public_url.startswith("https://"):
        # Said once nothing else stops start-up (a refusal is one line). Cookies are marked
        # Secure, and HSTS sent, only for an https public address.
        log.warning(
            "ENGAGE_PUBLIC_URL is %s, not https: the dashboard's sign-in and session "
            "cookies and the web page's cookie go without Secure, and no HSTS is sent; "
            "set the https:// address people use (plain http only on a network you trust)",
            public_url,
        )
    return settings
