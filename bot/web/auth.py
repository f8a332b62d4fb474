"""Dashboard accounts: password hashing, sign-in sessions, the sign-in throttle, roles.

Passwords are hashed with argon2id (argon2-cffi, RFC 9106). Hashes of the former
scheme, scrypt, still verify; :func:`needs_rehash` tells the sign-in to replace them.

A sign-in session is a row of ``user_session``, shared by every worker. The cookie
carries a random token; the table holds only its SHA-256 (:func:`session_id`), so the
table alone cannot be used to sign in. A session is valid while it has not been ended,
was seen within :data:`IDLE_TIMEOUT` and began within :data:`ABSOLUTE_TIMEOUT`;
``last_seen_at`` is written at most once per :data:`TOUCH_INTERVAL`. Signing out ends the
row, so the cookie fails on every worker at once. The role is read from ``user_account``
on every request, so a role change or a removed account (``removed_at``) takes effect at
the next one; removing an account or giving it a new password also ends its sessions
(:mod:`bot.web.accounts`).

The CSRF token of a form is an HMAC of the session id under a key derived from
``ENGAGE_SECRET_KEY`` (:class:`bot.web.middleware.CsrfTokens`): it needs no storage and
changes with every sign-in. Failed sign-ins are counted by :class:`LoginThrottle`.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import case, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.web.middleware import CsrfTokens
from storage.tables import SignInThrottle, User, UserSession

SESSION_COOKIE = "engage_dash"
LOGIN_COOKIE = "engage_login"
IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_TIMEOUT = timedelta(hours=8)
SESSION_SECONDS = int(ABSOLUTE_TIMEOUT.total_seconds())
# last_seen_at is written at most this often: a page view is not a write every time.
TOUCH_INTERVAL = timedelta(minutes=1)

ROLES = ("admin", "lead", "moderator", "viewer")

# What each role may do. A lead launches and closes; a moderator reads safety
# disclosures; neither does the other's work. An admin does everything, and alone
# manages the dashboard's accounts.
READ, MODERATE, MANAGE, ACCOUNTS = "read", "moderate", "manage", "accounts"
PERMISSIONS: Mapping[str, frozenset[str]] = {
    "viewer": frozenset({READ}),
    "moderator": frozenset({READ, MODERATE}),
    "lead": frozenset({READ, MANAGE}),
    "admin": frozenset({READ, MODERATE, MANAGE, ACCOUNTS}),
}


def allowed(role: str, permission: str) -> bool:
    """Whether ``role`` carries ``permission`` (an unknown role carries nothing)."""
    return permission in PERMISSIONS.get(role, frozenset())


# -- passwords ---------------------------------------------------------------------------

# argon2-cffi's defaults are RFC 9106's second recommended profile (argon2id, t=3,
# 64 MiB, p=4): https://argon2-cffi.readthedocs.io/en/stable/parameters.html
_ARGON2 = PasswordHasher()
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


def hash_password(password: str) -> str:
    """An argon2id hash, parameters and salt included (PHC string format)."""
    return _ARGON2.hash(password)


def scrypt_hash(password: str, *, salt: bytes | None = None) -> str:
    """A hash in the former scrypt scheme: still verified, replaced at the next sign-in."""
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
    )
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches an argon2 or scrypt hash (constant time)."""
    if stored.startswith("$argon2"):
        try:
            return _ARGON2.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        candidate = hashlib.scrypt(
            password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32
        )
    except ValueError:
        return False
    return secrets.compare_digest(candidate.hex(), digest)


def needs_rehash(stored: str) -> bool:
    """Whether a verified hash should be replaced: not argon2id, or weaker parameters."""
    if not stored.startswith("$argon2id$"):
        return True
    try:
        return _ARGON2.check_needs_rehash(stored)
    except InvalidHashError:
        return True


@functools.cache
def dummy_hash() -> str:
    """A hash to check when an email has no account.

    A wrong email then costs as much time as a wrong password, so the response time
    does not tell which accounts exist.
    """
    return hash_password(secrets.token_urlsafe(16))


async def replace_hash(db: AsyncSession, user_id: int, old: str, new: str) -> bool:
    """Store ``new`` for the account if its hash is still ``old`` (a rehash at sign-in).

    Conditional, so a password changed meanwhile is never overwritten.
    """
    result = await db.execute(
        update(User)
        .where(User.id == user_id, User.password_hash == old)
        .values(password_hash=new)
        .returning(User.id)
    )
    return result.first() is not None


# -- sessions ----------------------------------------------------------------------------


def csrf_tokens(secret_key: str) -> CsrfTokens:
    """The dashboard's CSRF token maker (tokens are tied to a session id or login cookie)."""
    return CsrfTokens(secret_key, "engage dashboard csrf")


def session_id(token: str) -> str:
    """The row id of the session whose cookie carries ``token``: its SHA-256.

    The token is 256 random bits, so a plain hash cannot be reversed by guessing.
    """
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


async def start_session(db: AsyncSession, user_id: int, *, now: datetime) -> str:
    """Open a session for an account that has just proved its password; the cookie token.

    The account's ended and expired sessions are deleted on the way, so the table stays
    as small as the number of live sessions; the account's ``last_login_at`` is now.
    """
    await db.execute(
        delete(UserSession).where(
            UserSession.user_id == user_id,
            or_(
                UserSession.ended_at.is_not(None),
                UserSession.last_seen_at <= now - IDLE_TIMEOUT,
                UserSession.created_at <= now - ABSOLUTE_TIMEOUT,
            ),
        )
    )
    token = secrets.token_urlsafe(32)
    db.add(UserSession(id=session_id(token), user_id=user_id, created_at=now, last_seen_at=now))
    await db.execute(update(User).where(User.id == user_id).values(last_login_at=now))
    return token


async def current_session(
    db: AsyncSession, token: str, *, now: datetime
) -> tuple[UserSession, User] | None:
    """The live session a cookie token names, with its account; None if there is none.

    Touches ``last_seen_at`` when it is older than :data:`TOUCH_INTERVAL` (the caller
    commits).
    """
    found = (
        await db.execute(
            select(UserSession, User)
            .join(User, User.id == UserSession.user_id)
            .where(
                UserSession.id == session_id(token),
                UserSession.ended_at.is_(None),
                User.removed_at.is_(None),
                UserSession.last_seen_at > now - IDLE_TIMEOUT,
                UserSession.created_at > now - ABSOLUTE_TIMEOUT,
            )
        )
    ).first()
    if found is None:
        return None
    session, user = found
    if now - session.last_seen_at >= TOUCH_INTERVAL:
        await db.execute(
            update(UserSession)
            .where(UserSession.id == session.id, UserSession.ended_at.is_(None))
            .values(last_seen_at=now)
        )
    return session, user


async def end_session(db: AsyncSession, sid: str, *, now: datetime) -> None:
    """End one session (signing out): its cookie fails everywhere from now on."""
    await db.execute(
        update(UserSession)
        .where(UserSession.id == sid, UserSession.ended_at.is_(None))
        .values(ended_at=now)
    )


async def end_sessions_of(
    db: AsyncSession, user_id: int, *, now: datetime, keep: str | None = None
) -> None:
    """End every session of an account (a new password, a removed account), but ``keep``
    (the one in which its owner changed their own password)."""
    ending = update(UserSession).where(
        UserSession.user_id == user_id, UserSession.ended_at.is_(None)
    )
    if keep is not None:
        ending = ending.where(UserSession.id != keep)
    await db.execute(ending.values(ended_at=now))


# -- the sign-in throttle ------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """What the throttle says about one sign-in attempt.

    Attributes:
        refused: answer "too many attempts" without checking the password.
        delay: seconds to wait before checking it (0 when the account is not under attack).
    """

    refused: bool
    delay: float = 0.0


class LoginThrottle:
    """Counts sign-in attempts in ``sign_in_throttle`` before any password is checked.

    The rule, per window of 15 minutes (fixed, starting at a key's first attempt):

    - **account and address**: after ``pair_limit`` (5) attempts at one account from one
      client address, that address is refused for that account. Someone guessing from
      elsewhere does not touch this count, so they cannot lock the real user out.
    - **address**: after ``address_limit`` (50) attempts from one address, at any
      accounts, that address is refused for every account.
    - **account**: attempts at one account from all addresses together never lock it.
      After ``account_slow_after`` (10) password checks each further one waits first,
      0.5 s doubling up to ``max_delay`` (10 s): guessing from many addresses is slowed,
      and the real user can still sign in.

    Every attempt is counted before its password is checked, by one atomic upsert per
    key (``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``), so concurrent attempts
    each see their own count and at most ``pair_limit`` of them reach the password
    check. A successful sign-in takes its own attempt back and clears its account and
    address pair. Unknown emails are counted the same way, so the throttle tells nothing
    about which accounts exist. Keys are keyed hashes: no email or address is stored.
    """

    def __init__(
        self,
        secret_key: str,
        *,
        window: timedelta = timedelta(minutes=15),
        pair_limit: int = 5,
        address_limit: int = 50,
        account_slow_after: int = 10,
        base_delay: float = 0.5,
        max_delay: float = 10.0,
    ) -> None:
        self._key = hmac.new(secret_key.encode(), b"engage sign-in throttle", "sha256").digest()
        self.window = window
        self.pair_limit = pair_limit
        self.address_limit = address_limit
        self.account_slow_after = account_slow_after
        self.base_delay = base_delay
        self.max_delay = max_delay

    def key(self, kind: str, *parts: str) -> str:
        """The row key of ``kind`` ("pair", "addr", "acct") for ``parts``: a keyed hash."""
        data = "\0".join((kind, *parts)).encode("utf-8", "surrogatepass")
        return f"{kind}:{hmac.new(self._key, data, hashlib.sha256).hexdigest()}"

    def _keys(self, email: str, address: str) -> tuple[str, str, str]:
        return (
            self.key("pair", email, address),
            self.key("addr", address),
            self.key("acct", email),
        )

    async def attempt(
        self, db: AsyncSession, email: str, address: str, *, now: datetime
    ) -> Verdict:
        """Count one attempt at ``email`` from ``address``; the caller commits at once.

        The keys are always counted in the same order (pair, address, account), so
        concurrent transactions on PostgreSQL cannot deadlock on them.
        """
        pair, addr, acct = self._keys(email, address)
        pair_count = await self._count(db, pair, now)
        address_count = await self._count(db, addr, now)
        if pair_count > self.pair_limit or address_count > self.address_limit:
            return Verdict(refused=True)
        # Only attempts that reach the password check count against the account, so an
        # address already refused cannot slow the real user down further.
        over = await self._count(db, acct, now) - self.account_slow_after
        if over <= 0:
            return Verdict(refused=False)
        return Verdict(refused=False, delay=min(self.max_delay, self.base_delay * 2 ** (over - 1)))

    async def succeeded(self, db: AsyncSession, email: str, address: str, *, now: datetime) -> None:
        """A sign-in succeeded: take its attempt back and forget expired counts."""
        pair, addr, acct = self._keys(email, address)
        cutoff = now - self.window
        await db.execute(
            update(SignInThrottle)
            .where(
                SignInThrottle.key.in_([addr, acct]),
                SignInThrottle.failures > 0,
                SignInThrottle.window_start > cutoff,
            )
            .values(failures=SignInThrottle.failures - 1)
        )
        await db.execute(
            delete(SignInThrottle).where(
                or_(SignInThrottle.key == pair, SignInThrottle.window_start <= cutoff)
            )
        )

    async def _count(self, db: AsyncSession, key: str, now: datetime) -> int:
        """Add one attempt to ``key`` (starting a new window if the last has passed)."""
        insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
        new = insert(SignInThrottle).values(key=key, window_start=now, failures=1)
        expired = SignInThrottle.window_start <= now - self.window
        counted = new.on_conflict_do_update(
            index_elements=[SignInThrottle.key],
            set_={
                "failures": case((expired, 1), else_=SignInThrottle.failures + 1),
                "window_start": case(
                    (expired, new.excluded.window_start), else_=SignInThrottle.window_start
                ),
            },
        ).returning(SignInThrottle.failures)
        return int((await db.execute(counted)).scalar_one())
