"""A new password on its way from the form that made it to the one page that shows it.

Resetting a password, or adding an account, is a POST; its answer is a redirect
(post/redirect/get), so reloading the page that shows the password asks for that page
again rather than making yet another password (or account). The password must not be in
that page's address, which could be copied, shared or kept in a history. It travels
instead in a short-lived cookie, sealed with AES-GCM under a key derived from
``ENGAGE_SECRET_KEY``, tied to the admin's session and to the account (as associated
data), sent only to the Accounts pages, and cleared by the page that shows it: a reload,
another browser or another session finds nothing to show. What the password was made for
(a reset, a new account, one given back) is sealed with it, so its page says which.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from datetime import datetime

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

COOKIE = "engage_shown_once"
#: How long a made password waits for its page, in seconds: the redirect is followed at
#: once, so this only bounds how long a cookie that was never used stays readable.
SECONDS = 300

#: What a password was made for: a reset, a new account, or a removed account given back.
RESET = "reset"
ADDED = "added"
RESTORED = "restored"
KINDS = (RESET, ADDED, RESTORED)


@dataclass(frozen=True)
class Made:
    """A password opened from its cookie, and what it was made for (one of :data:`KINDS`)."""

    password: str
    kind: str = RESET


class ShownOnce:
    """Seals a new password for one session and one account, and opens it again."""

    def __init__(self, secret_key: str) -> None:
        key = hmac.new(secret_key.encode(), b"engage dashboard shown once v1", hashlib.sha256)
        self._aead = AESGCM(key.digest())

    @staticmethod
    def _bound(session_id: str, user_id: int) -> bytes:
        return f"{session_id}\0{user_id}".encode("utf-8", "surrogatepass")

    def seal(
        self, password: str, *, session_id: str, user_id: int, now: datetime, kind: str = RESET
    ) -> str:
        """The cookie's value: the password, when and what for it was made, sealed."""
        if kind not in KINDS:
            raise ValueError(f"{kind!r} is not one of {KINDS}")
        data = json.dumps({"password": password, "made": now.timestamp(), "kind": kind}).encode()
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, data, self._bound(session_id, user_id))
        return base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def open(self, token: str, *, session_id: str, user_id: int, now: datetime) -> Made | None:
        """The password in ``token`` (and what it was made for) if it was sealed for this
        session and account within :data:`SECONDS`; None for anything else (none, expired,
        altered, not theirs)."""
        try:
            raw = base64.urlsafe_b64decode(token.encode("ascii"))
            data = self._aead.decrypt(raw[:12], raw[12:], self._bound(session_id, user_id))
            found = json.loads(data)
            made = float(found["made"])
            password = found["password"]
            kind = found.get("kind", RESET)
        except Exception:  # anything but our own sealed value: nothing to show
            return None
        if not isinstance(password, str) or not 0 <= now.timestamp() - made <= SECONDS:
            return None
        return Made(password, kind if kind in KINDS else RESET)
