"""Secrets at rest: Fernet (AES-128-CBC + HMAC-SHA256) with keys derived from settings.

`GRADENT_ENCRYPTION_KEY` when set, else SECRET_KEY, is stretched with HKDF so the same
secret never serves two purposes. New values are encrypted with it; values encrypted with
one of `GRADENT_ENCRYPTION_OLD_KEYS` are still read (cryptography's MultiFernet), and
`manage.py rotate_encryption_key` re-encrypts every stored secret with the current key.

A stored value no key can decrypt is never read as "" (which the next save would make
permanent): the field gives an :class:`UnreadableSecret` that holds the stored ciphertext,
saving writes that ciphertext back unchanged, and :func:`reveal` raises
:class:`SecretUnreadable` where the secret is about to be used.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import models

PREFIX = "enc1:"
UNREADABLE_HELP = (
    "it was encrypted with a key that is neither GRADENT_ENCRYPTION_KEY (or SECRET_KEY) nor one of "
    "GRADENT_ENCRYPTION_OLD_KEYS: add the old key to GRADENT_ENCRYPTION_OLD_KEYS, or enter the secret again"
)


class SecretUnreadable(ValueError):
    """A stored secret cannot be decrypted with the configured keys."""


class UnreadableSecret(str):
    """What an :class:`EncryptedTextField` holds when no configured key decrypts its value.

    The string is the stored ciphertext (never a plaintext), so a save writes it back as it
    was and nothing is lost; code about to use a secret calls :func:`reveal`, which raises.
    """

    unreadable = True


def is_unreadable(value: Any) -> bool:
    return isinstance(value, UnreadableSecret)


def reveal(value: str, *, what: str = "secret") -> str:
    """``value`` itself, or SecretUnreadable naming ``what`` when it could not be decrypted."""
    if isinstance(value, UnreadableSecret):
        raise SecretUnreadable(f"the stored {what} cannot be decrypted: {UNREADABLE_HELP}")
    return value


@lru_cache(maxsize=16)
def _fernet(material: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"gradent", info=b"secrets-at-rest").derive(material.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def _key_materials() -> list[str]:
    current = settings.GRADENT_ENCRYPTION_KEY or settings.SECRET_KEY
    old = getattr(settings, "GRADENT_ENCRYPTION_OLD_KEYS", None) or []
    if isinstance(old, str):
        old = old.split(",")
    materials = [current]
    for entry in old:
        entry = str(entry).strip()
        if entry and entry not in materials:
            materials.append(entry)
    return materials


def _keys() -> MultiFernet:
    """The current key first (it encrypts), then the old ones (they only decrypt)."""
    return MultiFernet([_fernet(material) for material in _key_materials()])


def encrypt(plaintext: str) -> str:
    return PREFIX + _keys().encrypt(plaintext.encode()).decode()


def decrypt(stored: str) -> str:
    if not stored.startswith(PREFIX):
        raise ValueError("value is not an encrypted secret")
    try:
        return _keys().decrypt(stored[len(PREFIX) :].encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(f"secret cannot be decrypted: {UNREADABLE_HELP}") from None


def rotate(stored: str) -> str:
    """``stored`` re-encrypted with the current key (SecretUnreadable when no key reads it).

    A legacy plaintext value (no prefix) is encrypted; blank stays blank.
    """
    if not stored:
        return stored
    if not stored.startswith(PREFIX):
        return encrypt(stored)
    try:
        return PREFIX + _keys().rotate(stored[len(PREFIX) :].encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(f"secret cannot be decrypted: {UNREADABLE_HELP}") from None


class EncryptedTextField(models.TextField):
    """A text field stored encrypted; Python code sees plaintext. Blank stays blank.

    A value that cannot be decrypted is read as an :class:`UnreadableSecret` (see the module).
    """

    def from_db_value(self, value, expression, connection):
        if not value:
            return value
        try:
            return decrypt(value)
        except SecretUnreadable:
            return UnreadableSecret(value)
        except ValueError:
            # Stored in clear before this field encrypted it: written encrypted on next save.
            return value

    def get_prep_value(self, value):
        if isinstance(value, UnreadableSecret):
            return str.__str__(value)  # the stored ciphertext, unchanged
        value = super().get_prep_value(value)
        if not value:
            return value
        if value.startswith(PREFIX):
            return value
        return encrypt(value)


def encrypted_fields() -> Iterator[tuple[type[models.Model], EncryptedTextField]]:
    """Every (concrete model, EncryptedTextField) of the installed apps."""
    from django.apps import apps

    for model in apps.get_models():
        if model._meta.proxy or not model._meta.managed:
            continue
        for field in model._meta.concrete_fields:
            if isinstance(field, EncryptedTextField):
                yield model, field


def stored_values(model: type[models.Model], field: EncryptedTextField) -> Iterator[tuple[Any, str]]:
    """(pk, value as stored in the database) of the rows with a non-blank ``field``."""
    from django.db.models import TextField
    from django.db.models.functions import Cast

    rows = (
        model._default_manager.exclude(**{field.name: ""})
        .exclude(**{f"{field.name}__isnull": True})
        .annotate(_stored=Cast(field.name, output_field=TextField()))
        .order_by("pk")
        .values_list("pk", "_stored")
    )
    yield from rows.iterator(chunk_size=500)


def unreadable_secrets() -> list[tuple[str, Any, str]]:
    """(model label, pk, field name) of every stored secret no configured key decrypts."""
    found = []
    for model, field in encrypted_fields():
        for pk, stored in stored_values(model, field):
            if stored.startswith(PREFIX):
                try:
                    decrypt(stored)
                except SecretUnreadable:
                    found.append((model._meta.label, pk, field.name))
    return found
