"""Dashboard accounts: password hashing, signed login sessions, CSRF tokens, roles.

Nothing here needs a table of its own. A login session is a cookie holding a payload
(user id, role, expiry, a random nonce, and a fingerprint of the password hash) signed
with a key derived from ``ENGAGE_SECRET_KEY``; changing a password or a role ends every
session of that account. The CSRF token of a form is an HMAC of the session nonce, so it
needs no storage either and changes with every login; :mod:`bot.web.middleware` checks it.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass

from bot.web.middleware import CsrfTokens

SESSION_COOKIE = "engage_dash"
LOGIN_COOKIE = "engage_login"
SESSION_SECONDS = 8 * 60 * 60

ROLES = ("admin", "lead", "moderator", "viewer")

# What each role may do. A lead launches and closes; a moderator reads safety
# disclosures; neither does the other's work. An admin does everything.
READ, MODERATE, MANAGE = "read", "moderate", "manage"
PERMISSIONS: Mapping[str, frozenset[str]] = {
    "viewer": frozenset({READ}),
    "moderator": frozenset({READ, MODERATE}),
    "lead": frozenset({READ, MANAGE}),
    "admin": frozenset({READ, MODERATE, MANAGE}),
}

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """scrypt, with parameters stored beside the hash so they can be raised later."""
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
    )
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a hash from :func:`hash_password` (constant time)."""
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


@functools.cache
def dummy_hash() -> str:
    """A hash to check when an email has no account.

    A wrong email then costs as much time as a wrong password, so the response time
    does not tell which accounts exist.
    """
    return hash_password(secrets.token_urlsafe(16))


def allowed(role: str, permission: str) -> bool:
    """Whether ``role`` carries ``permission`` (an unknown role carries nothing)."""
    return permission in PERMISSIONS.get(role, frozenset())


@dataclass(frozen=True)
class LoginSession:
    """What a valid session cookie says."""

    user_id: int
    role: str
    expires: int
    nonce: str
    fingerprint: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def password_fingerprint(password_hash: str) -> str:
    """A short digest of the stored hash: a new password ends older sessions."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


class Signer:
    """Signs and checks session cookies and derives CSRF tokens from one secret key."""

    def __init__(self, secret_key: str) -> None:
        root = secret_key.encode()
        self._session_key = hmac.new(root, b"engage dashboard session", hashlib.sha256).digest()
        self.csrf_tokens = CsrfTokens(secret_key, "engage dashboard csrf")

    def issue(
        self, user_id: int, role: str, password_hash: str, *, now: float | None = None
    ) -> tuple[str, LoginSession]:
        """A new session for a user who has just proved their password."""
        issued = time.time() if now is None else now
        session = LoginSession(
            user_id=user_id,
            role=role,
            expires=int(issued) + SESSION_SECONDS,
            nonce=secrets.token_urlsafe(16),
            fingerprint=password_fingerprint(password_hash),
        )
        payload = json.dumps(
            {
                "u": session.user_id,
                "r": session.role,
                "e": session.expires,
                "n": session.nonce,
                "f": session.fingerprint,
            },
            separators=(",", ":"),
        ).encode()
        body = _b64(payload)
        return f"{body}.{self._sign(body)}", session

    def read(self, cookie: str | None, *, now: float | None = None) -> LoginSession | None:
        """The session a cookie carries, or None if it is missing, forged or expired."""
        if not cookie or cookie.count(".") != 1:
            return None
        body, signature = cookie.split(".")
        # Bytes: compare_digest raises on text with non-ASCII characters, and a cookie
        # can hold anything.
        given = signature.encode("utf-8", "surrogatepass")
        if not hmac.compare_digest(given, self._sign(body).encode("ascii")):
            return None
        try:
            data = json.loads(_unb64(body))
            session = LoginSession(
                user_id=int(data["u"]),
                role=str(data["r"]),
                expires=int(data["e"]),
                nonce=str(data["n"]),
                fingerprint=str(data["f"]),
            )
        except (ValueError, KeyError, TypeError, binascii.Error):
            return None
        if session.expires <= (time.time() if now is None else now):
            return None
        return session

    def csrf(self, nonce: str) -> str:
        """The CSRF token of every form shown in the session (or login form) ``nonce``."""
        return self.csrf_tokens.token(nonce)

    def _sign(self, body: str) -> str:
        data = body.encode("utf-8", "surrogatepass")
        return _b64(hmac.new(self._session_key, data, hashlib.sha256).digest())


class LoginThrottle:
    """Slows password guessing: after a few failures an email is refused for a while.

    Kept in memory, per process: enough to stop a script guessing through the login
    form, with no table of its own. Any email is throttled the same way, whether or not
    it has an account, so the throttle tells nothing about which accounts exist.
    """

    def __init__(
        self, *, limit: int = 5, window: float = 15 * 60, max_tracked: int = 10_000
    ) -> None:
        self.limit = limit
        self.window = window
        self.max_tracked = max_tracked
        self._failures: dict[str, list[float]] = {}

    def blocked(self, email: str, *, now: float | None = None) -> bool:
        """Whether ``email`` has failed too often within the window."""
        moment = time.monotonic() if now is None else now
        recent = [t for t in self._failures.get(email, []) if moment - t < self.window]
        if recent:
            self._failures[email] = recent
        else:
            self._failures.pop(email, None)
        return len(recent) >= self.limit

    def failed(self, email: str, *, now: float | None = None) -> None:
        """Record a failed attempt."""
        moment = time.monotonic() if now is None else now
        if email not in self._failures and len(self._failures) >= self.max_tracked:
            self._prune(moment)
        self._failures.setdefault(email, []).append(moment)

    def succeeded(self, email: str) -> None:
        """Forget the failures of an email that has just logged in."""
        self._failures.pop(email, None)

    def _prune(self, moment: float) -> None:
        for key in list(self._failures):
            recent = [t for t in self._failures[key] if moment - t < self.window]
            if recent:
                self._failures[key] = recent
            else:
                del self._failures[key]
        while len(self._failures) >= self.max_tracked:
            # Still full of recent failures: drop the oldest-tracked email.
            del self._failures[next(iter(self._failures))]
