"""The ``engage`` command line (see CONTRACT.md).

Exit status: 0 done; 1 failed while running; 2 bad usage or invalid input, with a
message naming the field, line or value.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import traceback
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy.exc import DBAPIError

from bot.config import ConfigError, Settings, load_settings
from bot.console import UsageError, configure_logging
from migrations import NewerDatabaseError
from storage import db

log = logging.getLogger("engage")

# The dashboard's roles (bot.web.auth.ROLES), written out so that parsing the command line
# loads nothing of the web app.
ROLES = ("admin", "lead", "moderator", "viewer")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse's own usage errors exit 2 too
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="engage",
        description="Run two-way consultations for health service design and quality "
        "improvement on the web, Telegram and Mastodon.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    db = commands.add_parser("db", help="database migrations")
    db_commands = db.add_subparsers(dest="db_command", required=True, parser_class=_Parser)
    db_commands.add_parser("upgrade", help="apply every pending migration")
    down = db_commands.add_parser("downgrade", help="revert migrations down to REV")
    down.add_argument("revision", metavar="REV", help="a revision id, or 'base' for none")
    db_commands.add_parser("current", help="show the database's revision")

    commands.add_parser(
        "run",
        help="run everything configured: web app, adapters, outbox sender",
        description="Run the web app, every adapter whose settings are present, the outbox "
        "sender and the inbox processor in one process. SIGINT/SIGTERM stop it gracefully.",
    )

    consultation = commands.add_parser("consultation", help="write, launch and close consultations")
    cc = consultation.add_subparsers(
        dest="consultation_command", required=True, parser_class=_Parser
    )
    validate = cc.add_parser("validate", help="check a spec file; every problem with its field")
    validate.add_argument("file", metavar="FILE")
    create = cc.add_parser("create", help="store a spec; prints its id on the last line")
    create.add_argument("file", metavar="FILE")
    launch = cc.add_parser("launch", help="open it and publish its items on its channels")
    launch.add_argument("id", metavar="ID")
    launch.add_argument(
        "--channel",
        action="append",
        dest="channels",
        metavar="NAME",
        help="publish only on this channel (repeatable)",
    )
    close = cc.add_parser("close", help="stop accepting responses; close native polls")
    close.add_argument("id", metavar="ID")
    listing = cc.add_parser("list", help="every consultation, its state and counts")
    listing.add_argument("--json", action="store_true", help="print JSON")
    show = cc.add_parser("show", help="one consultation, its state and counts")
    show.add_argument("id", metavar="ID")
    show.add_argument("--json", action="store_true", help="print JSON")
    loop = cc.add_parser(
        "draft-loop",
        help="a closing-the-loop spec from ID's act summary, with follow_up set to ID",
        description="Draft a closing-the-loop consultation from ID's act summary: what "
        "people said, what changed, and a reaction poll, with follow_up set to ID so that "
        "launching it invites everyone who agreed to be contacted again. Without --change it "
        "says [what we changed] where the changes go, and `consultation validate` refuses it "
        "until that is written; edit it, then create and launch it.",
    )
    loop.add_argument("id", metavar="ID")
    loop.add_argument("--output", metavar="FILE", help="write here instead of standard output")
    loop.add_argument(
        "--change",
        action="append",
        dest="changes",
        metavar="DATE=LABEL",
        help="a change made to the service, for the 'we did' part (repeatable)",
    )
    template = cc.add_parser("template", help="print a starter spec for an engagement model")
    template.add_argument("model", metavar="MODEL")
    template.add_argument("--id", default="my-consultation", help="the new consultation's id")

    export = commands.add_parser("export", help="every stored response record")
    export.add_argument("id", metavar="ID")
    export.add_argument("--format", choices=("json", "csv"), required=True)
    export.add_argument("--output", metavar="FILE", help="write here instead of standard output")

    imp = commands.add_parser("import", help="responses gathered elsewhere, from CSV")
    imp.add_argument("id", metavar="ID")
    imp.add_argument("file", metavar="FILE")
    imp.add_argument("--format", choices=("csv",), required=True)
    imp.add_argument("--item", metavar="ITEM", help="the prompt the text answers")
    imp.add_argument("--text-column", metavar="COL", help="column holding the text")
    imp.add_argument("--participant-column", metavar="COL", help="column identifying people")
    imp.add_argument(
        "--replace",
        action="store_true",
        help="this file was imported into this item before: remove what that import "
        "stored and import it again (with these options), in one transaction",
    )

    report = commands.add_parser("report", help="the summary for a QI stage")
    report.add_argument("id", metavar="ID")
    report.add_argument("--stage", choices=("plan", "do", "study", "act"))
    report.add_argument("--format", choices=("md", "html", "json", "csv"), required=True)
    report.add_argument("--output", metavar="FILE", help="write here instead of standard output")
    report.add_argument("--codebook", metavar="FILE", help="a service codebook (YAML or JSON)")
    report.add_argument(
        "--change",
        action="append",
        dest="changes",
        metavar="DATE=LABEL",
        help="a change made to the service, marked on run charts (repeatable), "
        "e.g. 2026-12-08='New reminder text'",
    )

    participant = commands.add_parser("participant", help="one person's data: export or erase")
    pc = participant.add_subparsers(dest="participant_command", required=True, parser_class=_Parser)
    for name, text in (
        ("export", "everything held about one person"),
        ("erase", "erase that person's responses and consent everywhere"),
    ):
        sub = pc.add_parser(name, help=text)
        sub.add_argument(
            "--channel", required=True, metavar="NAME", help="web, telegram, mastodon or import"
        )
        sub.add_argument(
            "--platform-id", required=True, metavar="ID", help="the person's id on that channel"
        )

    moderation = commands.add_parser("moderation", help="safety cases a person must look at")
    mc = moderation.add_subparsers(dest="moderation_command", required=True, parser_class=_Parser)
    cases = mc.add_parser(
        "list", help="open cases, oldest first, with their age and how each was flagged"
    )
    cases.add_argument("--json", action="store_true", help="print JSON")
    resolve = mc.add_parser("resolve", help="close a case with what was done")
    resolve.add_argument("case", metavar="CASE")
    resolve.add_argument("--note", required=True, metavar="TEXT", help="what was done")
    resolve.add_argument(
        "--not-a-disclosure",
        action="store_true",
        help="the screen was wrong: the reply counts in reports and the person carries on",
    )
    for name, text in (
        ("approve", "show a statement held for approval (moderation: pre)"),
        ("reject", "never show a statement held for approval"),
    ):
        decide = mc.add_parser(name, help=text)
        decide.add_argument("case", metavar="CASE")
        decide.add_argument("--note", default="", metavar="TEXT", help="why (optional)")

    inbox = commands.add_parser("inbox", help="events whose handling kept failing")
    ic = inbox.add_subparsers(dest="inbox_command", required=True, parser_class=_Parser)
    failed = ic.add_parser("failed", help="events held aside after repeated failures")
    failed.add_argument("--json", action="store_true", help="print JSON")
    again = ic.add_parser("retry", help="hand one back to the runtime")
    again.add_argument("id", metavar="ID")

    outbox = commands.add_parser("outbox", help="messages whose delivery is in doubt")
    oc = outbox.add_subparsers(dest="outbox_command", required=True, parser_class=_Parser)
    unknown = oc.add_parser(
        "unknown", help="messages interrupted mid-send and not sent again (no text shown)"
    )
    unknown.add_argument("--json", action="store_true", help="print JSON")

    user = commands.add_parser("user", help="dashboard accounts")
    uc = user.add_subparsers(dest="user_command", required=True, parser_class=_Parser)
    add = uc.add_parser(
        "add",
        help="add a dashboard account (password from stdin or prompt)",
        description="Add a dashboard account. The password is read from standard input or "
        "asked for (at least 12 characters), and is ready to use: the account signs in with "
        "it and reaches the dashboard. With --temporary, or with --generate-password, it is "
        "for the first sign-in only: the dashboard then asks the person to choose their own "
        "before anything else. An account that was removed is given back, with this "
        "password and role.",
    )
    add.add_argument("email", metavar="EMAIL")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument(
        "--generate-password",
        action="store_true",
        help="make a strong password and print it once, instead of reading one; it is for "
        "the first sign-in only",
    )
    add.add_argument(
        "--temporary",
        action="store_true",
        help="the password given is for the first sign-in only: the person then chooses their own",
    )
    add.add_argument(
        "--exists-ok",
        action="store_true",
        help="succeed quietly if the account already exists (a removed one stays removed)",
    )
    people = uc.add_parser(
        "list", help="every account: email, role, created, last login, removed or not"
    )
    people.add_argument("--json", action="store_true", help="print JSON")
    remove = uc.add_parser(
        "remove",
        help="remove an account: it can no longer sign in and its sessions end at once",
        description="Remove a dashboard account. It can no longer sign in, and its sessions "
        "end at their next request. Its row is kept, so the audit log still says who did "
        "what; `engage user add` gives it back. The last admin cannot be removed.",
    )
    remove.add_argument("email", metavar="EMAIL")
    role = uc.add_parser(
        "role",
        help="give an account another role (applies at its next page)",
        description="Give a dashboard account another role. Its sessions carry on with the "
        "new role from their next request. The last admin cannot be given another role.",
    )
    role.add_argument("email", metavar="EMAIL")
    role.add_argument("--role", required=True, choices=ROLES)
    password = uc.add_parser(
        "password",
        help="set a new password (from stdin or prompt); the account's sessions end",
        description="Set a new password for a dashboard account, read from standard input or "
        "asked for (at least 12 characters), or made with --generate-password. Every "
        "session of the account ends, so it signs in again with the new password. A "
        "password given is ready to use; with --temporary, or with --generate-password, it "
        "is for one sign-in: the dashboard then asks the person to choose their own before "
        "anything else.",
    )
    password.add_argument("email", metavar="EMAIL")
    password.add_argument(
        "--generate-password",
        action="store_true",
        help="make a strong password and print it once, instead of reading one; it is for "
        "one sign-in only",
    )
    password.add_argument(
        "--temporary",
        action="store_true",
        help="the password given is for one sign-in only: the person then chooses their own",
    )
    return parser


def _is_utf8(text: str) -> bool:
    """Whether text came in as UTF-8 (bytes that are not were kept as lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


#: Options whose value may start with "-": a web page's id is a random token, and about
#: one in 64 starts so (argparse would read it as another option).
_ANY_VALUE = ("--platform-id",)


def _values_kept(argv: list[str]) -> list[str]:
    """``--platform-id -Qs...`` as ``--platform-id=-Qs...``, which argparse reads."""
    kept: list[str] = []
    arguments = iter(argv)
    for argument in arguments:
        if argument in _ANY_VALUE:
            value = next(arguments, None)
            if value is not None and value.startswith("-") and value != "--":
                kept.append(f"{argument}={value}")
                continue
            kept.append(argument)
            if value is not None:
                kept.append(value)
            continue
        kept.append(argument)
    return kept


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``engage`` console script."""
    parser = build_parser()
    given_args = list(sys.argv[1:] if argv is None else argv)
    for given in given_args:
        if not _is_utf8(given):
            shown = given.encode("utf-8", "surrogateescape")
            print(f"engage: an argument is not valid UTF-8: {shown!r}", file=sys.stderr)
            return EXIT_USAGE
    args = parser.parse_args(_values_kept(given_args))
    # Read before the settings, so that a configuration error is logged the same way.
    log_format = "json" if os.environ.get("ENGAGE_LOG_FORMAT") == "json" else "text"
    configure_logging(verbose=args.verbose, log_format=log_format)
    try:
        if args.command == "consultation" and args.consultation_command in ("validate", "template"):
            settings = None  # needs no database or keys
        else:
            settings = load_settings()
        code = dispatch(args, settings)
        sys.stdout.flush()  # here, so that a reader gone away is met by the handler below
        return code
    except BrokenPipeError:
        # `engage export ID --format csv | head`: the reader stopped reading. Stop quietly,
        # with stdout on /dev/null so that the interpreter's own flush at exit cannot fail.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILED
    except ConfigError as exc:
        print(f"engage: configuration: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except UsageError as exc:
        # One problem a line (a spec's validation lists them all), each line an error of
        # its own, so each carries the prefix as every other error line does.
        print(_prefixed(str(exc)), file=sys.stderr)
        return EXIT_USAGE
    except NewerDatabaseError as exc:
        print(f"engage: ENGAGE_DATABASE_URL: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except DBAPIError as exc:
        # The server unreachable, the database or role missing, an outage: one line (the
        # traceback with --verbose). Database errors never carry the URL or the values.
        if args.verbose:
            traceback.print_exc()
        print(f"engage: database error: {db.describe(exc)}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_FAILED


def _prefixed(message: str) -> str:
    """Every line of an error message opened with ``engage: ``."""
    return "\n".join(f"engage: {line}" for line in message.splitlines() or [""])


def dispatch(args: argparse.Namespace, settings: Settings | None) -> int:
    from bot import commands, queues, users

    handlers: dict[tuple[str, str | None], Callable[..., Awaitable[int]] | Callable[..., int]] = {
        ("db", "upgrade"): commands.db_upgrade,
        ("db", "downgrade"): commands.db_downgrade,
        ("db", "current"): commands.db_current,
        ("run", None): commands.run,
        ("consultation", "validate"): commands.validate,
        ("consultation", "template"): commands.template,
        ("consultation", "create"): commands.create,
        ("consultation", "launch"): commands.launch,
        ("consultation", "close"): commands.close,
        ("consultation", "list"): commands.list_,
        ("consultation", "show"): commands.show,
        ("consultation", "draft-loop"): commands.draft_loop,
        ("export", None): commands.export,
        ("import", None): commands.import_,
        ("report", None): commands.report,
        ("participant", "export"): commands.participant_export,
        ("participant", "erase"): commands.participant_erase,
        ("user", "add"): users.user_add,
        ("user", "list"): users.user_list,
        ("user", "remove"): users.user_remove,
        ("user", "role"): users.user_role,
        ("user", "password"): users.user_password,
        ("moderation", "list"): queues.moderation_list,
        ("moderation", "resolve"): queues.moderation_resolve,
        ("moderation", "approve"): queues.moderation_decide,
        ("moderation", "reject"): queues.moderation_decide,
        ("inbox", "failed"): queues.inbox_failed,
        ("inbox", "retry"): queues.inbox_retry,
        ("outbox", "unknown"): queues.outbox_unknown,
    }
    sub = next(
        (getattr(args, name) for name in vars(args) if name.endswith("_command")),
        None,
    )
    handler = handlers[(args.command, sub)]
    result = handler(args, settings)
    if asyncio.iscoroutine(result):
        return int(asyncio.run(result))
    return int(result)  # type: ignore[arg-type]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
