"""Secrets at rest: Fernet (AES-128-CBC + HMAC-SHA256) with a key derived from settings.

`GRADENT_ENCRYPTION_KEY` when set, else SECRET_KEY, is stretched with HKDF so the same
secret never serves two purposes. Changing it makes stored secrets unreadable: set
GRADENT_ENCRYPTION_KEY once and keep it (docs/security.md).
"""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import models

PREFIX = "enc1:"


@lru_cache(maxsize=4)
def _fernet(material: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"gradent", info=b"secrets-at-rest").derive(material.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def _current() -> Fernet:
    return _fernet(settings.GRADENT_ENCRYPTION_KEY or settings.SECRET_KEY)


def encrypt(plaintext: str) -> str:
    return PREFIX + _current().encrypt(plaintext.encode()).decode()


def decrypt(stored: str) -> str:
    if not stored.startswith(PREFIX):
        raise ValueError("value is not an encrypted secret")
    try:
        return _current().decrypt(stored[len(PREFIX) :].encode()).decode()
    except InvalidToken:
        raise ValueError("secret cannot be decrypted: was GRADENT_ENCRYPTION_KEY/SECRET_KEY changed?") from None


class EncryptedTextField(models.TextField):
    """A text field stored encrypted; Python code sees plaintext. Blank stays blank."""

    def from_db_value(self, value, expression, connection):
        if not value:
            return value
        try:
            return decrypt(value)
        except ValueError:
            # Never crash a page over an unreadable secret; callers treat it as missing.
            return ""

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if not value:
            return value
        if value.startswith(PREFIX):
            return value
        return encrypt(value)
