"""What every ``engage`` command shares: usage errors, output files, passwords, signals."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import logging
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from aiohttp.http_exceptions import (
    BadHttpMessage,
    BadHttpMethod,
    BadStatusLine,
    ContentEncodingError,
    ContentLengthError,
    HttpProcessingError,
    InvalidHeader,
    InvalidURLError,
    LineTooLong,
    PayloadEncodingError,
    TransferEncodingError,
)


def cli_actor() -> str:
    """Who ran the command, for the audit log (the operating-system account)."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


class UsageError(Exception):
    """Bad input: reported on one line, exit status 2."""


#: The largest row id either store holds (a signed 64-bit integer).
MAX_ROW_ID = 2**63 - 1


def row_id(value: str, name: str, what: str) -> int:
    """A row's id given on the command line: ASCII digits, no larger than a row id can be.

    Anything else is a :class:`UsageError` naming ``name`` ("CASE: '-5' is not a case
    number"): a number past 64 bits would otherwise reach PostgreSQL and fail there.
    """
    if value.isascii() and value.isdigit() and int(value) <= MAX_ROW_ID:
        return int(value)
    raise UsageError(f"{name}: {value!r} is not {what}")


@contextlib.contextmanager
def output(path: str | None) -> Any:
    """Standard output, or a file written whole (a failed run leaves no half file)."""
    if path is None:
        yield sys.stdout
        return
    target = check_output(path)
    partial = target.with_name(target.name + ".partial")
    try:
        handle: TextIO = partial.open("w", encoding="utf-8", newline="")
    except OSError as exc:
        raise UsageError(f"--output: cannot write {path}: {exc.strerror}") from None
    try:
        with handle:
            yield handle
        try:
            partial.replace(target)
        except IsADirectoryError:  # made a folder while the file was written
            raise UsageError(f"--output: {path} is a folder") from None
        except OSError as exc:
            raise UsageError(f"--output: cannot write {path}: {exc.strerror}") from None
    finally:
        partial.unlink(missing_ok=True)


def check_output(path: str) -> Path:
    """The file ``--output`` names, or a usage error when it names a folder.

    Called before long work too, so that a mistyped ``--output`` is said at once.
    """
    if not path.strip():  # Path("") is the working folder
        raise UsageError("--output: is empty; give the file to write")
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"--output: {path} is a folder")
    return target


def read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Repeat password: "):
            raise UsageError("the passwords do not match")
        return first
    try:
        # A password file written on Windows ends its line with "\r\n".
        password = sys.stdin.readline().rstrip("\r\n")
        password.encode("utf-8")
    except UnicodeError:
        raise UsageError("the password on standard input is not valid UTF-8") from None
    return password


def install_stop_signals(stopping: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stopping.set)


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line (``ENGAGE_LOG_FORMAT=json``), for log collectors."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


#: What each of aiohttp's parse errors says about a request, in words of our own: the
#: error's own message quotes the bytes it choked on (a cookie, an Authorization header),
#: which must never reach the log.
CLIENT_FAULT_KINDS: tuple[tuple[type[BaseException], str], ...] = (
    (LineTooLong, "header line too long"),
    (InvalidHeader, "invalid header"),
    (BadHttpMethod, "bad method"),
    (BadStatusLine, "bad request line"),
    (InvalidURLError, "invalid URL"),
    (ContentLengthError, "body shorter than its Content-Length"),
    (TransferEncodingError, "bad transfer encoding"),
    (ContentEncodingError, "bad content encoding"),
    (PayloadEncodingError, "bad body encoding"),
    (BadHttpMessage, "malformed request"),
    (HttpProcessingError, "request not understood"),
    (ConnectionResetError, "connection reset"),
)


def client_fault_kind(error: BaseException) -> str:
    """The kind of a client's fault, never its contents."""
    return next(kind for cls, kind in CLIENT_FAULT_KINDS if isinstance(error, cls))


class ClientFaultFilter(logging.Filter):
    """aiohttp's server logs a request it could not parse (a bad URL, a broken header) or a
    client that went away mid-request as an ERROR with a traceback: the client's fault, not
    the platform's, so it is one INFO line naming the kind of fault, without the client's
    address or anything the request held (aiohttp's message quotes the offending line,
    which may be a participant's cookie)."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError | ConnectionResetError):
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.msg = "a request was refused or dropped by its client: %s (%s)"
            record.args = (type(error).__name__, client_fault_kind(error))
            record.exc_info = record.exc_text = None
        return True


CLIENT_FAULTS = ClientFaultFilter()


#: The project's own loggers: ``-v`` turns on their debug lines.
OWN_LOGGERS = ("engage", "bot", "adapters", "channels", "consultations", "storage", "migrations")

#: Libraries kept at a level of their own whatever ``-v`` says. Their debug lines carry
#: what must never reach a log: python-telegram-bot's name the chat and quote each update
#: and the Bot API's address (with the token in it); httpx and urllib3's name each URL
#: (Mastodon's account and status ids); and at INFO httpx names each request's URL too.
LIBRARY_LEVELS = {
    "telegram": logging.INFO,
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    "urllib3": logging.WARNING,
    "requests": logging.WARNING,
    "mastodon": logging.WARNING,
    "asyncio": logging.INFO,
    "aiohttp": logging.INFO,
    "aiohttp.access": logging.WARNING,
    "alembic": logging.WARNING,
}


def configure_logging(*, verbose: bool, log_format: str) -> None:
    """Log to standard error, as text or as JSON lines.

    Everything logs at INFO; ``verbose`` adds the debug lines of the project's own
    loggers only, never those of the libraries under it (:data:`LIBRARY_LEVELS`).
    """
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonLogFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.NOTSET)
    for name, level in LIBRARY_LEVELS.items():
        logging.getLogger(name).setLevel(level)
    logging.getLogger("aiohttp.server").addFilter(CLIENT_FAULTS)
