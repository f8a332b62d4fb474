"""Operators' commands for the two queues a person may need to look at.

``engage moderation list|resolve``: safety cases, oldest first, with their age;
``engage moderation approve|reject``: statements held for approval (``moderation: pre``).
``engage inbox failed|retry``: events whose handling kept failing, held aside.
``engage outbox unknown``: messages interrupted mid-send that may not have arrived.
"""

from __future__ import annotations

import argparse
import unicodedata

from bot.commands import migrated_platform
from bot.config import Settings
from bot.console import UsageError, cli_actor, print_json, row_id
from bot.inbox import held_aside, retry
from bot.outbox import in_doubt
from consultations import moderation
from storage.tables import utcnow

OK = 0


def _age(seconds: int) -> str:
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"


async def moderation_list(args: argparse.Namespace, settings: Settings | None) -> int:
    platform = await migrated_platform(settings)
    try:
        async with platform.sessionmaker.begin() as session:
            cases = await moderation.open_cases(session)
            moderation.audit(session, cli_actor(), "cases.list", None, count=len(cases))
    finally:
        await platform.aclose()
    now = utcnow()
    if args.json:
        print_json([case.to_json(now) for case in cases])
        return OK
    if not cases:
        print("no open moderation cases")
        return OK
    print(f"{'CASE':>6} {'AGE':>7} {'STATUS':<12} {'CONSULTATION':<24} WHY")
    for case in cases:
        why = ", ".join(case.categories) or case.reason
        flags = (" URGENT" if case.urgent else "") + (" OVERDUE" if case.overdue(now) else "")
        # How the screen flagged it: a listed phrase, or its model alone.
        flags += f", {case.flagged_by}" if case.flagged_by else ""
        # What the person was sent: held (waiting for someone), a check-in, ...
        flags += f", sent {case.person_sent}" if case.person_sent else ""
        # The person asked for their data to be erased: the case stays, their words are gone.
        flags += ", person erased" if case.erased_at else ""
        # A statement the screen could not read, waiting to be approved or rejected.
        flags += (
            ", approve or reject" if case.awaiting_approval and case.reason != "statement" else ""
        )
        print(
            f"{case.id:>6} {_age(int(case.age(now).total_seconds())):>7} {case.status:<12} "
            f"{case.consultation:<24} {why}{flags}"
        )
        if case.text:
            print(f"{'':>6} {_one_line(case.text[:200])}")
    return OK


def _one_line(text: str) -> str:
    """A participant's words as one line of the listing: line breaks shown as " / ", and
    characters that would act on the terminal dropped (controls; format characters such
    as the right-to-left override, which would show the line reversed)."""
    text = " / ".join(part.strip() for part in text.splitlines() if part.strip())
    return "".join(c for c in text if unicodedata.category(c) not in ("Cc", "Cf"))


async def moderation_resolve(args: argparse.Namespace, settings: Settings | None) -> int:
    case = row_id(args.case, "CASE", "a case number")
    if not args.note.strip():
        raise UsageError("--note: say what was done; a case is not resolved without a note")
    platform = await migrated_platform(settings)
    try:
        async with platform.sessionmaker.begin() as session:
            try:
                close = moderation.release if args.not_a_disclosure else moderation.resolve
                await close(session, case, cli_actor(), args.note)
            except moderation.CaseError as exc:
                raise UsageError(f"CASE: {exc}") from None
    finally:
        await platform.aclose()
    if args.not_a_disclosure:
        print(f"moderation case {case} resolved as not a disclosure")
    else:
        print(f"moderation case {case} resolved")
    return OK


async def moderation_decide(args: argparse.Namespace, settings: Settings | None) -> int:
    """``approve`` shows a statement held for approval; ``reject`` never shows it."""
    case = row_id(args.case, "CASE", "a case number")
    approve = args.moderation_command == "approve"
    platform = await migrated_platform(settings)
    try:
        async with platform.sessionmaker.begin() as session:
            try:
                await moderation.decide_statement(
                    session, case, cli_actor(), approve=approve, note=args.note
                )
            except moderation.CaseError as exc:
                raise UsageError(f"CASE: {exc}") from None
    finally:
        await platform.aclose()
    print(f"statement of case {case} {'approved: shown' if approve else 'rejected'}")
    return OK


async def inbox_failed(args: argparse.Namespace, settings: Settings | None) -> int:
    platform = await migrated_platform(settings)
    try:
        async with platform.sessionmaker() as session:
            rows = await held_aside(session)
    finally:
        await platform.aclose()
    listed = [
        {
            "id": row.id,
            "channel": row.channel,
            "received_at": row.received_at.isoformat(),
            "failed_at": row.failed_at.isoformat() if row.failed_at else None,
            "attempts": row.attempts,
            "error": row.error,
        }
        for row in rows
    ]
    if args.json:
        print_json(listed)
        return OK
    if not listed:
        print("no events held aside")
        return OK
    print(f"{'ID':>8} {'CHANNEL':<10} {'ATTEMPTS':>8}  RECEIVED                   ERROR")
    for item in listed:
        print(
            f"{item['id']:>8} {item['channel']:<10} {item['attempts']:>8}  "
            f"{item['received_at']:<26} {_first_line(str(item['error'] or ''))}"
        )
    return OK


#: The widest error the table shows; ``--json`` gives the whole message.
ERROR_WIDTH = 120


def _first_line(error: str | None) -> str:
    """An error as one table cell: its first line, trimmed (SQLAlchemy's messages go on
    with ``[SQL: ...]`` and a link on lines of their own)."""
    lines = (error or "").strip().splitlines()
    first = lines[0].strip() if lines else ""
    if len(first) > ERROR_WIDTH or len(lines) > 1:
        first = first[: ERROR_WIDTH - 1].rstrip() + "…"
    return first


async def inbox_retry(args: argparse.Namespace, settings: Settings | None) -> int:
    event = row_id(args.id, "ID", "an inbox event id")
    platform = await migrated_platform(settings)
    try:
        async with platform.sessionmaker.begin() as session:
            if not await retry(session, event):
                raise UsageError(f"ID: no event {event} is held aside (engage inbox failed)")
            moderation.audit(session, cli_actor(), "inbox.retry", f"inbox:{event}")
    finally:
        await platform.aclose()
    print(f"event {event} handed back; a running `engage run` handles it within a second")
    return OK


async def outbox_unknown(args: argparse.Namespace, settings: Settings | None) -> int:
    """List messages whose send was interrupted and that were not sent again.

    Shows where and when, never what was said or to whom: no text, no address.
    """
    platform = await migrated_platform(settings)
    try:
        async with platform.sessionmaker() as session:
            rows = await in_doubt(session)
    finally:
        await platform.aclose()
    listed = [
        {
            "id": row.id,
            "channel": row.channel,
            "consultation": row.consultation_id,
            "kind": row.payload.get("kind"),
            "created_at": row.created_at.isoformat(),
            "attempted_at": row.next_attempt_at.isoformat(),  # when the last attempt started
            "attempts": row.attempts,
        }
        for row in rows
    ]
    if args.json:
        print_json(listed)
        return OK
    if not listed:
        print("no messages of unknown delivery")
        return OK
    print(f"{'ID':>8} {'CHANNEL':<10} {'KIND':<9} {'CONSULTATION':<24} {'CREATED':<26} ATTEMPTED")
    for item in listed:
        print(
            f"{item['id']:>8} {item['channel']:<10} {item['kind'] or '-':<9} "
            f"{item['consultation'] or '-':<24} {item['created_at']:<26} {item['attempted_at']}"
        )
    return OK
