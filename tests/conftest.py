from __future__ import annotations

import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _fresh_cache():
    # Throttle counters live in the cache; one test's requests must not throttle the next.
    cache.clear()
    yield


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Users are made in most tests; the production hasher costs ~0.3 s each.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def run_inline(monkeypatch, django_capture_on_commit_callbacks):
    """Execute enqueued runs inline: django-q2's sync mode plus on_commit callbacks run at
    the end of the block. Conf is read once at import, so it is patched, not overridden."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)
    return django_capture_on_commit_callbacks


@pytest.fixture
def allow_loopback(settings):
    """Loopback allowed for every purpose (models, tools, probes, channels)."""
    for purpose in ("MODELS", "TOOLS", "PROBES", "CHANNELS"):
        setattr(settings, f"GRADENT_ALLOW_PRIVATE_URLS_{purpose}", ["127.0.0.0/8"])
    return settings
