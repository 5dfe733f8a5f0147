from __future__ import annotations

import pytest

from gradent.lib import crypto


def test_it_round_trips_and_hides_the_plaintext():
    stored = crypto.encrypt("sk-secret")
    assert stored.startswith("enc1:") and "sk-secret" not in stored
    assert crypto.decrypt(stored) == "sk-secret"


def test_a_changed_key_makes_the_secret_unreadable_not_a_crash(settings):
    stored = crypto.encrypt("sk-secret")
    settings.GRADENT_ENCRYPTION_KEY = "another key"
    with pytest.raises(ValueError, match="cannot be decrypted"):
        crypto.decrypt(stored)
    field = crypto.EncryptedTextField()
    assert field.from_db_value(stored, None, None) == ""
