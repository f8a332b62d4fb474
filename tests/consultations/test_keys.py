"""The keyed hashes made on every request: the values HMAC-SHA256 gives."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from consultations.keys import KeyedSha256, Keyring


@pytest.mark.parametrize("length", [0, 1, 31, 32, 63, 64, 65, 200])
@pytest.mark.parametrize(
    "data", [b"", b"web:bench-person-0001", "tél:ÿ\U0001f600".encode(), bytes(range(256)) * 5]
)
def test_keyed_sha256_is_hmac_sha256(length: int, data: bytes) -> None:
    key = bytes((7 * n + 3) % 256 for n in range(length))
    assert KeyedSha256(key).hexdigest(data) == hmac.new(key, data, hashlib.sha256).hexdigest()


def test_a_keyed_hash_is_the_same_however_often_it_is_made() -> None:
    keyed = KeyedSha256(b"k" * 32)
    first = keyed.hexdigest(b"one")
    assert keyed.hexdigest(b"two") != first
    assert keyed.hexdigest(b"one") == first


def test_pseudonyms_and_references_keep_their_values() -> None:
    """Stored pseudonyms and references must match those made before: the same HMACs."""
    secret = b"a pseudonym key of some length, 0123456789"
    keyring = Keyring(secret.decode())
    pseudonym_key = hmac.new(secret, b"engage pseudonym v1", hashlib.sha256).digest()
    reference_key = hmac.new(secret, b"engage reference v1", hashlib.sha256).digest()
    assert (
        keyring.pseudonym("telegram", "12345")
        == hmac.new(pseudonym_key, b"telegram:12345", hashlib.sha256).hexdigest()
    )
    assert (
        keyring.reference("web", "nonce:item:x")
        == "r:" + hmac.new(reference_key, b"web:nonce:item:x", hashlib.sha256).hexdigest()[:48]
    )
