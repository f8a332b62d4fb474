"""Pseudonyms and sealed addresses: how platform ids stay out of the store.

A participant's pseudonym is HMAC-SHA256 of ``channel:platform_id`` keyed by
``ENGAGE_PSEUDONYM_KEY``. The few addresses the platform must keep in order to reply
are sealed with AES-GCM under a key derived from the same secret, so a copy of the
database alone reveals no one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from typing import Any

import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class KeyedSha256:
    """HMAC-SHA256 under one key, keyed once: the same values as
    ``hmac.new(key, data, hashlib.sha256)``, for the hashes made on every request.

    HMAC is ``H((K ^ opad) + H((K ^ ipad) + data))`` (RFC 2104). The two hashes' states
    after their padded key are made here once; each value copies them and hashes only
    ``data``. The ``hmac`` module's own copy of a keyed state costs twice this, and its
    one-shot ``hmac.digest`` three times (it keys the hash again and, on OpenSSL 3,
    looks the digest up by name on every call).
    """

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        if len(key) > _BLOCK:
            key = hashlib.sha256(key).digest()
        key = key.ljust(_BLOCK, b"\0")
        self._inner = hashlib.sha256(key.translate(_IPAD))
        self._outer = hashlib.sha256(key.translate(_OPAD))

    def hexdigest(self, data: bytes) -> str:
        """The MAC of ``data`` in hex (64 characters)."""
        inner = self._inner.copy()
        inner.update(data)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()


# SHA-256's block, and the key's two paddings (RFC 2104) as byte translations.
_BLOCK = 64
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))


class Keyring:
    """Pseudonymises and seals with keys derived from the pseudonym key."""

    def __init__(self, pseudonym_key: str) -> None:
        secret = pseudonym_key.encode("utf-8")
        pseudonym_secret = hmac.new(secret, b"engage pseudonym v1", hashlib.sha256).digest()
        self._aead = AESGCM(hmac.new(secret, b"engage sealing v1", hashlib.sha256).digest())
        reference_secret = hmac.new(secret, b"engage reference v1", hashlib.sha256).digest()
        # Keyed once: each hash copies the keyed state instead of keying it again.
        self._pseudonym_hmac = KeyedSha256(pseudonym_secret)
        self._reference_hmac = KeyedSha256(reference_secret)
        self._verifier = hmac.new(secret, b"engage key check v1", hashlib.sha256).hexdigest()

    def verifier(self) -> str:
        """A keyed hash of a fixed label: kept in the store to tell whether a later start
        has the same key (bot/key_check.py). It says nothing of the key, nor of the
        pseudonyms and seals made with it (each is keyed with a label of its own)."""
        return self._verifier

    def pseudonym(self, channel: str, platform_id: str) -> str:
        """The stable pseudonym of a platform user on a channel (64 hex characters)."""
        return self._pseudonym_hmac.hexdigest(f"{channel}:{platform_id}".encode())

    def reference(self, channel: str, platform_ref: str) -> str:
        """A keyed hash of a platform reference (an event, message or status id).

        Stored instead of the reference itself: equal references still match (to spot a
        repeat, or tie a reply to what it answers), but a chat id or a direct message's
        id inside one cannot be read back from the store.
        """
        return "r:" + self._reference_hmac.hexdigest(f"{channel}:{platform_ref}".encode())[:48]

    def seal(self, value: Any) -> str:
        """Encrypt a JSON-serialisable value to a printable token."""
        nonce = os.urandom(12)
        data = _json_bytes(value)
        return base64.urlsafe_b64encode(nonce + self._aead.encrypt(nonce, data, None)).decode()

    def unseal(self, token: str) -> Any:
        """Decrypt a token made by :meth:`seal`; raises ``ValueError`` if it was tampered with."""
        raw = base64.urlsafe_b64decode(token.encode())
        try:
            data = self._aead.decrypt(raw[:12], raw[12:], None)
        except Exception as exc:  # cryptography raises InvalidTag
            raise ValueError("sealed value could not be opened with this key") from exc
        return read_json(data)


def read_json(data: str | bytes) -> Any:
    """JSON read by orjson, or by the standard library for what orjson does not read
    (integers beyond 64 bits), so that nothing valid is refused for it."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def _json_bytes(value: Any) -> bytes:
    """Compact JSON of ``value`` (orjson; the standard library's for what orjson refuses,
    such as integers beyond 64 bits or keys that are not strings)."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":")).encode("utf-8")


def constant_time_equal(a: str, b: str) -> bool:
    """Compare secrets without leaking their length of common prefix through timing."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
