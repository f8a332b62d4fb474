"""Managing dashboard accounts: listing, adding, removing, roles and passwords.

The command line (``engage user ...``) and the dashboard's Accounts page both change
accounts through here, so the rules are the same for both:

- A password has at least :data:`MIN_PASSWORD` characters, and at most
  :data:`MAX_PASSWORD` (the sign-in form reads no more than that).
- A removed account keeps its row (``removed_at``): the audit trail names accounts by
  email and ``user:ID``, and must still say who did what. It can no longer sign in, and
  its sessions end at once. ``add`` gives it back (a new password, the role given).
- A new password ends every session of the account: whoever knew the old one is out.
- A password the platform makes (``--generate-password``, *Add an account* and *Reset
  the password* on the Accounts page), or one given with ``--temporary``, is for one
  sign-in: the account is marked ``must_change_password``, and the dashboard shows its
  owner nothing but the page to choose their own until they have. A password typed or
  piped to ``engage user add`` or ``engage user password`` without ``--temporary`` is
  ready to use: whoever ran the command chose it, often for their own account.
  Every signed-in person can change their own password there too, giving the current
  one (:func:`change_own`); their other sessions end.
- The Accounts page adds an account as ``engage user add`` does (:func:`add_or_restore`:
  a removed one is given back), always with a password made for one sign-in.
- A role is read from the account on every request (:func:`bot.web.auth.current_session`),
  so a role change applies at the next page of every session.
- There is always one admin left who can sign in: the last one cannot be removed or
  given another role. The admins' rows are locked while this is checked, so two
  admins demoting each other at once cannot both succeed.

Every change is written to the audit log (``audit_event``) by ``actor``: the dashboard
account's email, or ``cli:`` and the operating-system account that ran the command.
The subject is ``user:ID`` and the detail names the account by email, never a password
or its hash.
"""

from __future__ import annotations

import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.web import auth
from consultations.moderation import audit
from storage.tables import User

MIN_PASSWORD = 12
MAX_PASSWORD = 1024
MAX_EMAIL = 254
ADMIN = "admin"


class AccountError(Exception):
    """A change refused: ``field`` names what was wrong (``EMAIL``, ``password``...)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class LastAdmin(AccountError):
    """The change would leave no admin who can sign in."""


def normal_email(text: str) -> str:
    """An email as accounts are kept (trimmed, lower case), or :class:`AccountError`."""
    email = text.strip().lower()
    if "@" not in email or email.startswith("@") or email.endswith("@") or len(email) > MAX_EMAIL:
        raise AccountError("EMAIL", f"{text!r} is not an email address")
    return email


def new_email(text: str) -> str:
    """An email for a new account: as :func:`normal_email`, and with no space or control
    character inside (which nobody could type into the sign-in form as meant)."""
    email = normal_email(text)
    if any(char.isspace() or not char.isprintable() for char in email):
        raise AccountError("EMAIL", f"{text!r} is not an email address")
    return email


def check_password(password: str) -> None:
    """Refuse a password that is too short, or longer than the sign-in form reads."""
    if len(password) < MIN_PASSWORD:
        raise AccountError("password", f"use at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AccountError("password", f"use at most {MAX_PASSWORD} characters")
    if any(unicodedata.category(c) == "Cc" for c in password):
        # The sign-in form drops control characters from what is typed: such a password
        # could never be typed back.
        raise AccountError("password", "use no control characters (tabs, line breaks, ...)")


def check_role(role: str) -> str:
    if role not in auth.ROLES:
        raise AccountError("--role", f"{role!r} is not a role; use one of {', '.join(auth.ROLES)}")
    return role


def generate_password() -> str:
    """A strong password to show once: 120 random bits, 20 URL-safe characters."""
    return secrets.token_urlsafe(15)


@dataclass(frozen=True)
class AccountView:
    """One account as ``engage user list`` and the Accounts page show it (no hash)."""

    id: int
    email: str
    role: str
    created_at: datetime
    last_login_at: datetime | None
    removed_at: datetime | None
    must_change_password: bool = False

    @property
    def removed(self) -> bool:
        return self.removed_at is not None

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` form: times in ISO 8601 UTC, ``null`` when there is none."""

        def moment(value: datetime | None) -> str | None:
            return value.isoformat() if value is not None else None

        return {
            "email": self.email,
            "role": self.role,
            "created_at": moment(self.created_at),
            "last_login_at": moment(self.last_login_at),
            "removed": self.removed,
            "removed_at": moment(self.removed_at),
            "must_change_password": self.must_change_password,
        }


def _view(user: User) -> AccountView:
    return AccountView(
        id=user.id,
        email=user.email,
        role=user.role,
        created_at=user.created_at,
        last_login_at=user.last_login_at,
        removed_at=user.removed_at,
        must_change_password=user.must_change_password,
    )


async def listing(db: AsyncSession) -> list[AccountView]:
    """Every account, removed ones included, by email."""
    users = await db.scalars(select(User).order_by(User.email))
    return [_view(user) for user in users]


async def by_email(db: AsyncSession, email: str) -> User | None:
    return await db.scalar(select(User).where(User.email == email))


async def _require(db: AsyncSession, email: str, *, lock: bool = False) -> User:
    """The account with ``email``, or :class:`AccountError` naming the email.

    With ``lock``, its row is locked until the transaction ends and read afresh.
    """
    statement = select(User).where(User.email == email)
    if lock:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    user = await db.scalar(statement)
    if user is None:
        raise AccountError("EMAIL", f"{email} has no account")
    return user


async def require_active(db: AsyncSession, email: str, *, lock: bool = False) -> User:
    """The account with ``email`` if it can sign in, else :class:`AccountError`."""
    user = await _require(db, email, lock=lock)
    if user.removed_at is not None:
        raise AccountError(
            "EMAIL",
            f"{email} was removed on {user.removed_at:%Y-%m-%d}; "
            "`engage user add` gives the account back",
        )
    return user


async def _admins(db: AsyncSession) -> list[int]:
    """The ids of the admins who can sign in, their rows locked until the transaction ends.

    Taken before the account being changed, and in id order, so two changes never wait
    on each other crosswise (SQLite has one writer at a time anyway): the count is still
    true when the change commits.
    """
    return list(
        await db.scalars(
            select(User.id)
            .where(User.role == ADMIN, User.removed_at.is_(None))
            .order_by(User.id)
            .with_for_update()
        )
    )


def _keep_an_admin(admins: list[int], user: User, doing: str) -> None:
    """Refuse ``doing`` (to ``user``) when it would leave no admin who can sign in."""
    if user.role == ADMIN and user.removed_at is None and admins in ([user.id], []):
        raise LastAdmin(
            "EMAIL",
            f"{user.email} is the last admin, so it cannot be {doing}: nobody could manage "
            "accounts any more; make another account admin first",
        )


async def add(
    db: AsyncSession,
    email: str,
    role: str,
    password_hash: str,
    *,
    actor: str,
    now: datetime,
    must_change: bool = True,
) -> User:
    """A new account; :class:`AccountError` if the email already has one.

    Its password is for one sign-in (``must_change``) unless the caller says otherwise.
    """
    check_role(role)
    if await by_email(db, email) is not None:
        raise AccountError("EMAIL", f"{email} already has an account")
    user = User(
        email=email,
        password_hash=password_hash,
        role=role,
        created_at=now,
        must_change_password=must_change,
    )
    db.add(user)
    await db.flush()
    audit(db, actor, "user.add", f"user:{user.id}", email=email, role=role, must_change=must_change)
    return user


async def restore(
    db: AsyncSession,
    email: str,
    role: str,
    password_hash: str,
    *,
    actor: str,
    must_change: bool = True,
) -> User:
    """Give a removed account back, with a new password (for one sign-in unless
    ``must_change`` is false, as for :func:`add`) and ``role``."""
    check_role(role)
    user = await _require(db, email, lock=True)
    if user.removed_at is None:
        raise AccountError("EMAIL", f"{email} already has an account")
    removed = user.removed_at
    user.removed_at = None
    user.role = role
    user.password_hash = password_hash
    user.must_change_password = must_change
    audit(
        db,
        actor,
        "user.restore",
        f"user:{user.id}",
        email=email,
        role=role,
        removed_at=removed.isoformat(),
        must_change=must_change,
    )
    return user


async def add_or_restore(
    db: AsyncSession,
    email: str,
    role: str,
    password_hash: str,
    *,
    actor: str,
    now: datetime,
    must_change: bool = True,
) -> tuple[User, datetime | None]:
    """A new account (:func:`add`), or a removed one with ``email`` given back
    (:func:`restore`), as ``engage user add`` does; the account, and when it had been
    removed (None for a new one). :class:`AccountError` if the email has an account."""
    existing = await by_email(db, email)
    if existing is None:
        user = await add(
            db, email, role, password_hash, actor=actor, now=now, must_change=must_change
        )
        return user, None
    removed = existing.removed_at
    user = await restore(db, email, role, password_hash, actor=actor, must_change=must_change)
    return user, removed


async def remove(db: AsyncSession, email: str, *, actor: str, now: datetime) -> User | None:
    """Remove an account: no more sign-ins, every session ended, the row kept.

    None when it was removed already (nothing changes, nothing is audited).
    """
    admins = await _admins(db)
    user = await _require(db, email, lock=True)
    if user.removed_at is not None:
        return None
    _keep_an_admin(admins, user, "removed")
    user.removed_at = now
    await db.flush()
    await auth.end_sessions_of(db, user.id, now=now)
    audit(db, actor, "user.remove", f"user:{user.id}", email=email, role=user.role)
    return user


async def set_role(db: AsyncSession, email: str, role: str, *, actor: str) -> tuple[User, str]:
    """Give an account another role; the account and its former role.

    The same role again changes nothing and is not audited.
    """
    check_role(role)
    admins = await _admins(db)
    user = await require_active(db, email, lock=True)
    former = user.role
    if role == former:
        return user, former
    _keep_an_admin(admins, user, f"made {role}")
    user.role = role
    await db.flush()
    audit(db, actor, "user.role", f"user:{user.id}", email=email, **{"from": former, "to": role})
    return user, former


async def set_password(
    db: AsyncSession,
    email: str,
    password_hash: str,
    *,
    actor: str,
    now: datetime,
    how: str,
    must_change: bool = True,
) -> User:
    """Store a new password hash, set by an admin or an operator, and end every session of
    the account.

    With ``must_change`` (the default) the password is for one sign-in: the account must
    choose its own next (``must_change_password``); without it, the password is ready to
    use and no change is due. ``how`` is recorded with the change: ``given`` (typed or
    read) or ``generated``.
    """
    user = await require_active(db, email, lock=True)
    user.password_hash = password_hash
    user.must_change_password = must_change
    await db.flush()
    await auth.end_sessions_of(db, user.id, now=now)
    audit(
        db,
        actor,
        "user.password",
        f"user:{user.id}",
        email=email,
        password=how,
        must_change=must_change,
    )
    return user


async def change_own(
    db: AsyncSession,
    user_id: int,
    current_hash: str,
    password_hash: str,
    *,
    session_id: str,
    now: datetime,
) -> User | None:
    """The account's owner chose a new password (having given the current one).

    One conditional ``UPDATE ... WHERE password_hash = <the one they proved>``: if the
    password changed meanwhile (another of their sessions, an admin's reset) nothing is
    stored and None is returned. Otherwise the password is theirs (no change is due any
    more), every other session of the account ends, and ``user.password`` is audited as
    done by the account itself (``password: changed``).
    """
    changed = await db.scalar(
        update(User)
        .where(
            User.id == user_id,
            User.password_hash == current_hash,
            User.removed_at.is_(None),
        )
        .values(password_hash=password_hash, must_change_password=False)
        .returning(User.id)
        .execution_options(synchronize_session=False)
    )
    if changed is None:
        return None
    user = await db.get(User, user_id, populate_existing=True)
    if user is None:  # never: it was just updated, in this transaction
        return None
    await auth.end_sessions_of(db, user_id, now=now, keep=session_id)
    audit(db, user.email, "user.password", f"user:{user_id}", email=user.email, password="changed")
    return user


def removed_note(user: User | AccountView) -> str:
    """``removed on DATE`` for a removed account, else the empty string."""
    return removed_on(user.removed_at) if user.removed_at is not None else ""


def removed_on(moment: datetime) -> str:
    """``removed on DATE``, of an account removed at ``moment``."""
    return f"removed on {moment:%Y-%m-%d}"


def status_note(user: User | AccountView) -> str:
    """An account's status as ``engage user list`` shows it."""
    if user.removed_at is not None:
        return removed_note(user)
    return "active, new password due" if user.must_change_password else "active"
