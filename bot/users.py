"""The ``engage user`` commands: dashboard accounts from the command line.

The rules (passwords, the last admin, removal keeping the row) are those of
:mod:`bot.web.accounts`, which the dashboard's Accounts page follows too. Every change is
audited as done by ``cli:`` and the operating-system account that ran the command.

A password typed or piped here is ready to use: an operator who adds their own account
signs in with it and reaches the dashboard. With ``--temporary`` it is for one sign-in,
and so is a password made with ``--generate-password`` (``make run``'s demo admin too):
the dashboard then asks the account's owner to choose their own before showing anything
else.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Iterator
from datetime import datetime

from sqlalchemy.exc import IntegrityError

from bot.commands import migrated_platform
from bot.config import Settings
from bot.console import UsageError, cli_actor, print_json, read_password
from bot.web import accounts, auth
from storage.tables import utcnow

OK = 0


@contextlib.contextmanager
def _usage_errors() -> Iterator[None]:
    """A refused change is a usage error: one line naming what was wrong, exit 2."""
    try:
        yield
    except accounts.AccountError as exc:
        raise UsageError(str(exc)) from None


def _email(args: argparse.Namespace, *, new: bool = False) -> str:
    with _usage_errors():
        return (accounts.new_email if new else accounts.normal_email)(args.email)


def _new_password(generate: bool) -> str:
    """A generated password, or one read from standard input or the prompt, checked."""
    password = accounts.generate_password() if generate else read_password()
    with _usage_errors():
        accounts.check_password(password)
    return password


def _one_time(args: argparse.Namespace) -> bool:
    """Whether the password is for one sign-in: a generated one always, a typed or piped
    one only with ``--temporary``."""
    return bool(args.generate_password or args.temporary)


def _shown_once(password: str) -> None:
    print(f"password (shown once, keep it safe): {password}")


def _change_due(email: str) -> None:
    print(f"{email} chooses a new password at the next sign-in, before anything else")


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment is not None else "-"


async def user_add(args: argparse.Namespace, settings: Settings | None) -> int:
    """A new account; a removed one is given back (unless ``--exists-ok``)."""
    email = _email(args, new=True)
    platform = await migrated_platform(settings)
    try:
        async with platform.sessionmaker() as session:
            existing = await accounts.by_email(session, email)
        if existing is not None and existing.removed_at is None:
            if args.exists_ok:
                print(f"{email} already has an account ({existing.role})")
                return OK
            raise UsageError(f"EMAIL: {email} already has an account")
        if existing is not None and args.exists_ok:
            # A script run at every start must not give back an account an admin removed.
            print(
                f"{email} had an account, {accounts.removed_note(existing)}; it stays removed "
                "(`engage user add` without --exists-ok gives it back)"
            )
            return OK
        password = _new_password(args.generate_password)
        password_hash = await asyncio.to_thread(auth.hash_password, password)
        one_time = _one_time(args)
        try:
            with _usage_errors():
                async with platform.sessionmaker.begin() as session:
                    _, removed = await accounts.add_or_restore(
                        session,
                        email,
                        args.role,
                        password_hash,
                        actor=cli_actor(),
                        now=utcnow(),
                        must_change=one_time,
                    )
        except IntegrityError:  # added meanwhile by someone else
            raise UsageError(f"EMAIL: {email} already has an account") from None
    finally:
        await platform.aclose()
    if removed is None:
        print(f"added {email} as {args.role}")
    else:
        print(f"gave back {email}'s account as {args.role} ({accounts.removed_on(removed)})")
    if one_time:
        _change_due(email)
    if args.generate_password:
        _shown_once(password)
    return OK


async def user_list(args: argparse.Namespace, settings: Settings | None) -> int:
    """Every account: email, role, when made, last sign-in, removed or not (no hashes)."""
    platform = await migrated_platform(settings)
    try:
        async with platform.sessionmaker() as session:
            rows = await accounts.listing(session)
    finally:
        await platform.aclose()
    if args.json:
        print_json([row.to_dict() for row in rows])
        return OK
    if not rows:
        print("no accounts yet: `engage user add EMAIL --role admin` makes the first")
        return OK
    width = max(len("EMAIL"), *(len(row.email) for row in rows))
    print(f"{'EMAIL':<{width}}  {'ROLE':<9}  {'CREATED':<16}  {'LAST LOGIN':<16}  STATUS")
    for row in rows:
        status = accounts.status_note(row)
        print(
            f"{row.email:<{width}}  {row.role:<9}  {_when(row.created_at):<16}  "
            f"{_when(row.last_login_at):<16}  {status}"
        )
    return OK


async def user_remove(args: argparse.Namespace, settings: Settings | None) -> int:
    """Remove an account: it cannot sign in, its sessions end, its audit trail stays."""
    email = _email(args)
    platform = await migrated_platform(settings)
    try:
        with _usage_errors():
            async with platform.sessionmaker.begin() as session:
                removed = await accounts.remove(session, email, actor=cli_actor(), now=utcnow())
    finally:
        await platform.aclose()
    if removed is None:
        print(f"{email} was removed already")
    else:
        print(f"removed {email} ({removed.role}): it can no longer sign in")
    return OK


async def user_role(args: argparse.Namespace, settings: Settings | None) -> int:
    """Give an account another role; it applies at the next page of its sessions."""
    email = _email(args)
    platform = await migrated_platform(settings)
    try:
        with _usage_errors():
            async with platform.sessionmaker.begin() as session:
                _, former = await accounts.set_role(session, email, args.role, actor=cli_actor())
    finally:
        await platform.aclose()
    if former == args.role:
        print(f"{email} is already {args.role}")
    else:
        print(f"{email} is now {args.role} (was {former})")
    return OK


async def user_password(args: argparse.Namespace, settings: Settings | None) -> int:
    """A new password for an account; its sessions end, so it signs in again."""
    email = _email(args)
    platform = await migrated_platform(settings)
    try:
        # Known before a password is asked for: a mistyped email is said at once.
        with _usage_errors():
            async with platform.sessionmaker() as session:
                await accounts.require_active(session, email)
        password = _new_password(args.generate_password)
        password_hash = await asyncio.to_thread(auth.hash_password, password)
        one_time = _one_time(args)
        with _usage_errors():
            async with platform.sessionmaker.begin() as session:
                await accounts.set_password(
                    session,
                    email,
                    password_hash,
                    actor=cli_actor(),
                    now=utcnow(),
                    how="generated" if args.generate_password else "given",
                    must_change=one_time,
                )
    finally:
        await platform.aclose()
    print(f"new password for {email}: its sign-ins are ended")
    if one_time:
        _change_due(email)
    if args.generate_password:
        _shown_once(password)
    return OK
